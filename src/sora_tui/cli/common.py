"""What every command of the CLI shares: exit codes, its own input error, argument types, stderr lines, confirmation."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..core.engine import Engine

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class CliError(Exception):
    """Bad input found by the CLI itself (exit 2)."""


def _positive_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _money(text: str) -> float:
    try:
        return float(text.lstrip("$"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount in USD") from None


def _err(message: str) -> None:
    print(f"sora-tui: {message}", file=sys.stderr)


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise CliError("cannot ask for confirmation without a terminal; pass --yes to render")
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _engine() -> Engine:
    from ..core.engine import Engine

    return Engine()
