"""Planners: who writes the segment prompts. ``PLANNERS`` is the one registry of their names
(the CLI's ``--planner`` choices, the studio's selects, the settings' allowed values); it is
light to import (``sora-tui --help`` reads it)."""

# name → what it needs (shown next to the name)
PLANNERS: dict[str, str] = {"offline": "built-in, free", "openai": "needs an OpenAI key"}
DEFAULT_PLANNER = "offline"
