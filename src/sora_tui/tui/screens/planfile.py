"""Plan files from the studio: ask for a path (a typed modal), then read or write it off the UI loop.

Called from a screen's async worker (``push_screen_wait`` needs one); the file work runs in a thread.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...core.models import InputError, Plan
from ..format import plural
from .modals import AskModal

if TYPE_CHECKING:
    from textual.screen import Screen

    from ...core.engine import Engine


async def load_plan(screen: Screen[Any], engine: Engine) -> Plan | None:
    """Ask for a plan file and read it (None when the user cancelled or it could not be read: said so)."""
    path = await screen.app.push_screen_wait(
        AskModal("Load plan", "Path of a plan JSON file:", value=str(Path.cwd() / "plan.json"))
    )
    if not path:
        return None
    try:
        plan = await asyncio.to_thread(engine.load_plan_file, path)
    except InputError as exc:
        screen.notify(str(exc), severity="error", title="Cannot load plan")
        return None
    screen.notify(f"Loaded {plural(len(plan.segments), 'segment')} from {path}")
    return plan


async def save_plan(screen: Screen[Any], engine: Engine, plan: Plan) -> None:
    """Ask where, then write ``plan`` there as JSON."""
    path = await screen.app.push_screen_wait(
        AskModal("Save plan", "Path of the JSON file to write:", value=str(Path.cwd() / "plan.json"))
    )
    if not path:
        return
    try:
        written = await asyncio.to_thread(engine.save_plan_file, plan, path)
    except InputError as exc:
        screen.notify(str(exc), severity="error", title="Not saved")
        return
    except OSError as exc:
        screen.notify(f"Cannot write {path}: {exc.strerror}", severity="error", title="Not saved")
        return
    screen.notify(f"Saved plan to {written}", title="Plan saved")
