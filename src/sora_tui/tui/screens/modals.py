"""Small typed modals: confirm (bool) and ask for one value (str | None)."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ...core.catalog import Catalog
from ...core.costs import quote
from ...core.models import Mode, Plan
from ..format import duration, money
from ..widgets.request_form import FieldError


class ConfirmModal(ModalScreen[bool]):
    """Ask yes / no; dismisses with True only on an explicit yes."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="modal.yes", tooltip="Confirm"),
        Binding("n,escape", "answer(False)", "No", id="modal.no", tooltip="Keep things as they are"),
    ]

    def __init__(self, title: str, message: str | Text, yes: str = "Yes", danger: bool = True) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.yes = yes
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal"):
            yield Label(self.title_text, classes="modal-title")
            yield Static(self.message, classes="modal-body")
            with Horizontal(classes="modal-buttons"):
                yield Button(self.yes, id="yes", variant="error" if self.danger else "primary")
                yield Button("Cancel", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class ConfirmStart(ConfirmModal):
    """Every paid start asks first, with the estimate, the cap and the sound setting."""

    def __init__(self, plan: Plan, catalog: Catalog, cost: float) -> None:
        """``cost``: the whole job's estimate (keyframe mode pays only the images now)."""
        n = len(plan.segments)
        spec = catalog.get(plan.model)
        images = quote(plan, catalog)
        now = images.images_cost if plan.mode is Mode.KEYFRAMES else cost
        cap = f"Budget cap {money(plan.max_cost)}." if plan.max_cost is not None else "No budget cap."
        sound = "with sound" if spec.has_audio(plan.audio) else "silent"
        body = Text.assemble(
            f"{n} segment{'s' if n != 1 else ''} · {duration(plan.total_seconds)} on {spec.name} "
            f"{plan.resolution} {plan.aspect}, {sound}.\nEstimated cost ",
            (money(cost), "bold"),
            f" (billed by {spec.provider}). {cap}",
        )
        if plan.mode is Mode.KEYFRAMES:
            body.append("\nNow only the keyframe images are paid for (")
            body.append(money(now), "bold").append("); you review them before any video.")
        what = "make the keyframes for review" if plan.mode is Mode.KEYFRAMES else "render"
        super().__init__(f"Start a paid job ({what})?", body, yes=f"Pay ~{money(now)}", danger=False)


class AskModal(ModalScreen[str | None]):
    """Ask for one value; ``check`` returns an error message (or None when the value is fine)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel", tooltip="Close without changing anything")]

    def __init__(
        self,
        title: str,
        message: str,
        value: str = "",
        placeholder: str = "",
        check: Callable[[str], str | None] | None = None,
        password: bool = False,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.value = value
        self.placeholder = placeholder
        self.check = check
        self.password = password

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal"):
            yield Label(self.title_text, classes="modal-title")
            yield Static(self.message, classes="modal-body")
            yield Input(self.value, placeholder=self.placeholder, password=self.password, id="ask-input")
            yield FieldError(id="ask-error")
            with Horizontal(classes="modal-buttons"):
                yield Button("OK", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def _submit(self) -> None:
        value = self.query_one(Input).value.strip()
        problem = self.check(value) if self.check else None
        if problem:
            self.query_one("#ask-error", FieldError).show(problem)
            return
        self.dismiss(value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
