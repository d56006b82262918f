"""The command line's side of the studio defects (issue 10, item 8) and its wording of engine errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from sora_tui.core.engine import Engine
from sora_tui.core.models import Plan, SegmentPlan

PROMPT = "a paper boat drifts down a rainy street at dusk"


def run(cmd: list[str], env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cmd, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def make_jobs(home: Path, n: int) -> list[str]:
    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    plan = Plan(
        prompt="a very long prompt " * 10,
        model="preview",
        resolution="180p",
        aspect="16:9",
        segments=[SegmentPlan(prompt="boat", seconds=2)],
        audio=False,
    )
    return [engine.create_job(plan).id for _ in range(n)]


def test_plan_with_a_hosted_model_needs_no_render_key(
    sora_cmd: list[str], cli_env: dict[str, str], tmp_path: Path
) -> None:
    res = run(sora_cmd, cli_env, "plan", PROMPT, "--model", "veo3.1-fast", "-n", "2", "--out", "p.json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    plan = json.loads((tmp_path / "p.json").read_text())
    assert plan["model"] == "veo3.1-fast" and len(plan["segments"]) == 2
    assert "cost $2.40" in res.stdout  # 2 × 8 s of Veo 3.1 Fast with sound, estimated with no key
    assert "rendering it needs a key" in res.stderr and "FAL_KEY" in res.stderr  # said now, not refused
    res = run(sora_cmd, cli_env, "render", "p.json", "--yes", cwd=tmp_path)  # rendering does need it
    assert res.returncode == 2 and "keys set fal" in res.stderr and "--model preview" in res.stderr


def test_start_image_must_decode(sora_cmd: list[str], cli_env: dict[str, str], tmp_path: Path) -> None:
    noise = tmp_path / "noise.png"
    noise.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))  # a PNG's signature, then noise
    res = run(sora_cmd, cli_env, "generate", PROMPT, "--start-image", str(noise), "--yes")
    assert res.returncode == 2 and "start_image" in res.stderr and "cannot be decoded" in res.stderr
    (tmp_path / "p.json").write_text("{}")
    res = run(sora_cmd, cli_env, "plan", PROMPT, "--start-image", str(tmp_path / "p.json"), "--out", "x.json")
    assert res.returncode == 2 and "not a PNG" in res.stderr
    assert "Traceback" not in res.stderr


def test_history_status_is_checked_ids_whole_when_piped_no_match(
    sora_cmd: list[str], cli_env: dict[str, str], home: Path
) -> None:
    res = run(sora_cmd, cli_env, "history", "--status", "bogus")
    assert res.returncode == 2 and "completed" in res.stderr  # the allowed values
    ids = make_jobs(home, 2)
    res = run(sora_cmd, cli_env, "history")  # piped (captured): one whole line per job
    assert res.returncode == 0
    lines = res.stdout.splitlines()
    assert lines[0].startswith("job\t") and {line.split("\t")[0] for line in lines[1:]} == set(ids)
    assert all(len(line.split("\t")) == 7 for line in lines)
    res = run(sora_cmd, cli_env, "history", "--search", "nothing like this")
    assert res.returncode == 0 and "no job matches" in res.stdout
    res = run(sora_cmd, cli_env, "history", "--status", "completed")
    assert "no job matches" in res.stdout


def test_ambiguous_prefix_names_the_jobs(sora_cmd: list[str], cli_env: dict[str, str], home: Path) -> None:
    ids = make_jobs(home, 3)
    prefix = ids[0][:9]  # the same day
    res = run(sora_cmd, cli_env, "show", prefix)
    assert res.returncode == 2 and "matches 3 jobs" in res.stderr and all(i in res.stderr for i in ids)
    res = run(sora_cmd, cli_env, "show", "no-such-job")
    assert res.returncode == 2 and "sora-tui history" in res.stderr  # the CLI's own advice
