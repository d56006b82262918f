"""Takes differ by seed wherever the endpoint takes one: the catalog's ``seed_field`` follows fal's
recorded input types, and the takes of a shot on such an endpoint send distinct seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes import fal_schemas
from fakes.fal_server import FalFake
from sora_tui.core.catalog import load_catalog
from sora_tui.core.engine import Engine
from sora_tui.core.models import JobStatus, Plan
from test_hosted_e2e import engine_env

CATALOG = load_catalog(None)


def fal_kinds() -> list[tuple[str, str, str, str | None]]:
    rows: list[tuple[str, str, str, str | None]] = []
    for spec in CATALOG:
        if spec.provider != "fal" or spec.retired:
            continue
        for kind in spec.kinds:
            ks = spec.for_kind(kind)
            rows.append((spec.id, str(kind), ks.endpoint, ks.seed_field))
    return rows


@pytest.mark.parametrize(("model", "kind", "endpoint", "seed_field"), fal_kinds())
def test_seed_field_is_set_exactly_where_the_endpoint_takes_a_seed(
    model: str, kind: str, endpoint: str, seed_field: str | None
) -> None:
    schema = fal_schemas.load_schema(endpoint)
    if schema is None:
        pytest.skip(f"{endpoint} has no recorded schema (test_fal_schemas names it)")
    takes_seed = "seed" in schema.get("properties", {})
    assert (seed_field == "seed") == takes_seed, (
        f"{model} {kind} ({endpoint}): the recorded type {'has' if takes_seed else 'has no'} `seed`, "
        f"the catalog's seed_field is {seed_field!r}"
    )


@pytest.mark.parametrize("model", ["wan-2.7", "pixverse-v6"])
async def test_three_takes_send_three_distinct_seeds(model: str, fal_fake: FalFake, home: Path) -> None:
    spec = CATALOG.get(model)
    plan = Plan.from_dict(
        {"version": 2, "prompt": "a boat", "model": model, "resolution": "720p", "aspect": "16:9",
         "audio": False, "segments": [{"seconds": spec.default_duration, "prompt": "a bridge at dusk", "takes": 3}]}
    )  # fmt: skip
    engine = Engine(env=engine_env(fal_fake, home))
    job = engine.create_job(plan)
    done = await engine.run(job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    subs = fal_fake.submits
    assert len(subs) == 3
    assert all(fal_schemas.errors(s.path.strip("/"), s.json) == [] for s in subs)
    seeds = [s.json.get("seed") for s in subs]
    assert None not in seeds and len(set(seeds)) == 3
    assert sorted(r["seed"] for r in engine.shot_takes(job.id, 1)) == sorted(seeds)
