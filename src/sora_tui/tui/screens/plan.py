"""Plan screen: read and edit the storyboard before paying for it, then render."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Header, Static
from textual.worker import Worker

from ...core.costs import Quote, over_cap, quote
from ...core.models import InputError, Mode, Plan
from ...core.shots import validate_plan
from ..advice import explain
from ..context import Studio
from ..format import duration, money, plural
from ..widgets.footer import Footer
from ..widgets.plan_editor import PlanEditor
from ..widgets.plan_options import PlanOptions
from ..widgets.request_form import FieldError
from ..workers import report_failure
from .modals import ConfirmModal, ConfirmStart
from .planfile import load_plan, save_plan

WIDE = 160  # columns from which the prompt and the plan's totals sit beside the storyboard


class PlanScreen(Screen[Plan | None]):
    """Dismisses with the plan the user accepted (and whose cost they confirmed), or None (back)."""

    BINDINGS = [
        Binding("ctrl+r", "render", "Render", id="plan.render", tooltip="Accept the plan and start rendering"),
        Binding(
            "ctrl+r",
            "make_keyframes",
            "Make keyframes",
            id="plan.keyframes",
            tooltip="Keyframe mode: accept the plan and make the keyframe images for review (no video yet)",
        ),
        Binding("ctrl+n", "add", "Add", id="plan.add", tooltip="Add a segment after the current one"),
        Binding("ctrl+delete", "delete", "Delete", id="plan.delete", tooltip="Delete the current segment"),
        Binding("alt+up", "move(-1)", "Up", id="plan.up", show=False, tooltip="Move the current segment up"),
        Binding("alt+down", "move(1)", "Down", id="plan.down", show=False, tooltip="Move the current segment down"),
        Binding("ctrl+t", "split", "Split", id="plan.split", tooltip="Split the current segment into two halves"),
        Binding("ctrl+j", "merge", "Merge", id="plan.merge", tooltip="Merge the current segment with the next"),
        Binding("ctrl+f", "replan_one", "Re-plan", id="plan.replan_one", tooltip="Re-plan the current segment"),
        Binding("ctrl+g", "replan_all", "Re-plan all", id="plan.replan_all", tooltip="Re-plan every segment"),
        Binding("ctrl+s", "save", "Save", id="plan.save", tooltip="Save the plan as JSON"),
        Binding("ctrl+l", "load", "Load", id="plan.load", tooltip="Load a plan JSON file"),
        Binding("escape", "back", "Back", id="plan.back", show=False, tooltip="Back (asks before dropping edits)"),
    ]

    def __init__(self, studio: Studio, plan: Plan, job_id: str | None = None) -> None:
        super().__init__()
        self.studio = studio
        self.initial_plan = plan
        self.shown: Plan | None = None  # the plan as last put on screen, to tell edits from it
        self.job_id = job_id

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="plan-body"):  # side by side on wide terminals (the prompt beside the storyboard)
            with Vertical(id="plan-side"):
                yield Static("", id="plan-summary")
                yield PlanOptions(self.initial_plan, id="plan-options")
                yield FieldError(id="plan-error")
                yield Static(Text(self.initial_plan.prompt, style="italic"), id="plan-prompt")
            yield PlanEditor(self.studio.engine.catalog, id="plan-editor")
        yield Footer(compact=True)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_failure(self, event)  # the screen's workers' failures, worded once (tui.workers)

    def on_resize(self) -> None:
        self.set_class(self.size.width >= WIDE, "-wide")

    async def on_mount(self) -> None:
        if self.keyframe_mode:
            self.sub_title = "Plan — edit segments and keyframes, then ctrl+r makes the keyframes"
        else:
            self.sub_title = "Plan — edit, then ctrl+r to render"
        await self.editor.load_plan(self.initial_plan, focus=1)
        self.shown = self.to_plan()

    @property
    def keyframe_mode(self) -> bool:
        editors = self.query(PlanEditor)
        if editors and editors.first().has_plan:
            return editors.first().keyframe_mode
        return self.initial_plan.mode is Mode.KEYFRAMES

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # one ctrl+r, two names: "Make keyframes" in keyframe mode, "Render" otherwise
        if action == "render":
            return not self.keyframe_mode
        if action == "make_keyframes":
            return self.keyframe_mode
        return True

    @property
    def editor(self) -> PlanEditor:
        return self.query_one(PlanEditor)

    def to_plan(self) -> Plan:
        return self.query_one(PlanOptions).apply(self.editor.to_plan())

    async def on_plan_options_changed(self, event: PlanOptions.Changed) -> None:
        editor = self.editor
        if event.audio and editor.has_plan and editor.to_plan().audio != self.to_plan().audio:
            await editor.load_plan(self.to_plan(), focus=editor.current_index())  # segment prices change
        else:
            self.refresh_summary()

    def on_plan_editor_changed(self, event: PlanEditor.Changed) -> None:
        self.refresh_summary()
        self.refresh_bindings()  # a loaded plan file may change the mode (and so ctrl+r's name)

    def refresh_summary(self) -> None:
        plan = self.to_plan()
        engine = self.studio.engine
        spec = engine.catalog.get(plan.model)
        self.query_one(PlanOptions).set_sound_available(spec.audio == "optional")
        try:
            prices: Quote | None = quote(plan, engine.catalog)
        except InputError:
            prices = None
        cost = prices.total if prices is not None else None
        n = len(plan.segments)
        text = Text.assemble(
            (f"{n}", "bold"),
            f" segment{'s' if n != 1 else ''} · ",
            (duration(plan.total_seconds), "bold"),
            f" · {spec.name} {plan.resolution} {plan.aspect} · {plan.mode} mode · estimate ",
            (money(cost), "bold"),
            f" · job {self.job_id}" if self.job_id else "",
        )
        if cost is not None and over_cap(cost, plan.max_cost):
            text.append(f"  over the {money(plan.max_cost)} cap", "bold red")
        if plan.mode is Mode.KEYFRAMES and prices is not None:
            image = engine.catalog.image_model_for(spec)
            text.append(
                f"\n◆ {plural(prices.images, 'keyframe')} first ({image.name}, {money(prices.images_cost)}); "
                f"you review them before any video is paid for (videos {money(prices.videos)})"
            )
        self.query_one("#plan-summary", Static).update(text)

    def check(self) -> Plan | None:
        """Validate; the message goes next to the segment it is about."""
        plan = self.to_plan()
        self.editor.clear_errors()
        error = self.query_one("#plan-error", FieldError)
        error.show("")
        blank = self.editor.check_keyframes()
        if blank is not None:
            self.notify(f"Keyframe {blank} has no description.", severity="error", title="Fix the plan")
            return None
        if problem := self.query_one(PlanOptions).cap_problem():
            error.show(problem)
            return None
        try:
            validate_plan(plan, self.studio.engine.catalog)
        except InputError as exc:
            if self.editor.show_error(exc) is None:
                error.show(explain(exc))
            self.notify(explain(exc), severity="error", title="Fix the plan", markup=False)
            return None
        return plan

    # --- actions ----------------------------------------------------------------------

    @work(exclusive=True, group="render", exit_on_error=False)
    async def action_render(self) -> None:
        plan = self.check()
        if plan is None:
            return
        engine = self.studio.engine
        try:  # a local model's check probes its device (imports torch): off the loop
            await asyncio.to_thread(engine.check_render_key, plan.model)
        except InputError as exc:
            self.notify(explain(exc), severity="error", title="Cannot render yet", markup=False)
            return
        cost = engine.estimate(plan)
        if over_cap(cost, plan.max_cost):
            self.query_one("#plan-error", FieldError).show(
                f"The estimate {money(cost)} is over the budget cap of {money(plan.max_cost)}: raise the cap, "
                "use fewer or shorter segments, or a cheaper model"
            )
            return
        if cost <= 0:  # free (the offline preview): nothing to confirm
            self.dismiss(plan)
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.dismiss(plan)

        self.app.push_screen(ConfirmStart(plan, engine.catalog, cost), answer)

    def action_make_keyframes(self) -> None:
        self.action_render()  # the app stops a keyframe-mode job for review before any video

    async def action_add(self) -> None:
        await self.editor.add_segment(self.editor.current_index())

    async def action_delete(self) -> None:
        try:
            await self.editor.delete_segment(self.editor.current_index())
        except InputError as exc:
            self.notify(str(exc), severity="warning")

    async def action_move(self, delta: int) -> None:
        await self.editor.move_segment(self.editor.current_index(), delta)

    async def action_split(self) -> None:
        index = self.editor.current_index()
        before = self.to_plan().segments[index - 1].seconds
        a, b = await self.editor.split_segment(index)
        if a + b != before:
            self.notify(
                f"{before} s cannot be split into two lengths the model allows; the halves are {a} s + {b} s",
                severity="warning",
            )

    async def action_merge(self) -> None:
        index = self.editor.current_index()
        segs = self.to_plan().segments
        try:
            seconds = await self.editor.merge_segment(index)
        except InputError as exc:
            self.notify(str(exc), severity="warning")
            return
        total = segs[index - 1].seconds + segs[index].seconds
        if seconds != total:
            self.notify(f"{total} s is not a length the model allows; the merged segment is {seconds} s")

    @work(exclusive=True, group="replan", exit_on_error=False)
    async def action_replan_one(self) -> None:
        index = self.editor.current_index()
        try:
            seg = await self.studio.engine.replan_segment(self.to_plan(), index)
        except InputError as exc:
            self.notify(explain(exc), severity="error", title="Re-plan failed", markup=False)
            return
        except Exception as exc:  # planner errors (network, refusals) carry a message for the user
            self.notify(str(exc), severity="error", title="Re-plan failed", markup=False)
            return
        await self.editor.replace_segment(index, seg)
        self.notify(f"Segment {index} re-planned")

    @work(exclusive=True, group="replan", exit_on_error=False)
    async def action_replan_all(self) -> None:
        try:
            fresh = await self.studio.engine.replan(self.to_plan())
        except InputError as exc:
            self.notify(explain(exc), severity="error", title="Re-plan failed", markup=False)
            return
        except Exception as exc:
            self.notify(str(exc), severity="error", title="Re-plan failed", markup=False)
            return
        await self.editor.load_plan(fresh, focus=1)
        self.shown = self.to_plan()
        self.notify("All segments re-planned")

    @work(exclusive=True, group="plan-file", exit_on_error=False)
    async def action_save(self) -> None:
        await save_plan(self, self.studio.engine, self.to_plan())

    @work(exclusive=True, group="plan-file", exit_on_error=False)
    async def action_load(self) -> None:
        plan = await load_plan(self, self.studio.engine)
        if plan is not None and self.is_attached:
            await self.load(plan)

    async def load(self, plan: Plan) -> None:
        await self.editor.load_plan(plan, focus=1)
        self.query_one(PlanOptions).load(plan)
        self.shown = self.to_plan()

    def edited(self) -> bool:
        """Has the user changed the plan since it was shown (planned, loaded or re-planned)?"""
        return self.shown is not None and self.to_plan().to_dict() != self.shown.to_dict()

    def action_back(self) -> None:
        if not self.edited():
            self.dismiss(None)
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.dismiss(None)

        self.app.push_screen(
            ConfirmModal(
                "Discard your edits?",
                "Going back drops the changes made to this plan. Cancel keeps editing; "
                "ctrl+s saves the plan to a file first.",
                yes="Discard edits",
            ),
            answer,
        )
