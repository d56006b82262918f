"""Hand-off from provider completion to the next submit, on the fal wire fake.

The fake (tests/fakes/fal_server.py) runs each request for a fixed time and records every
HTTP call with its wall-clock time, so the gap between a request becoming COMPLETED and
(a) its result being fetched and (b) the next request being submitted is measured exactly,
for chained videos (result → download → last frame → upload → submit) and for keyframe
images (each an edit of the one before). Once with fal's status stream (server-sent
events), once polling every 2 s (the default) as on a server without the stream.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


async def _job(fake, home: Path, mode: str, segments: int) -> None:
    from sora_tui.core.engine import Engine
    from sora_tui.core.models import JobStatus, Mode, Request

    engine = Engine(env={"SORA_TUI_HOME": str(home), **fake.env(), "SORA_TUI_POLL_INTERVAL": "2.0"})
    req = engine.resolve(
        Request(prompt="a paper boat on a rainy street", segments=segments, seconds=4, model="veo3.1-fast",
                mode=Mode(mode), audio=False)
    )  # fmt: skip
    job = engine.create_job(await engine.plan(req))
    done = await engine.run(job.id, review_keyframes=mode == "keyframes")
    await engine.aclose()
    assert done.status in (JobStatus.COMPLETED, JobStatus.AWAITING_REVIEW), done.error


def _gaps(fake, images: bool) -> tuple[list[float], list[float]]:
    """(completion → result fetched, completion → next submit) per hand-off, in seconds."""
    reqs = sorted(
        (r for r in fake.requests.values() if ("nano-banana" in r.endpoint) == images), key=lambda r: r.number
    )
    submits = sorted((r for r in fake.submits if ("nano-banana" in r.path) == images), key=lambda r: r.time)
    fetched, handoff = [], []
    for k, req in enumerate(reqs):
        result = next(r for r in fake.of("result") if req.id in r.path)
        fetched.append(result.time - req.completed_wall)
        if k + 1 < len(submits):
            handoff.append(submits[k + 1].time - req.completed_wall)
    return fetched, handoff


def measure(run_time: float = 0.5) -> dict[str, dict[str, list[float]]]:
    from fakes.fal_server import FalFake

    out: dict[str, dict[str, list[float]]] = {}
    for sse in (True, False):
        for what, mode, n in (("videos", "chain", 4), ("images", "keyframes", 5)):
            with FalFake(run_time=run_time) as fake, tempfile.TemporaryDirectory(prefix="sora-handoff-") as tmp:
                fake.sse = sse
                asyncio.run(_job(fake, Path(tmp), mode, n))
                fetched, handoff = _gaps(fake, images=what == "images")
                out[f"{what} {'stream' if sse else 'polling 2 s'}"] = {"fetched": fetched, "handoff": handoff}
    return out


def rows(row) -> list[dict]:
    data = measure()
    result = []
    for key, gaps in data.items():
        fetched, handoff = gaps["fetched"], gaps["handoff"]
        streamed = "stream" in key
        result.append(
            row(
                f"completion → result fetched, {key} (worst)",
                max(fetched),
                "s",
                "≤ 0.2 s" if streamed else "reference",
                max(fetched) <= 0.2 if streamed else None,
                f"median {statistics.median(fetched):.3f} s over {len(fetched)} requests",
            )
        )
        result.append(
            row(
                f"completion → next submit, {key} (median)",
                statistics.median(handoff),
                "s",
                "reference",
                None,
                f"worst {max(handoff):.3f} s over {len(handoff)} hand-offs (result, download, "
                + ("last frame, upload)" if key.startswith("videos") else "PNG fit, upload)"),
            )
        )
    return result


if __name__ == "__main__":
    for k, v in measure().items():
        print(k, {n: [round(x, 3) for x in xs] for n, xs in v.items()})
