"""Prompt screen: the request form, a live duration and cost estimate, and the way to the plan."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Header, Static, TextArea

from ...core.catalog import estimate_cost, fit_plan
from ...core.models import InputError, Plan, Request, SegmentPlan
from ..format import duration, money
from ..widgets.footer import Footer
from ..widgets.request_form import RequestForm

if TYPE_CHECKING:
    from ..app import SoraApp


class PromptScreen(Screen):
    BINDINGS = [
        Binding("ctrl+r", "plan", "Plan", id="prompt.plan", tooltip="Check the request and plan the segments"),
        Binding("ctrl+l", "load_plan", "Load plan", id="prompt.load", tooltip="Open a saved plan JSON file"),
    ]

    app: SoraApp

    def compose(self) -> ComposeResult:
        engine = self.app.engine
        defaults = self.app.default_request()
        yield Header()
        with VerticalScroll(id="prompt-body"):
            yield Static("", id="key-notice")
            yield RequestForm(engine.catalog, defaults, id="request-form")
            with Horizontal(id="prompt-actions"):
                yield Static("", id="estimate")
                yield Button("Plan segments ▸  (ctrl+r)", id="plan-button", variant="primary")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "New video"
        self.update_notice()
        self.refresh_estimate()
        self.query_one("#prompt", TextArea).focus()

    def on_screen_resume(self) -> None:
        self.update_notice()

    @property
    def form(self) -> RequestForm:
        return self.query_one(RequestForm)

    def update_notice(self) -> None:
        engine = self.app.engine
        notice = self.query_one("#key-notice", Static)
        if engine.has_key("fal"):
            notice.update("")
            notice.display = False
        else:
            notice.display = True
            notice.update(
                "No fal.ai key: the studio uses the offline [b]preview[/] renderer (free, no network). "
                "To render with hosted models add a key: [b]sora-tui keys set fal[/], export [b]FAL_KEY[/], "
                "or Settings (F5)."
            )

    def on_request_form_changed(self, event: RequestForm.Changed) -> None:
        self.refresh_estimate()

    def refresh_estimate(self, strict: bool = False) -> Request | None:
        """Validate the form live; field messages go next to their fields. Returns the resolved request."""
        form = self.form
        form.clear_errors()
        estimate = self.query_one("#estimate", Static)
        blank = False
        try:
            req = form.to_request()
            if not req.prompt.strip():
                # a blank prompt is reported on Plan, not while typing; the other fields are checked anyway
                blank = strict
                req.prompt = "(draft)"
            resolved = self.app.engine.resolve(req)
        except InputError as exc:
            form.show_error(exc)
            resolved = None
        if blank:
            form.show_error(InputError("prompt", "is empty; describe the video you want"))
        if resolved is None or blank:
            estimate.update("[b]Fix the field marked ✗[/] to see the estimate")
            return None
        spec = self.app.engine.catalog.get(resolved.model)
        seconds = int(resolved.seconds or 0)
        plan = Plan(
            prompt=resolved.prompt,
            model=resolved.model,
            resolution=resolved.resolution or "",
            aspect=resolved.aspect or "",
            segments=[SegmentPlan(prompt="x", seconds=seconds) for _ in range(resolved.segments)],
            mode=resolved.mode,
            audio=bool(resolved.audio),
            start_image=resolved.start_image,
        )
        fit_plan(plan, self.app.engine.catalog)  # extend mode: the extensions' own lengths
        cost = estimate_cost(plan, self.app.engine.catalog)
        free = " (free, offline)" if spec.provider == "preview" else ""
        later = plan.segments[-1].seconds
        parts = f"{resolved.segments} × {seconds} s"
        if later != seconds:
            parts = f"{seconds} s + {resolved.segments - 1} × {later} s"
        estimate.update(
            f"Total [b]{duration(plan.total_seconds)}[/] = {parts} · "
            f"{spec.name} {resolved.resolution} {resolved.aspect} · estimate [b]{money(cost)}[/]{free}"
        )
        return resolved

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "plan-button":
            self.action_plan()

    def action_plan(self) -> None:
        resolved = self.refresh_estimate(strict=True)
        if resolved is None:
            self.app.bell()
            self.notify("Fix the field marked in red, then plan again.", severity="warning", title="Check the form")
            return
        self.plan_request(resolved)

    @work(exclusive=True, group="plan", exit_on_error=False)
    async def plan_request(self, req: Request) -> None:
        self.notify(f"Planning {req.segments} segments with the {req.planner} planner…", timeout=2)
        try:
            plan = await self.app.engine.plan(req)
        except InputError as exc:
            self.form.show_error(exc)
            self.notify(str(exc), severity="error", title="Cannot plan")
            return
        except Exception as exc:  # planner errors (network, refusals) carry a message for the user
            self.notify(f"{exc}", severity="error", title="Planning failed")
            return
        self.app.open_plan(plan)

    def action_load_plan(self) -> None:
        self.app.ask_load_plan()
