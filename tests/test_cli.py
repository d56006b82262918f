"""The command line end to end on the offline preview provider (real ffmpeg, real files)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import pytest

from sora_tui.core import media

PROMPT = "a paper boat drifts down a rainy street at dusk"


def run(
    cmd: list[str], env: dict[str, str], *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cmd, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def db_rows(home: Path, sql: str, *params: str) -> list[Any]:
    db = sqlite3.connect(home / "data" / "history.sqlite3")
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def test_generate_preview_video(sora_cmd: list[str], cli_env: dict[str, str], home: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    res = run(
        sora_cmd,
        cli_env,
        "generate",
        PROMPT,
        "--segments",
        "3",
        "--seconds",
        "4",
        "--resolution",
        "360p",
        "--yes",
        "--json",
        "--output",
        str(out),
    )
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["status"] == "completed" and summary["output"] == str(out)
    assert [s["status"] for s in summary["segments"]] == ["done"] * 3
    assert set(summary) >= {"job_id", "status", "output", "duration_s", "segments", "cost_usd"}

    info = media.probe(out)
    # the preview's continuations repeat their start frame, as hosted models do: one frame cut per seam
    assert abs(info.duration - (12.0 - 2 / info.fps)) <= 1e-6
    assert info.has_audio and (info.width, info.height) == (640, 360)
    assert [s["index"] for s in summary["seams"]] == [1, 2]
    assert all(s["repeat_cut"] and s["verdict"] == "clean" for s in summary["seams"]), summary["seams"]
    assert summary["seam_summary"]["worst"]["verdict"] == "clean"

    # continuity: the first frame of each segment equals the last frame of the one before
    job_dir = Path(summary["segments"][0]["file"]).parent
    for k in (2, 3):
        prev_last = job_dir / f"seg_{k - 1:02d}_last.png"
        first = job_dir / f"seg_{k:02d}_first.png"
        assert media.psnr(prev_last, first) >= 35

    hist = run(sora_cmd, cli_env, "history", "--json")
    assert hist.returncode == 0
    assert [j["job_id"] for j in json.loads(hist.stdout)] == [summary["job_id"]]
    shown = run(sora_cmd, cli_env, "show", summary["job_id"][:12], "--json")
    assert json.loads(shown.stdout)["plan"]["segments"][0]["seconds"] == 4


def test_plan_edit_render(sora_cmd: list[str], cli_env: dict[str, str], tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    res = run(sora_cmd, cli_env, "plan", PROMPT, "-n", "2", "-s", "2", "-r", "180p", "--out", str(plan_file))
    assert res.returncode == 0, res.stderr
    data = json.loads(plan_file.read_text())
    data["segments"][1]["prompt"] = "The boat reaches a glowing harbour."
    data["segments"][1]["seconds"] = 1
    plan_file.write_text(json.dumps(data))
    res = run(sora_cmd, cli_env, "render", str(plan_file), "--yes", "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert [s["seconds"] for s in summary["segments"]] == [2, 1]
    assert abs(summary["duration_s"] - 3.0) < 0.1


def test_sigkill_then_resume_keeps_done_segments(sora_cmd: list[str], cli_env: dict[str, str], home: Path) -> None:
    env = cli_env | {"SORA_TUI_PREVIEW_LATENCY": "1.5"}
    proc = subprocess.Popen(
        [*sora_cmd, "generate", PROMPT, "-n", "3", "-s", "2", "-r", "180p", "--yes", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                rows = db_rows(home, "SELECT idx, status FROM segments ORDER BY idx")
            except sqlite3.OperationalError:  # not created yet
                rows = []
            if rows:
                if rows and rows[0][1] == "done" and rows[1][1] in ("submitted", "running"):
                    break
            time.sleep(0.05)
        else:
            pytest.fail("segment 1 never finished")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
    job_id, status = db_rows(home, "SELECT id, status FROM jobs")[0]
    assert status == "generating"
    seg1 = next((home / "data" / "jobs" / job_id).glob("seg_01.mp4"))
    stamp = seg1.stat().st_mtime_ns

    res = run(sora_cmd, cli_env, "resume", job_id, "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["status"] == "completed"
    assert seg1.stat().st_mtime_ns == stamp  # not rendered again
    # nothing submitted twice: segment 2's request, accepted before the kill, was re-attached
    submits = dict(db_rows(home, "SELECT idx, submits FROM segments"))
    assert submits == {1: 1, 2: 1, 3: 1}
    logs = [m for (m,) in db_rows(home, "SELECT message FROM logs WHERE job_id=?", job_id)]
    assert sum("segment 1 submitted" in m for m in logs) == 1
    assert any("re-attaching to request" in m for m in logs)
    # the render child of the killed CLI had nobody to report to: it finished and exited
    # (it used to wait forever on its ffmpeg, holding a core)
    deadline = time.time() + 30
    while (left := renders_for(home)) and time.time() < deadline:
        time.sleep(0.1)
    assert not left, f"render processes still running: {left}"


def renders_for(home: Path) -> list[int]:
    """Processes working on files under ``home``: preview render children and their ffmpeg
    (Linux /proc; elsewhere the check is skipped)."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if str(home).encode() in cmdline:  # the render's request file, or ffmpeg's output file
            pids.append(int(proc.name))
    return pids


def test_redo_from_segment_keeps_earlier(sora_cmd: list[str], cli_env: dict[str, str], home: Path) -> None:
    res = run(sora_cmd, cli_env, "generate", PROMPT, "-n", "3", "-s", "1", "-r", "180p", "--yes", "--json")
    job = json.loads(res.stdout)
    job_dir = Path(job["folder"])
    stamps = {k: (job_dir / f"seg_{k:02d}.mp4").stat().st_mtime_ns for k in (1, 2, 3)}
    plan = json.loads((job_dir / "plan.json").read_text())
    plan["segments"][2]["prompt"] = "The boat sails into a bright sunrise."
    (job_dir / "plan.json").write_text(json.dumps(plan))
    res = run(sora_cmd, cli_env, "redo", job["job_id"], "--from", "3", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["status"] == "completed"
    assert (job_dir / "seg_01.mp4").stat().st_mtime_ns == stamps[1]
    assert (job_dir / "seg_02.mp4").stat().st_mtime_ns == stamps[2]
    assert (job_dir / "seg_03.mp4").stat().st_mtime_ns != stamps[3]
    prompt3 = db_rows(home, "SELECT prompt FROM segments WHERE idx=3")[0][0]
    assert prompt3 == "The boat sails into a bright sunrise."


@pytest.mark.parametrize(
    "args, field",
    [
        (["generate", "   ", "--yes"], "prompt"),
        (["generate", "x" * 4001, "--yes"], "prompt"),
        (["generate", PROMPT, "-n", "0", "--yes"], "segments"),
        (["generate", PROMPT, "-n", "61", "--yes"], "segments"),
        (["generate", PROMPT, "-s", "7", "--yes"], "seconds"),
        (["generate", PROMPT, "-r", "4k", "--yes"], "resolution"),
        (["generate", PROMPT, "-a", "4:3", "--yes"], "aspect"),
        (["generate", PROMPT, "--model", "sora-2", "--yes"], "model"),
        (["generate", PROMPT, "--model", "veo3.1-fast", "--yes"], "model"),
        (["generate", PROMPT, "--output", "/nonexistent-dir/out.mp4", "--yes"], "output"),
        (["generate", PROMPT, "--start-image", "/nonexistent.png", "--yes"], "start_image"),
        (["render", "/nonexistent-plan.json", "--yes"], "plan"),
        (["resume", "no-such-job"], "job"),
    ],
)
def test_bad_input_exits_2_naming_the_field(
    sora_cmd: list[str], cli_env: dict[str, str], args: list[str], field: str
) -> None:
    res = run(sora_cmd, cli_env, *args)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert field in res.stderr
    assert "Traceback" not in res.stderr


def test_bad_plan_files(sora_cmd: list[str], cli_env: dict[str, str], tmp_path: Path) -> None:
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    res = run(sora_cmd, cli_env, "render", str(bad_json), "--yes")
    assert res.returncode == 2 and "not valid JSON" in res.stderr
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"version": 7, "segments": []}))
    res = run(sora_cmd, cli_env, "render", str(wrong), "--yes")
    assert res.returncode == 2 and "plan.version" in res.stderr


def test_read_only_output_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sora_tui.core.jobfiles import check_output_path
    from sora_tui.core.models import InputError

    ro = tmp_path / "ro"
    ro.mkdir()
    # root may write anywhere, so the permission check itself is what is exercised
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != ro)
    with pytest.raises(InputError, match="read-only") as info:
        check_output_path(ro / "x.mp4")
    assert info.value.field == "output"
    with pytest.raises(InputError, match="is a folder"):
        check_output_path(tmp_path)
    with pytest.raises(InputError, match=".mp4"):
        check_output_path(tmp_path / "x.gif")


def test_corrupt_segment_file_is_reported_not_deleted(sora_cmd: list[str], cli_env: dict[str, str], home: Path) -> None:
    res = run(sora_cmd, cli_env, "generate", PROMPT, "-n", "2", "-s", "1", "-r", "180p", "--yes", "--json")
    job = json.loads(res.stdout)
    seg2 = Path(job["segments"][1]["file"])
    seg2.write_bytes(b"garbage")
    db = sqlite3.connect(home / "data" / "history.sqlite3")
    db.execute("UPDATE jobs SET status='failed'")
    db.commit()
    db.close()
    res = run(sora_cmd, cli_env, "resume", job["job_id"])
    assert res.returncode == 2
    assert "segment 2" in res.stderr and "redo" in res.stderr
    assert seg2.read_bytes() == b"garbage"  # nothing deleted
    assert Path(job["segments"][0]["file"]).exists()


def test_max_cost_refuses_to_start(sora_cmd: list[str], cli_env: dict[str, str], home: Path) -> None:
    # preview is free; a user catalog gives it a price so the cap bites
    (home / "config").mkdir()
    (home / "config" / "catalog.toml").write_text("[models.preview.price]\nper_second = { default = 0.5 }\n")
    res = run(sora_cmd, cli_env, "generate", PROMPT, "-n", "3", "-s", "2", "-r", "180p", "--yes", "--max-cost", "2")
    assert res.returncode == 2 and "max_cost" in res.stderr and "$3.00" in res.stderr


def test_models_and_keys(sora_cmd: list[str], cli_env: dict[str, str]) -> None:
    res = run(sora_cmd, cli_env, "models", "--json")
    models = {m["id"]: m for m in json.loads(res.stdout)}
    assert models["sora-2"]["status"] == "retired" and models["veo3.1-fast"]["status"] == "current"
    res = run(sora_cmd, cli_env, "keys", "status")
    assert res.returncode == 0 and "fal: not set" in res.stdout and "no OS keyring" in res.stdout
    res = run(sora_cmd, cli_env, "keys", "set", "fal")
    assert res.returncode == 2 and "FAL_KEY" in res.stderr and "Traceback" not in res.stderr


def test_help_lists_commands(sora_cmd: list[str], cli_env: dict[str, str]) -> None:
    res = run(sora_cmd, cli_env, "--help")
    assert res.returncode == 0
    for cmd in ("generate", "plan", "render", "history", "show", "resume", "redo", "models", "keys", "serve"):
        assert cmd in res.stdout


async def test_full_disk_during_join_is_input_error_and_keeps_segments(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sora_tui.core.engine import Engine
    from sora_tui.core.models import InputError, JobStatus, Request

    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    plan = await engine.plan(engine.resolve(Request(prompt=PROMPT, segments=2, seconds=1, resolution="180p")))
    job = engine.create_job(plan)

    from sora_tui.core import join, seams

    def full(
        inputs: Sequence[join.SeamInput],
        dest: str | os.PathLike[str],
        opts: seams.SeamOptions | None = None,
        progress: media.JoinProgressCallback | None = None,
    ) -> NoReturn:
        raise media.MediaError(f"No space left on device: cannot write {Path(dest).name} in {Path(dest).parent}.")

    monkeypatch.setattr(join, "join_segments", full)
    with pytest.raises(InputError) as info:
        await engine.run(job.id)
    assert (
        info.value.field == "disk"
        and "No space left" in str(info.value)
        and "finished segments are kept" in str(info.value)
    )
    failed = engine.find_job(job.id)
    assert failed.status is JobStatus.FAILED
    segments = engine.store.segments(job.id)
    assert all(s.file is not None and Path(s.file).is_file() for s in segments)
    monkeypatch.undo()
    done = await engine.run(job.id)  # space freed: resume joins without rendering again
    assert done.status is JobStatus.COMPLETED
    assert [s.submits for s in engine.store.segments(job.id)] == [1, 1]
    await engine.aclose()


def test_only_a_paid_render_asks_first(sora_cmd: list[str], cli_env: dict[str, str], home: Path) -> None:
    """A free preview render starts without --yes even with no terminal to ask on; a paid one asks
    (and without a terminal says to pass --yes, paying nothing and keeping the plan as a draft)."""
    common = ["generate", PROMPT, "--segments", "2", "--seconds", "4"]
    free = subprocess.run(
        [*sora_cmd, *common, "--resolution", "360p", "--json"],
        env=cli_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert free.returncode == 0, free.stderr
    assert json.loads(free.stdout)["status"] == "completed"

    paid_env = {**cli_env, "FAL_KEY": "test-key-not-used"}
    paid = subprocess.run(
        [*sora_cmd, *common, "--model", "veo3.1-fast", "--resolution", "720p"],
        env=paid_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert paid.returncode != 0 and "pass --yes" in paid.stderr
    assert db_rows(home, "SELECT status FROM jobs WHERE model = 'veo3.1-fast'") == [("draft",)]
