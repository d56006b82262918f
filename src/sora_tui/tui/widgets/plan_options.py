"""The plan-wide choices beside the storyboard: sound on/off and the budget cap."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Label, Select

from ...core.models import Plan

AUDIO = [("on", True), ("off", False)]


class PlanOptions(Horizontal):
    DEFAULT_CSS = """
    PlanOptions { height: 1; padding: 0 2; margin: 0; }
    PlanOptions Label { padding: 0 1 0 0; color: $text-muted; }
    PlanOptions Select { width: 12; margin-right: 2; }
    PlanOptions Input { width: 14; }
    """

    class Changed(Message):
        """Sound or cap changed (``audio``: the sound switch moved, so segment prices change)."""

        def __init__(self, audio: bool) -> None:
            super().__init__()
            self.audio = audio

    def __init__(self, plan: Plan, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan

    def compose(self) -> ComposeResult:
        yield Label("Sound")
        yield Select(AUDIO, id="plan-audio", allow_blank=False, value=bool(self.plan.audio), compact=True)
        yield Label("Budget cap $")
        cap = self.plan.max_cost
        yield Input(
            "" if cap is None else f"{cap:g}",
            placeholder="no cap",
            id="plan-cap",
            type="number",
            compact=True,
            tooltip="The render stops before spending more than this (USD); empty: no cap",
        )

    def load(self, plan: Plan) -> None:
        self.query_one(Select).value = bool(plan.audio)
        self.query_one(Input).value = "" if plan.max_cost is None else f"{plan.max_cost:g}"

    def apply(self, plan: Plan) -> Plan:
        """``plan`` with the sound and cap chosen here."""
        plan.audio = bool(self.query_one(Select).value)
        plan.max_cost = self.cap()
        return plan

    def cap(self) -> float | None:
        raw = self.query_one(Input).value.strip().lstrip("$")
        try:
            return max(0.0, float(raw)) if raw else None
        except ValueError:
            return None

    def cap_problem(self) -> str | None:
        if self.query_one(Input).value.strip() and self.cap() is None:
            return "Budget cap: enter an amount in dollars, e.g. 5, or leave it empty"
        return None

    def set_sound_available(self, available: bool) -> None:
        self.query_one(Select).disabled = not available  # a silent model has nothing to switch

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(audio=True))

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(audio=False))
