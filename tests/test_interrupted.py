"""Ctrl-C says what it left behind for the command that was interrupted (never another command's advice)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from sora_tui.cli import dispatch
from sora_tui.cli.common import EXIT_INTERRUPTED


@pytest.mark.parametrize(
    "argv, said",
    [
        (["generate", "a boat", "--yes"], "finished segments are kept — `sora-tui resume last` continues"),
        (
            ["cast", "generate", "Mara", "--description", "a courier in a red coat", "--yes"],
            "the pictures already asked for are kept — the same `sora-tui cast generate Mara` carries on",
        ),
        (["history"], "interrupted"),
    ],
)
def test_ctrl_c_names_what_it_left_for_that_command(
    argv: list[str], said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SORA_TUI_HOME", str(tmp_path / "home"))

    async def interrupted(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(dispatch, "_dispatch", interrupted)
    assert dispatch.main(argv) == EXIT_INTERRUPTED
    err = capsys.readouterr().err.strip()
    assert said in err
    if argv[0] != "generate":
        assert "resume" not in err and "segments" not in err
