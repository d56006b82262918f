"""Plan screen: read and edit the storyboard before paying for it, then render."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Header, Static

from ...core.catalog import keyframe_count, validate_plan
from ...core.models import InputError, Mode, Plan, Request
from ..format import duration, money
from ..widgets.footer import Footer
from ..widgets.plan_editor import PlanEditor
from ..widgets.request_form import FieldError

if TYPE_CHECKING:
    from ..app import SoraApp


class PlanScreen(Screen):
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
        Binding("alt+up", "move(-1)", "Up", id="plan.up", tooltip="Move the current segment up"),
        Binding("alt+down", "move(1)", "Down", id="plan.down", tooltip="Move the current segment down"),
        Binding("ctrl+t", "split", "Split", id="plan.split", tooltip="Split the current segment into two halves"),
        Binding("ctrl+j", "merge", "Merge", id="plan.merge", tooltip="Merge the current segment with the next"),
        Binding("ctrl+f", "replan_one", "Re-plan seg", id="plan.replan_one", tooltip="Re-plan the current segment"),
        Binding("ctrl+g", "replan_all", "Re-plan all", id="plan.replan_all", tooltip="Re-plan every segment"),
        Binding("ctrl+s", "save", "Save", id="plan.save", tooltip="Save the plan as JSON"),
        Binding("ctrl+l", "load", "Load", id="plan.load", tooltip="Load a plan JSON file"),
        Binding("escape", "back", "Back", id="plan.back", tooltip="Back to the prompt (the plan is discarded)"),
    ]

    app: SoraApp

    def __init__(self, plan: Plan, job_id: str | None = None) -> None:
        super().__init__()
        self.initial_plan = plan
        self.job_id = job_id

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="plan-summary")
        yield FieldError(id="plan-error")
        yield PlanEditor(self.app.engine.catalog, id="plan-editor")
        yield Footer(compact=True)

    async def on_mount(self) -> None:
        if self.keyframe_mode:
            self.sub_title = "Plan — edit segments and keyframes, then ctrl+r makes the keyframes"
        else:
            self.sub_title = "Plan — edit, then ctrl+r to render"
        await self.editor.load_plan(self.initial_plan, focus=1)

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
        return self.editor.to_plan()

    def on_plan_editor_changed(self, event: PlanEditor.Changed) -> None:
        self.refresh_summary()
        self.refresh_bindings()  # a loaded plan file may change the mode (and so ctrl+r's name)

    def refresh_summary(self) -> None:
        plan = self.to_plan()
        engine = self.app.engine
        spec = engine.catalog.get(plan.model)
        try:
            cost = engine.estimate(plan)
        except Exception:
            cost = None
        text = (
            f"[b]{len(plan.segments)}[/] segments · [b]{duration(plan.total_seconds)}[/] · {spec.name} "
            f"{plan.resolution} {plan.aspect} · {plan.mode} mode · estimate [b]{money(cost)}[/]"
            + (f" · job {self.job_id}" if self.job_id else "")
        )
        if plan.mode is Mode.KEYFRAMES:
            try:
                image = engine.catalog.image_model_for(spec)
                images = keyframe_count(plan) * image.price_per_image
                text += (
                    f"\n◆ {len(plan.segments) + 1} keyframes first ({image.name}, {money(images)}); "
                    f"you review them before any video is paid for (videos {money((cost or 0) - images)})"
                )
            except InputError:
                pass
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
        try:
            validate_plan(plan, self.app.engine.catalog)
        except InputError as exc:
            where = self.editor.show_error(exc)
            if where is None:
                error.show(str(exc))
            self.notify(str(exc), severity="error", title="Fix the plan")
            return None
        return plan

    # --- actions ----------------------------------------------------------------------

    def action_render(self) -> None:
        plan = self.check()
        if plan is not None:
            self.app.render_plan(plan, self.job_id)

    def action_make_keyframes(self) -> None:
        self.action_render()  # render_plan stops a keyframe-mode job for review before any video

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
        from ...core.planner.base import get_planner

        index = self.editor.current_index()
        plan = self.to_plan()
        engine = self.app.engine
        try:
            kwargs: dict[str, Any] = (
                {"settings": engine.settings, "env": engine.env} if plan.planner == "openai" else {}
            )
            planner = get_planner(plan.planner, **kwargs)
            seg = await planner.replan_segment(plan, index, engine.catalog.get(plan.model))
        except Exception as exc:
            self.notify(str(exc), severity="error", title="Re-plan failed")
            return
        await self.editor.replace_segment(index, seg)
        self.notify(f"Segment {index} re-planned")

    @work(exclusive=True, group="replan", exit_on_error=False)
    async def action_replan_all(self) -> None:
        plan = self.to_plan()
        seconds = plan.segments[0].seconds if plan.segments else None
        req = Request(
            prompt=plan.prompt,
            segments=len(plan.segments),
            seconds=seconds,
            model=plan.model,
            resolution=plan.resolution,
            aspect=plan.aspect,
            mode=plan.mode,
            planner=plan.planner,
            start_image=plan.start_image,
            audio=plan.audio,
        )
        try:
            fresh = await self.app.engine.plan(req)
        except Exception as exc:
            self.notify(str(exc), severity="error", title="Re-plan failed")
            return
        for new, old in zip(fresh.segments, plan.segments, strict=False):
            new.seconds = old.seconds
        await self.editor.load_plan(fresh, focus=1)
        self.notify("All segments re-planned")

    def action_save(self) -> None:
        self.app.ask_save_plan(self.to_plan())

    def action_load(self) -> None:
        self.app.ask_load_plan(into=self)

    async def load(self, plan: Plan) -> None:
        await self.editor.load_plan(plan, focus=1)

    def action_back(self) -> None:
        self.dismiss()
