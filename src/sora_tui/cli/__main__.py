"""`python -m sora_tui.cli`: the command line, as the `sora-tui` script runs it."""

from sora_tui.cli import main

raise SystemExit(main())
