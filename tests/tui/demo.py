"""The demo studio of the snapshot tests and the README's screenshots (test-only: not in the package).

``python tests/tui/demo.py DIR`` (``make screenshots``) builds a fixed demo history
(preview and fal models, fixed job ids, dates and frames) in its own SORA_TUI_HOME,
freezes the clock and the cursor, and saves one SVG per screen into DIR. The snapshot
tests use the same demo (``build_demo`` / ``demo_app`` / ``SCREENS``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from textual.app import App
    from textual.pilot import Pilot

    from sora_tui.core.engine import Engine
    from sora_tui.tui.app import SoraApp

DEMO_HOME = Path("/tmp/sora-tui-demo")  # the README's screenshots; each snapshot test has its own (demo_home)
FROZEN_TIME = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC
DEMO_TZ = UTC  # dates are drawn in UTC whatever the machine's zone (given to the app, not the process)


def demo_home(name: str) -> Path:
    """A snapshot test's own demo folder: fixed (its path is in the pictures), one per test."""
    return Path(f"/tmp/sora-tui-demo-{name}")


SIZE = (120, 40)

DEMO_PROMPT = (
    "A lighthouse keeper climbs the spiral stairs at dusk, lights the great lamp, "
    "and watches a storm roll in over the sea"
)

_JOBS: list[dict[str, Any]] = [
    {
        "id": "20260921-101500-a1b2c3",
        "prompt": DEMO_PROMPT,
        "model": "preview",
        "resolution": "360p",
        "seconds": [4, 4, 4],
        "status": "completed",
        "done": 3,
        "age": 3 * 3600,
    },
    {
        "id": "20260920-183000-d4e5f6",
        "prompt": "A paper boat drifts down a rain-soaked street, past neon reflections, into a storm drain",
        "model": "veo3.1-fast",
        "resolution": "720p",
        "seconds": [8, 8, 8],
        "status": "failed",
        "done": 1,
        "failed": 2,
        "error": "segment 2 was refused by Veo 3.1 Fast's content policy; edit segment 2 and redo from 2",
        "age": 20 * 3600,
    },
    {
        "id": "20260919-090000-0a1b2c",
        "prompt": "Time-lapse of a city skyline from dawn to night, clouds racing, lights switching on",
        "model": "preview",
        "resolution": "360p",
        "seconds": [4, 4, 4, 4],
        "status": "generating",
        "done": 2,
        "age": 2 * 86400,
    },
    {
        "id": "20260918-120000-3d4e5f",
        "prompt": "A red fox trots across fresh snow in a silent birch forest",
        "model": "wan-2.7",
        "resolution": "720p",
        "seconds": [5, 5],
        "status": "cancelled",
        "done": 0,
        "age": 3 * 86400,
    },
    {
        "id": "20260921-133000-4b5c6d",
        "prompt": "An origami crane unfolds itself on a desk, flies out of the window and over the rooftops at dawn",
        "model": "veo3.1-fast",
        "resolution": "720p",
        "seconds": [8, 8, 8],
        "mode": "keyframes",
        "status": "awaiting_review",
        "done": 0,
        "user_keyframes": [2],
        "age": 40 * 60,
    },
]
KEYFRAME_JOB = _JOBS[4]["id"]
FINISHED_JOB = _JOBS[0]["id"]


def _picture(seed: int, width: int = 64, height: int = 36, light: float | None = None) -> np.ndarray:
    """A small deterministic gradient picture (sky, sea, a light) as an RGB array."""
    import cv2
    import numpy as np

    y = np.linspace(0, 1, height)[:, None]
    x = np.linspace(0, 1, width)[None, :]
    hue = (seed * 37) % 255
    r = (40 + 150 * (1 - y) * (0.6 + 0.4 * x) + hue * 0.2) % 255
    g = 60 + 90 * (1 - y) + 40 * x
    b = 90 + 140 * y
    img = np.stack([np.broadcast_to(c, (height, width)) for c in (r, g, b)], axis=-1).astype("uint8")
    light = 0.2 + 0.2 * (seed % 4) if light is None else light
    cx, cy = int(width * light), int(height * 0.35)
    cv2.circle(img, (cx, cy), max(2, height // 8), (255, 230, 150), -1)
    return img


def _frame(path: Path, seed: int, width: int = 64, height: int = 36) -> str:
    """:func:`_picture` as a PNG."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(_picture(seed, width, height), cv2.COLOR_RGB2BGR))
    return str(path)


def _demo_seams(seconds: list[int], fps: int = 24) -> dict[str, Any]:
    """A seam report like the join writes (core/join.py): repeats cut, one seam a little off in colour."""
    spans, t = [], 0.0
    for k, s in enumerate(seconds):
        d = s - (1 / fps if k else 0)
        spans.append([round(t, 6), round(t + d, 6)])
        t += d
    seams = []
    for k in range(1, len(seconds)):
        warn = k == 2
        seams.append(
            {
                "index": k,
                "time_s": spans[k - 1][1],
                "psnr_db": 31.4 if warn else 41.2,
                "ssim": 0.962 if warn else 0.991,
                "repeat_cut": True,
                "repeat_psnr_db": 48.7,
                "delta_e_before": 4.1 if warn else 1.3,
                "delta_e_after": 3.4 if warn else 0.4,
                "luma_step": 2.0 if warn else 0.3,
                "motion_ratio": 1.6 if warn else 0.9,
                "sound_step_db": None,
                "faded_tail_cut": 0,
                "reencoded_frames": 47,
                "verdict": "warn" if warn else "clean",
                "reasons": ["colour steps 3.4 ΔE"] if warn else [],
                "changes": [f"cut the repeated first frame of segment {k + 1} (PSNR 48.7 dB to the picture sent)"],
            }
        )
    frames = round(t * fps)
    return {
        "version": 1,
        "method": "smart",
        "duration_s": round(t, 6),
        "frames": frames,
        "reencoded_frames": 47 * (len(seconds) - 1),
        "reencoded_share": round(47 * (len(seconds) - 1) / frames, 4),
        "audio": "none",
        "spans": spans,
        "seams": seams,
        "worst": {"index": 2, "verdict": "warn", "reasons": ["colour steps 3.4 ΔE"]},
    }


def encode_frames(frames: list[np.ndarray], dest: Path, fps: int = 4) -> None:
    """RGB frames → a lossless H.264 MP4 (yuv444p, qp 0): pictures a test can measure exactly."""
    import subprocess

    from sora_tui.core import media

    h, w = frames[0].shape[:2]
    subprocess.run(
        [media.ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}"]
        + ["-r", str(fps), "-i", "-", "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p", str(dest)],
        input=b"".join(f.tobytes() for f in frames),
        check=True,
    )


def _videos(folder: Path, seeds: list[int], seconds: list[int], fps: int = 4) -> None:
    """Small lossless MP4s for a completed demo job: each segment's light crosses the sky, and final.mp4."""

    def encode(frames: list[np.ndarray], dest: Path) -> None:
        encode_frames(frames, dest, fps)

    every: list[np.ndarray] = []
    for i, (seed, secs) in enumerate(zip(seeds, seconds, strict=True), 1):
        n = secs * fps
        frames = [_picture(seed, 128, 72, light=0.1 + 0.8 * k / (n - 1)) for k in range(n)]
        encode(frames, folder / f"seg_{i:02d}.mp4")
        every += frames
    encode(every, folder / "final.mp4")


def demo_env(home: Path = DEMO_HOME) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SORA_TUI_", "FAL_", "OPENAI_"))}
    env["SORA_TUI_HOME"] = str(home)
    return env


def build_demo(home: Path = DEMO_HOME) -> Engine:
    """A fresh demo history under ``home``; returns its Engine."""
    from sora_tui.core.engine import Engine
    from sora_tui.core.models import JobStatus, Mode, Plan, SegmentPlan, SegmentStatus

    if home.exists():
        shutil.rmtree(home)
    engine = Engine(env=demo_env(home))
    for n, spec in enumerate(_JOBS):
        titles = ["Establishing", "Ascent", "The lamp", "Storm"]
        plan = Plan(
            prompt=spec["prompt"],
            model=spec["model"],
            resolution=spec["resolution"],
            aspect="16:9",
            segments=[
                SegmentPlan(
                    prompt=f"{spec['prompt']}. Part {i} of {len(spec['seconds'])}. Consistent cinematic style.",
                    seconds=s,
                    title=titles[i - 1],
                )
                for i, s in enumerate(spec["seconds"], 1)
            ],
            mode=Mode(spec.get("mode", "chain")),
            audio=False,
        )
        job = engine.create_job(plan, job_id=spec["id"])
        created = FROZEN_TIME - spec["age"]
        store = engine.store
        spent = 0.0
        cat = engine.catalog.get(spec["model"])
        for i, seconds in enumerate(spec["seconds"], 1):
            cost = cat.segment_cost(seconds, spec["resolution"], False)
            if i <= spec["done"]:
                spent += cost
                store.update_segment(
                    job.id,
                    i,
                    status=SegmentStatus.DONE,
                    file=str(Path(job.folder or "") / f"seg_{i:02d}.mp4"),
                    first_frame=_frame(Path(job.folder or "") / f"seg_{i:02d}_first.png", n * 10 + i),
                    last_frame=_frame(Path(job.folder or "") / f"seg_{i:02d}_last.png", n * 10 + i + 1),
                    cost_usd=cost,
                    submits=1,
                    started_at=created + 20 * i,
                    finished_at=created + 20 * i + 17,
                )
            elif i == spec.get("failed"):
                spent += cost
                store.update_segment(
                    job.id,
                    i,
                    status=SegmentStatus.FAILED,
                    error="content policy",
                    cost_usd=cost,
                    submits=1,
                    attempts=1,
                    started_at=created + 20 * i,
                    finished_at=created + 20 * i + 5,
                )
        if plan.mode is Mode.KEYFRAMES:
            price = engine.catalog.image_model_for(cat).price_per_image
            for kf in store.keyframes(job.id):
                user = kf.index in spec.get("user_keyframes", [])
                kf.file = _frame(Path(job.folder or "") / f"kf_{kf.index:02d}.png", n * 10 + kf.index)
                kf.status, kf.source, kf.cost_usd = "done", "user" if user else "generated", 0.0 if user else price
                spent += kf.cost_usd
                store.upsert_keyframe(kf)
        status = JobStatus(spec["status"])
        changes: dict[str, Any] = {"status": status, "created_at": created, "cost_usd": round(spent, 4)}
        if status is JobStatus.COMPLETED:
            _videos(Path(job.folder or ""), [n * 10 + i for i in range(1, spec["done"] + 1)], spec["seconds"])
            changes["output"] = str(Path(job.folder or "") / "final.mp4")
            changes["seams"] = _demo_seams(spec["seconds"])
            changes["duration_s"] = changes["seams"]["duration_s"]
            _demo_finishing(engine, job.id, Path(job.folder or ""))
        if spec.get("error"):
            changes["error"] = spec["error"]
        store.update_job(job.id, **changes)
        with store._lock:  # fixed log times, for stable pictures
            store._db.execute("UPDATE logs SET ts=? WHERE job_id=?", (created, job.id))
        store.log(job.id, f"rendering {len(spec['seconds'])} segments on {spec['model']} ({plan.mode} mode)")
        if plan.mode is Mode.KEYFRAMES:
            store.log(job.id, f"keyframes ready in {job.folder}; replace or regenerate any, then render the videos")
        for i in range(1, spec["done"] + 1):
            store.log(job.id, f"segment {i} done ({spec['seconds'][i - 1]:.2f} s)", index=i)
        if spec.get("error"):
            store.log(job.id, spec["error"], "error")
    return engine


def _demo_finishing(engine: Engine, job_id: str, folder: Path) -> None:
    """A finished version and two exports (fixed sizes) and metadata, for the history and export screens."""
    from sora_tui.core.models import Metadata

    job = engine.store.get_job(job_id)
    assert job is not None and job.plan is not None
    job.plan.metadata = Metadata(
        "Lighthouse at dawn", "A lighthouse keeper climbs the stairs as the storm clears.", ["#lighthouse", "#dawn"]
    )
    engine.store.update_job(job_id, plan=job.plan)
    engine.store.add_output(job_id, "finish", "v1", str(folder / "finished_v1.mp4"), 31_400_000, 12.0)
    engine.store.add_output(job_id, "export", "web-720p", str(folder / "exports/web-720p/v.mp4"), 9_800_000, 12.0)
    engine.store.add_output(job_id, "export", "hls", str(folder / "exports/hls/master.m3u8"), 14_200_000, 12.0)


def demo_app(home: Path = DEMO_HOME, mode: str = "prompt") -> SoraApp:
    from sora_tui.tui.app import create_app

    engine = build_demo(home)
    return create_app(engine=engine, clock=lambda: FROZEN_TIME, tz=DEMO_TZ, initial_mode=mode, cursor_blink=False)


# --- per-screen set-up (shared with the snapshot tests) ------------------------------------


def _studio(pilot: Pilot[int]) -> SoraApp:
    """The studio app the pilot drives (``pilot.app`` is typed as Textual's App)."""
    from sora_tui.tui.app import SoraApp

    app = pilot.app
    assert isinstance(app, SoraApp)
    return app


async def settle(pilot: Pilot[int]) -> None:
    """Wait for the workers, then for the messages and animations they queued; freeze the cursor."""
    await _workers_done(pilot.app)
    await pilot.wait_for_scheduled_animations()
    await _workers_done(pilot.app)  # a message handled above may have started another
    await pilot.wait_for_scheduled_animations()
    _studio(pilot).freeze()
    await pilot.wait_for_scheduled_animations()  # the repaint the cursors' change queued


async def _workers_done(app: App[int]) -> None:
    from textual.worker import WorkerCancelled

    for _ in range(50):
        try:
            await app.workers.wait_for_complete()
        except WorkerCancelled:  # replaced by a newer exclusive worker: wait for that one
            continue
        if not any(w.is_running for w in app.workers):
            return


async def until(pilot: Pilot[int], ready: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Wait (turn by turn of the app's loop, to a deadline) until ``ready()``."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await _workers_done(pilot.app)
        await pilot.pause()


async def to_prompt(pilot: Pilot[int]) -> None:
    from textual.widgets import Input, TextArea

    app = pilot.app
    app.screen.query_one("#prompt", TextArea).load_text(DEMO_PROMPT)
    app.screen.query_one("#segments", Input).value = "4"
    await settle(pilot)


async def to_prompt_errors(pilot: Pilot[int]) -> None:
    from textual.widgets import Input, Static

    app = pilot.app
    app.screen.query_one("#segments", Input).value = "0"
    estimate = app.screen.query_one("#estimate", Static)
    await until(pilot, lambda: "Fix the field" in str(estimate.render()), "the form checked (Input.Changed)")
    await pilot.press("ctrl+r")
    await settle(pilot)


async def to_plan(pilot: Pilot[int]) -> None:
    await to_prompt(pilot)
    await pilot.press("ctrl+r")
    await until(pilot, lambda: type(pilot.app.screen).__name__ == "PlanScreen", "the plan screen")
    await settle(pilot)
    # "Planning 4 segments…" is a toast that times out on the wall clock: drawn or not by chance
    pilot.app.clear_notifications()
    await settle(pilot)


async def to_board(pilot: Pilot[int]) -> None:
    job_id = _JOBS[0]["id"]
    _studio(pilot).show_on_board(job_id)
    await until(pilot, lambda: getattr(pilot.app.screen, "shown", None) == job_id, "the board showing the job")
    await settle(pilot)


async def to_keyframes(pilot: Pilot[int]) -> None:
    _studio(pilot).open_review(KEYFRAME_JOB)
    await settle(pilot)
    await pilot.press("right")
    await settle(pilot)


async def to_preview(pilot: Pilot[int]) -> None:
    from sora_tui.tui.screens.preview import PreviewScreen

    _studio(pilot).open_preview(_JOBS[0]["id"])

    def loaded() -> bool:
        screen = pilot.app.screen
        return isinstance(screen, PreviewScreen) and screen.timeline is not None

    def drawn() -> bool:  # the wanted frame decoded and shown (PreviewScreen.request's own test)
        screen = pilot.app.screen
        assert isinstance(screen, PreviewScreen)
        return not screen._busy and screen._shown == (screen.source, screen.frame, screen.box())

    await until(pilot, loaded, "the preview's timeline")
    await pilot.press("right", "right")  # the first frame after seam 1|2
    await until(pilot, drawn, "the frame after seam 1|2")
    await settle(pilot)


async def to_history(pilot: Pilot[int]) -> None:
    await pilot.press("f4")
    await settle(pilot)


async def to_settings(pilot: Pilot[int]) -> None:
    await pilot.press("f5")
    await settle(pilot)


async def to_export(pilot: Pilot[int]) -> None:
    _studio(pilot).open_export(FINISHED_JOB)
    await settle(pilot)


async def to_help(pilot: Pilot[int]) -> None:
    await pilot.press("f1")
    await settle(pilot)


SCREENS: dict[str, Callable[[Pilot[int]], Awaitable[None]]] = {
    "prompt": to_prompt,
    "prompt-errors": to_prompt_errors,
    "plan": to_plan,
    "board": to_board,
    "keyframes": to_keyframes,
    "history": to_history,
    "preview": to_preview,
    "settings": to_settings,
    "export": to_export,
    "help": to_help,
}


async def _shoot(name: str, setup: Callable[[Pilot[int]], Awaitable[None]], out: Path) -> Path:
    from sora_tui.tui.screens.prompt import PromptScreen

    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, PromptScreen) and app.screen.is_mounted, "the prompt")
        await setup(pilot)
        path = out / f"{name}.svg"
        app.save_screenshot(str(path))
    return path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python tests/tui/demo.py DIR", file=sys.stderr)
        return 2
    os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"  # same picture on every machine
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for name, setup in SCREENS.items():
        path = asyncio.run(_shoot(name, setup, out))
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
