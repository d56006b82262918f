"""Measure a local model on your GPU box: seconds of video per GPU-minute and peak GPU memory.

Run it where the model is installed and recorded (`sora-tui models local add ID FOLDER`):

    python bench/gpu.py wan2.2-ti2v-5b                       # 2 chained segments at the default size
    python bench/gpu.py wan2.2-ti2v-5b --segments 3 --seconds 5 --device cuda:1
    python bench/gpu.py tiny-ti2v --allow-cpu                # a small model on a machine without CUDA

It renders a real chain job through the engine (your settings and folders; the job stays in your
history) and prints one JSON object: video seconds, GPU seconds (the pipeline calls), video seconds
per GPU-minute, wall seconds, model loads, and peak GPU memory (torch.cuda.max_memory_allocated).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.device:
        os.environ["SORA_TUI_LOCAL_DEVICE"] = args.device
    if args.allow_cpu:
        os.environ["SORA_TUI_LOCAL_ALLOW_CPU"] = "1"
    import diffusers
    import torch

    from sora_tui.core import media
    from sora_tui.core.engine import Engine
    from sora_tui.core.localmodels import LocalSpec
    from sora_tui.core.models import JobStatus, Mode, Request

    engine = Engine()
    spec = engine.catalog.usable(args.model)
    local = LocalSpec.of(spec)
    engine.check_render_key(spec.id)  # the extra, the folder, the device: refused with the fix
    spans: list[float] = []
    for name in {local.pipeline, *local.kind_pipelines.values()}:
        cls = getattr(diffusers, name)
        original = cls.__call__

        def timed(self: Any, *a: Any, _original: Any = original, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return _original(self, *a, **kw)
            finally:
                spans.append(time.perf_counter() - t0)

        cls.__call__ = timed
    cuda = torch.cuda.is_available() and not str(engine.settings.local_device).startswith("cpu")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    req = engine.resolve(
        Request(
            prompt=args.prompt,
            segments=args.segments,
            seconds=args.seconds,
            model=spec.id,
            resolution=args.resolution,
            mode=Mode.CHAIN,
        )
    )
    job = engine.create_job(await engine.plan(req))
    t0 = time.perf_counter()
    final = await engine.run(job.id)
    wall = time.perf_counter() - t0
    loads = getattr(engine.existing_provider("local"), "loads", None)
    await engine.aclose()
    if final.status is not JobStatus.COMPLETED:
        raise SystemExit(f"the job failed: {final.error}")
    video = sum(media.probe(s.file or "").duration for s in engine.store.segments(job.id))
    gpu = sum(spans)
    return {
        "model": spec.id,
        "job": job.id,
        "device": engine.settings.local_device if cuda else "cpu",
        "segments": args.segments,
        "video_s": round(video, 3),
        "gpu_s": round(gpu, 3),
        "video_s_per_gpu_minute": round(video / (gpu / 60), 3) if gpu else None,
        "wall_s": round(wall, 3),
        "model_loads": loads,
        "peak_gpu_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 3) if cuda else None,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="a local model id with a recorded folder")
    p.add_argument("--segments", type=int, default=2)
    p.add_argument("--seconds", type=int, default=None, help="seconds per segment (default: the model's)")
    p.add_argument("--resolution", default=None)
    p.add_argument("--prompt", default="a slow dolly shot along a harbour at dawn, gulls, soft light")
    p.add_argument("--device", default=None, help="e.g. cuda:1 (default: the local_device setting)")
    p.add_argument("--allow-cpu", action="store_true")
    print(json.dumps(asyncio.run(run(p.parse_args())), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
