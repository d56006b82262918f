"""Help: every key binding of every screen (the footer shows the ones in reach)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

INTRO = (
    "One prompt → a plan of N segments → each segment rendered (hosted model on fal.ai, or the offline "
    "preview) → joined into one MP4. Ctrl+P opens the command palette: every action below is there too."
)


def binding_rows(app: App[Any]) -> list[tuple[str, str, str, str]]:
    from .board import BoardScreen
    from .history import HistoryScreen
    from .keyframes import KeyframeScreen
    from .plan import PlanScreen
    from .prompt import PromptScreen
    from .settings import SettingsScreen

    rows: list[tuple[str, str, str, str]] = []
    groups = [("Everywhere", type(app))] + [
        (name, cls)
        for name, cls in (
            ("Prompt", PromptScreen),
            ("Plan", PlanScreen),
            ("Keyframes", KeyframeScreen),
            ("Board", BoardScreen),
            ("History", HistoryScreen),
            ("Settings", SettingsScreen),
        )
    ]
    for where, cls in groups:
        for b in cls.BINDINGS:
            if isinstance(b, Binding) and b.description:
                rows.append((where, app.get_key_display(b), b.description, b.tooltip or ""))
    return rows


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close", id="help.close", tooltip="Close the help")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal help"):
            yield Label("sora-tui — keys", classes="modal-title")
            yield Static(INTRO, classes="modal-body")
            yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.fill()
        self.query_one(DataTable).focus()

    def on_resize(self) -> None:
        self.fill()

    def fill(self) -> None:
        """One row per binding; the last column takes the width left and wraps, so nothing is cut."""
        table = self.query_one(DataTable)
        width = table.size.width or self.size.width
        fixed = [("Screen", 11), ("Key", 10), ("Action", 14)]
        rest = max(16, width - sum(w for _, w in fixed) - 2 * (len(fixed) + 1) - 2)
        if getattr(self, "_filled_for", None) == rest:
            return
        self._filled_for = rest
        table.clear(columns=True)
        for name, w in fixed:
            table.add_column(name, width=w)
        table.add_column("What it does", width=rest)
        for where, key, action, tip in binding_rows(self.app):
            table.add_row(where, key, action, Text(tip), height=None)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
