"""`python -m sora_tui` runs the command line (the studio by default)."""

from .cli import entry

entry()
