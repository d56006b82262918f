"""Prompt screen: the request form, a live duration and cost estimate, and the way to the plan."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Header, Static, TextArea

from ...core.jobfiles import check_image_file, image_problem
from ...core.models import InputError, Request
from ...core.plans import default_request, sketch_plan
from .. import messages as msg
from ..advice import explain, problem, say
from ..context import Studio
from ..format import duration, money, plural
from ..widgets.cast_chips import CastChips
from ..widgets.footer import Footer
from ..widgets.request_form import RequestForm
from .mode import ModeScreen
from .planfile import load_plan

WIDE = 160  # columns from which the prompt and its settings sit side by side


class PromptScreen(ModeScreen):
    # focus lands on the prompt at once: focusing the scrolling body first would restyle its 90 widgets twice
    AUTO_FOCUS = "#prompt"
    BINDINGS = [
        Binding("ctrl+r", "plan", "Plan", id="prompt.plan", tooltip="Check the request and plan the segments"),
        Binding("ctrl+l", "load_plan", "Load plan", id="prompt.load", tooltip="Open a saved plan JSON file"),
    ]

    def __init__(self, studio: Studio) -> None:
        super().__init__(studio)
        self._images: dict[str, str | None] = {}  # start image path -> why it cannot be used (checked off the loop)

    def compose(self) -> ComposeResult:
        engine = self.studio.engine
        defaults = default_request(engine.settings, engine.default_model())
        yield Header()
        with VerticalScroll(id="prompt-body"):
            yield Static("", id="key-notice")
            yield RequestForm(engine.catalog, defaults, id="request-form")
            with Horizontal(id="prompt-actions"):
                yield Static("", id="estimate")
                yield Button("Plan segments ▸ ctrl+r", id="plan-button", variant="primary", compact=True)
            # below the estimate: on a small terminal the estimate and Plan stay in sight, the chips scroll
            yield CastChips(engine.cast_library, id="prompt-cast")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "New video"
        self.update_notice()
        self.refresh_estimate()
        self.query_one("#prompt", TextArea).focus()

    def on_screen_resume(self) -> None:
        self.update_notice()
        for chips in self.query(CastChips):
            chips.reload()  # the Cast screen may have changed the library

    def on_resize(self) -> None:
        # wide terminals: the prompt and the settings side by side
        wide = self.size.width >= WIDE
        self.form.set_class(wide, "-wide")
        # the prompt takes the rows the fields leave (5 at 80x24, more on tall terminals)
        rows = self.size.height - (17 if wide else 22)  # 3 of them: the cast chips
        self.query_one("#prompt", TextArea).styles.height = max(5, min(24 if wide else 16, rows))

    @property
    def form(self) -> RequestForm:
        return self.query_one(RequestForm)

    def update_notice(self) -> None:
        engine = self.studio.engine
        notice = self.query_one("#key-notice", Static)
        if engine.has_key("fal"):
            notice.update("")
            notice.display = False
        else:
            notice.display = True
            notice.update(
                Text.assemble(
                    "No fal.ai key: the studio renders with the offline ",
                    ("preview", "bold"),
                    " model (free, no network); hosted models can still be planned and priced. "
                    "To render with them add a key in ",
                    ("Settings (F5)", "bold"),
                    " or export ",
                    ("FAL_KEY", "bold"),
                    " before starting.",
                )
            )

    def on_request_form_changed(self, event: RequestForm.Changed) -> None:
        self.refresh_estimate()

    def refresh_estimate(self, strict: bool = False) -> Request | None:
        """Validate the form live; field messages go next to their fields. Returns the resolved request."""
        form = self.form
        form.clear_errors()
        estimate = self.query_one("#estimate", Static)
        engine = self.studio.engine
        blank = False
        try:
            req = form.to_request()
            if not req.prompt.strip():
                # a blank prompt is reported on Plan, not while typing; the other fields are checked anyway
                blank = strict
                req.prompt = "(draft)"
            # the start image's file is read apart, in a worker (check_start_image), never on a keystroke
            resolved = engine.resolve(req, check_files=False)
            if resolved.start_image:
                self._image_seen(resolved.start_image)
        except InputError as exc:
            form.show_error(exc)
            resolved = None
        if blank:
            form.show_error(InputError("prompt", "is empty; describe the video you want"))
        if resolved is None or blank:
            estimate.update(Text("Fix the field marked ✗ to see the estimate", style="bold"))
            return None
        try:
            engine.check_render_key(resolved.model, quick=True)  # quick: no torch import while typing
        except InputError as exc:  # planning and the estimate need no key; rendering will
            form.show_note("model", problem(exc))
        spec = engine.catalog.get(resolved.model)
        plan = sketch_plan(resolved, engine.catalog)
        cost = engine.estimate(plan)
        n, first, later = resolved.segments, plan.segments[0].seconds, plan.segments[-1].seconds
        parts = f"{n} × {first} s" if later == first else f"{first} s + {n - 1} × {later} s"
        estimate.update(
            Text.assemble(
                "Total ",
                (duration(plan.total_seconds), "bold"),
                f" = {parts} · {spec.name} {resolved.resolution} {resolved.aspect} · estimate ",
                (money(cost), "bold"),
                " (free, offline)" if spec.provider == "preview" else "",
            )
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

    def _image_seen(self, path: str) -> None:
        """The start image's problem when known (raises it as the field's error); else have it checked."""
        if path not in self._images:
            self.check_start_image(path)
        elif problem_text := self._images[path]:
            raise InputError("start_image", problem_text)

    @work(thread=True, exclusive=True, group="start-image", exit_on_error=False)
    def check_start_image(self, path: str) -> None:
        """Read the start image's signature (a file read: off the loop), then check the form again."""
        found = image_problem(path)
        self.app.call_from_thread(self._image_checked, path, found)

    def _image_checked(self, path: str, found: str | None) -> None:
        self._images[path] = found
        self.refresh_estimate()

    @work(exclusive=True, group="plan", exit_on_error=False)
    async def plan_request(self, req: Request) -> None:
        if req.start_image:  # decoded once, on Plan (typing checks the file's signature)
            try:
                await asyncio.to_thread(check_image_file, req.start_image)
            except InputError as exc:
                self.form.show_error(exc)
                self.notify(explain(exc), severity="error", title="Cannot plan", markup=False)
                return
        self.notify(f"Planning {plural(req.segments, 'segment')} with the {req.planner} planner…", timeout=2)
        chips = self.query_one(CastChips)
        try:
            # the chosen members as `generate --cast NAME,…` offers them (the library read in a thread)
            req.cast = await asyncio.to_thread(self.studio.engine.cast_members, chips.names) if chips.names else []
        except InputError as exc:
            chips.show_error(exc)
            self.notify(explain(exc), severity="error", title="Cannot plan", markup=False)
            return
        try:
            plan = await self.studio.engine.plan(req)
        except InputError as exc:
            self.form.show_error(exc)
            self.notify(explain(exc), severity="error", title="Cannot plan", markup=False)
            return
        except Exception as exc:  # planner errors (network, refusals) carry a message for the user
            self.notify(say(exc), severity="error", title="Planning failed", markup=False)
            return
        self.post_message(msg.PlanRequested(plan))

    @work(exclusive=True, group="plan-file", exit_on_error=False)
    async def action_load_plan(self) -> None:
        plan = await load_plan(self, self.studio.engine)
        if plan is not None:
            self.post_message(msg.PlanRequested(plan))
