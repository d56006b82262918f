"""Seams through the whole pipeline on the offline preview model, which behaves like a hosted one:
its continuations repeat their start frame and drift in colour (settings.preview_drift)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from seamclips import decode_video, lab_mean
from sora_tui.core.engine import Engine
from sora_tui.core.models import JobStatus, Mode, Plan, SeamSettings, SegmentPlan


def _plan(n: int, seams: SeamSettings | None = None) -> Plan:
    return Plan(
        prompt="a lighthouse on a cliff at dusk",
        model="preview",
        resolution="180p",
        aspect="16:9",
        segments=[
            SegmentPlan(prompt=f"the lighthouse, part {i}", seconds=2, title=f"Part {i}") for i in range(1, n + 1)
        ],
        mode=Mode.CHAIN,
        audio=True,
        seams=seams or SeamSettings(),
    )


async def _render(home: Path, plan: Plan, drift: str) -> tuple[Engine, str]:
    engine = Engine(env={"SORA_TUI_HOME": str(home), "SORA_TUI_PREVIEW_DRIFT": drift})
    job = engine.create_job(plan)
    done = await engine.run(job.id)
    await engine.aclose()
    assert done.status is JobStatus.COMPLETED, done.error
    return engine, job.id


def _job_dir(engine: Engine, job_id: str) -> Path:
    job = engine.store.get_job(job_id)
    assert job is not None, job_id
    return job.job_dir


def _end_drift(engine: Engine, job_id: str) -> float:
    """ΔE between the joined video's last frame and segment 1's last frame (both plain pans of one picture)."""
    job = engine.store.get_job(job_id)
    assert job is not None and job.output is not None
    seg1_file = engine.store.segment(job_id, 1).file
    assert seg1_file is not None
    frames = decode_video(Path(job.output))
    seg1 = decode_video(Path(seg1_file))
    return float(np.linalg.norm(lab_mean(frames[-1]) - lab_mean(seg1[-1])))


async def test_colour_is_held_along_a_drifting_chain(tmp_path: Path) -> None:
    # every continuation drifts 2 ΔE (the preview's default, as hosted models do)
    engine, job_id = await _render(tmp_path / "a", _plan(4), drift="2")
    assert _end_drift(engine, job_id) <= 2.0
    logs = " ".join(r.message for r in engine.store.logs(job_id))
    assert "hand-off frame is corrected" in logs
    job_dir = _job_dir(engine, job_id)
    # one continuation is not yet evidence of a drift (issue 17); two are: the hand-off of segment 3 is corrected
    assert (job_dir / "seg_03_handoff.png").exists() and not (job_dir / "seg_04_handoff.png").exists()
    report = json.loads((job_dir / "seams.json").read_text())
    assert all(s["repeat_cut"] for s in report["seams"]) and report["spans"][-1][1] > 7.8
    assert all(s["verdict"] == "clean" for s in report["seams"]), report["seams"]

    # the same chain without colour anchoring drifts: the check above can fail
    engine, job_id = await _render(tmp_path / "b", _plan(4, SeamSettings(colour_anchor=False)), drift="2")
    assert _end_drift(engine, job_id) > 4.0
    assert not (_job_dir(engine, job_id) / "seg_03_handoff.png").exists()

    # a stronger drift (6 ΔE per continuation) is taken out by at most 3 ΔE per segment (issue 17: bounded,
    # never a fight with the picture's own light); it still ends far closer than the 15 ΔE it drifts
    engine, job_id = await _render(tmp_path / "c", _plan(4), drift="6")
    assert _end_drift(engine, job_id) <= 7.0
    for r in engine.store.logs(job_id):
        if "hand-off frame is corrected" in r.message:
            assert float(r.message.split(" ends ")[1].split(" ")[0]) <= 3.2, r.message


def test_redo_only_re_renders_one_segment_with_a_fresh_seed_and_says_its_cost(tmp_path: Path) -> None:
    env = {"SORA_TUI_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "sora_tui"]
    prompt = "a lighthouse on a cliff at dusk"
    gen = subprocess.run(cmd + ["generate", prompt, "-n", "3", "-s", "1", "-r", "180p", "--yes", "--json"], env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert gen.returncode == 0, gen.stderr
    summary = json.loads(gen.stdout)
    files = [Path(s["file"]) for s in summary["segments"]]
    before = [f.stat().st_mtime_ns for f in files]
    redo = subprocess.run(cmd + ["redo", summary["job_id"], "--from", "2", "--only", "--yes", "--json"], env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert redo.returncode == 0, redo.stderr
    assert "redo segment 2 of job" in redo.stderr and "estimated $0.00" in redo.stderr
    after = [f.stat().st_mtime_ns for f in files]
    assert after[0] == before[0] and after[2] == before[2] and after[1] != before[1]
    # each segment's sound was decoded and kept as it arrived (the join reused it); the redone one's is new
    from sora_tui.core import join

    kept = [sorted(f.parent.glob(f".{f.stem}.sound-*.f32")) for f in files]
    assert kept == [[join.kept_sound(f, 48000, 2)] for f in files], kept
    out = json.loads(redo.stdout)
    assert out["status"] == "completed" and len(out["seams"]) == 2
    shown = subprocess.run(cmd + ["show", summary["job_id"]], env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "Seams" in shown.stdout and "1|2" in shown.stdout
    # a bad option value is bad input
    bad = subprocess.run(cmd + ["generate", prompt, "--crossfade", "5000", "--yes"], env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bad.returncode == 2 and "crossfade" in bad.stderr
    bad = subprocess.run(cmd + ["generate", prompt, "--colour-reference", str(tmp_path / "nope.png"), "--yes"], env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bad.returncode == 2 and "colour_reference" in bad.stderr
