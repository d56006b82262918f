"""`sora-tui --version` prints the installed package's version (pyproject's, through importlib.metadata)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from sora_tui.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_version_is_the_installed_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    for flag in ("--version", "-V"):
        with pytest.raises(SystemExit) as exc:
            main([flag])
        assert exc.value.code == 0
        out = capsys.readouterr()
        assert out.out == f"sora-tui {version('sora-tui')}\n" and out.err == ""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert version("sora-tui") == declared  # the one place the version is written


def test_version_from_the_command(sora_cmd: list[str], cli_env: dict[str, str]) -> None:
    res = subprocess.run([*sora_cmd, "--version"], env=cli_env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"sora-tui {version('sora-tui')}"
    assert (
        "--version"
        in subprocess.run([sys.executable, "-m", "sora_tui", "--help"], capture_output=True, text=True).stdout
    )
