"""Every request the fal provider can build, validated against fal's own input types.

The schemas in ``tests/fal_schemas/`` are recorded from fal-js's ``endpoints.ts`` (see the
``$comment`` of each file for the commit). For every fal model of the catalog, every kind it
has and every duration, resolution, aspect and audio setting the catalog offers, the provider
either refuses the combination before any submit (with the field, the allowed values and why)
or builds a body that fal's schema accepts: no unknown field, no value outside the allowed set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fakes import fal_schemas
from fakes.fal_server import FalFake
from sora_tui.core.catalog import KindSpec, load_catalog
from sora_tui.core.models import Kind
from sora_tui.core.providers.base import ProviderError, RenderRequest
from sora_tui.core.providers.fal import FalProvider
from sora_tui.core.settings import Settings

CATALOG = load_catalog()
FAL_MODELS = [m for m in CATALOG if m.provider == "fal"]


def catalog_endpoints() -> set[str]:
    out = {ep for m in FAL_MODELS for ep in m.endpoints.values()}
    out |= {ep for im in CATALOG.image_models.values() if im.provider == "fal" for ep in (im.t2i, im.edit)}
    return out


def test_every_catalog_endpoint_has_a_recorded_schema() -> None:
    missing = sorted(ep for ep in catalog_endpoints() if fal_schemas.load_schema(ep) is None)
    assert not missing, f"no recorded fal input schema for {missing}; run tests/fal_schemas/extract.py"


def test_a_catalog_entry_without_schema_is_caught(tmp_path: Path) -> None:
    user = tmp_path / "catalog.toml"
    user.write_text('[models."veo3.1-fast".endpoints]\nextend = "fal-ai/veo3.1/fast/extend-video-v9"\n')
    cat = load_catalog(user)
    eps = {ep for m in cat if m.provider == "fal" for ep in m.endpoints.values()}
    assert "fal-ai/veo3.1/fast/extend-video-v9" in eps
    assert fal_schemas.load_schema("fal-ai/veo3.1/fast/extend-video-v9") is None


def test_schemas_name_their_source_commit() -> None:
    for path in fal_schemas.SCHEMA_DIR.glob("*.json"):
        data = json.loads(path.read_text())
        assert "fal-ai/fal-js" in data["$comment"] and (
            "381105e1" in data["$comment"] or "9830f25d" in data["$comment"]
        )
        assert data["additionalProperties"] is False


class _Offline(FalProvider):
    """The real FalProvider, with uploads answered locally (the bodies are what is under test)."""

    async def upload_bytes(self, data: bytes, content_type: str, file_name: str | None = None) -> str:
        return f"https://v3b.fal.media/files/test/{file_name or 'upload'}"

    def _check_extend_source(self, ks: KindSpec, path: Path, label: str) -> None:
        return None  # input length: tested on the wire fake


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    d = tmp_path_factory.mktemp("media")
    a, b, v = d / "a.png", d / "b.png", d / "v.mp4"
    a.write_bytes(b"\x89PNG fake")
    b.write_bytes(b"\x89PNG fake 2")
    v.write_bytes(b"fake mp4")
    return a, b, v


async def test_every_buildable_request_matches_fals_schema(images: tuple[Path, Path, Path]) -> None:
    a, b, v = images
    provider = _Offline("fal-test-key", Settings())
    validated = refused = 0
    seen_kinds: set[tuple[str, str]] = set()
    problems: list[str] = []
    for spec in FAL_MODELS:
        for kind in spec.kinds:
            ks = spec.for_kind(kind)
            for seconds in ks.durations:
                for resolution in spec.resolutions:
                    for aspect in spec.aspects:
                        for audio in (True, False):
                            req = RenderRequest(
                                model=spec, kind=kind, prompt="a fox in snow", seconds=seconds,
                                resolution=resolution, aspect=aspect, audio=audio, width=1280, height=720, fps=24,
                                start_image=a if kind is not Kind.R2V or ks.takes_start else None,
                                end_image=b if kind is Kind.FLF2V else None,
                                source_video=v if kind is Kind.EXTEND else None, label="segment 2",
                                references=[[a, b], [b]] if kind is Kind.R2V else [],
                                send_seed=audio, seed=1234,  # a take's seed, where the endpoint has one
                            )  # fmt: skip
                            try:
                                body = await provider.build_arguments(req)
                            except ProviderError as exc:
                                refused += 1
                                assert "allowed:" in str(exc), str(exc)
                                continue
                            errs = fal_schemas.errors(ks.endpoint, body)
                            if errs:
                                problems.append(f"{spec.id} {kind} {body}: {errs}")
                            validated += 1
                            seen_kinds.add((spec.id, str(kind)))
    assert not problems, "\n".join(problems[:20])
    # every kind of every model can be sent at least once
    assert seen_kinds == {(m.id, str(k)) for m in FAL_MODELS for k in m.kinds}
    print(f"validated {validated} request bodies, refused {refused} before submit")
    assert validated > 1000


async def test_refusals_name_field_allowed_values_and_why(images: tuple[Path, Path, Path]) -> None:
    a, _, _ = images
    provider = _Offline("fal-test-key", Settings())
    base: dict[str, Any] = dict(prompt="p", audio=True, width=1920, height=1080, fps=25, label="segment 1")

    async def refused(model: str, kind: Kind, **kw: Any) -> str:
        spec = CATALOG.get(model)
        req = RenderRequest(model=spec, kind=kind, start_image=a, **(base | kw))
        with pytest.raises(ProviderError) as info:
            await provider.build_arguments(req)
        return str(info.value)

    msg = await refused("ltx-2.3-fast", Kind.T2V, seconds=14, resolution="1440p", aspect="16:9")
    assert "14 s needs 1080p" in msg and "allowed: 1080p" in msg and "25 fps" in msg
    msg = await refused("ltx-2.3", Kind.T2V, seconds=8, resolution="1080p", aspect="auto")
    assert "aspect" in msg and "allowed: 16:9, 9:16" in msg
    msg = await refused("veo3.1-fast", Kind.EXTEND, seconds=7, resolution="1080p", aspect="16:9")
    assert "resolution" in msg and "allowed: 720p" in msg


@pytest.mark.parametrize(
    "model, kind, absent",
    [
        ("wan-2.7", Kind.I2V, "aspect_ratio"),
        ("kling-2.5-turbo", Kind.I2V, "aspect_ratio"),
        ("kling-2.5-turbo", Kind.FLF2V, "aspect_ratio"),
        ("kling-3-pro", Kind.I2V, "aspect_ratio"),
        ("ltx-2.3", Kind.EXTEND, "resolution"),
        ("wan-2.7", Kind.T2V, "generate_audio"),
    ],
)
async def test_fields_an_endpoint_lacks_are_not_sent(
    images: tuple[Path, Path, Path], model: str, kind: Kind, absent: str
) -> None:
    a, b, v = images
    spec = CATALOG.get(model)
    ks = spec.for_kind(kind)
    req = RenderRequest(
        model=spec, kind=kind, prompt="p", seconds=ks.durations[0], resolution=spec.resolutions[0],
        aspect=spec.aspects[0], audio=True, width=1280, height=720, fps=24, start_image=a,
        end_image=b if kind is Kind.FLF2V else None, source_video=v if kind is Kind.EXTEND else None,
    )  # fmt: skip
    body = await _Offline("k", Settings()).build_arguments(req)
    assert absent not in body
    assert fal_schemas.errors(ks.endpoint, body) == []
    assert fal_schemas.errors(ks.endpoint, body | {absent: "16:9"})[0]["type"] in ("extra_forbidden", "literal_error")


async def test_every_model_and_kind_is_accepted_on_the_wire(fal_fake: FalFake, tmp_path: Path) -> None:
    """Each fal model × kind, submitted through the real provider to the fake, which checks the body
    against the endpoint's recorded schema and that every file it names can be downloaded."""
    from sora_tui.core.providers.preview import render_image
    from test_extend import render  # a small real video for extend sources

    image = render_image("start", 128, 72, tmp_path / "a.png")
    end = render_image("end", 128, 72, tmp_path / "b.png", seed=2)
    source = render(tmp_path / "source.mp4", 4)
    provider = FalProvider(
        fal_fake.key, Settings(fal_queue_url=fal_fake.url, fal_rest_url=fal_fake.url, fal_cdn_url=fal_fake.url)
    )
    accepted = []
    for spec in FAL_MODELS:
        if spec.retired:
            continue
        for kind in spec.kinds:
            ks = spec.for_kind(kind)
            res = next(r for r in spec.resolutions if not ks.resolution_field or r in ks.resolutions)
            req = RenderRequest(
                model=spec, kind=kind, prompt="a fox in snow", seconds=ks.default_duration or ks.durations[0],
                resolution=res, aspect=(ks.aspects if ks.aspect_field else spec.aspects)[0], audio=True,
                width=128, height=72, fps=24, start_image=image if kind is not Kind.R2V or ks.takes_start else None,
                end_image=end if kind is Kind.FLF2V else None, source_video=source if kind is Kind.EXTEND else None,
                label="segment 1", references=[[end]] if kind is Kind.R2V else [],
            )  # fmt: skip
            sub = await provider.submit(req)
            accepted.append((spec.id, str(kind), sub.endpoint))
    await provider.aclose()
    assert len(accepted) == sum(len(m.kinds) for m in FAL_MODELS if not m.retired)
    assert all(200 <= r.status < 300 for r in fal_fake.of("submit"))
