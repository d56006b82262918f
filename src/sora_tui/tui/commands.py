"""Command palette provider: every binding of the app and of the current screen, plus recent jobs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

from ..core.models import Job
from . import messages as msg
from .context import studio_of
from .format import excerpt


class SoraCommands(Provider):
    """Context-aware: offers the actions of the screen the palette was opened from.

    The recent jobs are read once when the palette opens (in a thread: the UI loop never waits on
    the store); each keystroke searches that list."""

    _recent: list[Job] | None = None

    async def startup(self) -> None:
        studio = studio_of(self.app)
        self._recent = await asyncio.to_thread(studio.engine.store.list_jobs, limit=15)

    def _ask(self, request: msg.JobRequested | msg.CastRequested) -> Callable[[], Any]:
        return partial(self.app.post_message, request)

    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        app = self.app
        studio = studio_of(app)
        screen = self.screen
        out: list[tuple[str, str, Callable[[], Any]]] = []
        seen: set[str] = set()
        for node, bindings in ((screen, type(screen).BINDINGS), (app, type(app).BINDINGS)):
            for b in bindings:
                if not isinstance(b, Binding) or not b.description or b.action in seen:
                    continue
                name = b.action.split("(", 1)[0]
                if node.check_action(name, ()) is False:  # e.g. Render vs Make keyframes on the plan
                    continue
                seen.add(b.action)
                label = f"{b.description} ({app.get_key_display(b)})"
                out.append((label, b.tooltip or "", partial(node.run_action, b.action)))
        out.append(
            (
                "Cast library",
                "characters, objects, places and styles with their pictures",
                self._ask(msg.CastRequested()),
            )
        )
        if shown := studio.jobs.current:
            out.append(
                (
                    f"Takes of job {shown}",
                    "each take of its shots side by side; keep another",
                    self._ask(msg.JobRequested(shown, msg.JobAction.TAKES)),
                )
            )
        for job in self._recent or []:
            out.append(
                (
                    f"Show job {job.id} on the board",
                    f"{job.status} · {excerpt(job.prompt, 60)}",
                    self._ask(msg.JobRequested(job.id, msg.JobAction.SHOW)),
                )
            )
        return out

    async def discover(self) -> Hits:
        for label, help_text, callback in self._commands():
            yield DiscoveryHit(label, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, help_text, callback in self._commands():
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), callback, help=help_text)
