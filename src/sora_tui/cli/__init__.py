"""`sora-tui` command line: the TUI by default, headless sub-commands for everything else.

Exit codes: 0 done, 1 job failed, 2 bad input, 130 interrupted.
Heavy modules (the engine's media stack, rich, textual, openai, fal_client) load
only inside the command that needs them, so ``sora-tui --help`` stays fast.
"""

from .advice import cli_advice
from .common import EXIT_FAILED, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_OK, CliError
from .dispatch import entry, main
from .parser import build_parser
from .render import job_summary, print_plan

__all__ = [
    "EXIT_FAILED",
    "EXIT_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "CliError",
    "build_parser",
    "cli_advice",
    "entry",
    "job_summary",
    "main",
    "print_plan",
]
