"""The storyboard editor: a list of SegmentEditors that converts to and from the engine's Plan.

In keyframe mode a KeyframeEditor sits at every boundary (before #1, between
segments, after the last), so the plan's N+1 keyframe descriptions are edited
where they apply. Each segment carries the keyframe at its end: adding, deleting,
moving, splitting and merging segments keep every description with its segment.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from textual.containers import VerticalScroll
from textual.message import Message

from ...core import plans
from ...core.catalog import Catalog, ModelSpec, segment_kind
from ...core.models import InputError, Mode, Plan, SegmentPlan
from ..advice import problem
from ..format import money
from .keyframe_editor import KeyframeEditor
from .segment_editor import SegmentEditor

if TYPE_CHECKING:
    from textual.dom import DOMNode


def shot_lines(plan: Plan, catalog: Catalog) -> dict[int, str]:
    """How each shot's cast reaches its model, with the shot's cost (core.shots); {} when the plan
    cannot be routed yet (the check names the shot)."""
    from ...core.shots import shot_routes

    try:
        routes = shot_routes(plan, catalog)
    except InputError:
        return {}
    how = {
        "none": "",
        "references": "as references",
        "keyframe": "through a cast keyframe",
        "previous": "through the previous picture",
    }
    return {r.index: f"{how[r.route]} · {r.model} {r.kind} · {money(r.cost)}".lstrip(" ·") for r in routes}


class PlanEditor(VerticalScroll):
    DEFAULT_CSS = """
    PlanEditor { height: 1fr; }
    """

    class Changed(Message):
        def __init__(self, editor: PlanEditor) -> None:
            super().__init__()
            self.editor = editor

    def __init__(self, catalog: Catalog, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.catalog = catalog
        self._plan: Plan | None = None

    @property
    def spec(self) -> ModelSpec:
        assert self._plan is not None
        return self.catalog.get(self._plan.model)

    @property
    def editors(self) -> list[SegmentEditor]:
        return list(self.query_children(SegmentEditor))

    @property
    def keyframe_editors(self) -> list[KeyframeEditor]:
        return list(self.query_children(KeyframeEditor))

    @property
    def has_plan(self) -> bool:
        return self._plan is not None

    @property
    def keyframe_mode(self) -> bool:
        return self._plan is not None and self._plan.mode is Mode.KEYFRAMES

    async def load_plan(self, plan: Plan, focus: int | None = None) -> None:
        """Show ``plan``; ``focus`` (1-based) puts the cursor in that segment's prompt."""
        self._plan = copy.deepcopy(plan)
        spec = self.spec
        audio = spec.has_audio(plan.audio)
        n = len(plan.segments)
        widgets: list[SegmentEditor | KeyframeEditor] = []
        keyframes = plan.keyframe_prompts() if plan.mode is Mode.KEYFRAMES and plan.segments else []
        if keyframes:
            self._plan.keyframes = keyframes
            widgets.append(KeyframeEditor(0, keyframes[0], n))
        routes = shot_lines(plan, self.catalog) if plan.uses_shots else {}
        for i, seg in enumerate(plan.segments, 1):
            kind = segment_kind(spec, plan.mode, i, plan.start_image is not None)
            cast = plan.cast_names if plan.cast else None
            widgets.append(
                SegmentEditor(i, seg, spec, plan.resolution, audio, kind, cast_names=cast, route=routes.get(i, ""))
            )
            if keyframes:
                widgets.append(KeyframeEditor(i, keyframes[i], n))
        await self.remove_children()
        await self.mount_all(widgets)
        if focus is not None and self.editors:
            focus = max(1, min(focus, len(self.editors)))
            editor = self.editors[focus - 1]
            editor.focus_prompt()
            self.scroll_to_widget(editor, animate=False)
        self.post_message(self.Changed(self))

    def to_plan(self) -> Plan:
        """The edited plan (not validated: see core.catalog.validate_plan)."""
        assert self._plan is not None
        plan = copy.deepcopy(self._plan)
        plan.segments = [e.to_segment() for e in self.editors]
        if plan.mode is Mode.KEYFRAMES:
            texts = [k.to_text() for k in self.keyframe_editors]
            plan.keyframes = plans.fit_keyframes(texts or plan.keyframes, plan.segments)
        return plan

    def current_index(self) -> int:
        """1-based index of the segment that holds the focus (1 when none does)."""
        focused = self.screen.focused
        node: DOMNode | None = focused
        while node is not None and node is not self:
            if isinstance(node, SegmentEditor):
                return self.editors.index(node) + 1
            if isinstance(node, KeyframeEditor):  # a boundary belongs to the segment it ends
                return max(1, min(node.index, len(self.editors)))
            node = node.parent
        return 1

    def clear_errors(self) -> None:
        for e in self.editors:
            e.show_error("")
        for k in self.keyframe_editors:
            k.show_error("")

    def check_keyframes(self) -> int | None:
        """Blank keyframe descriptions get a message next to them; returns the first such index."""
        first = None
        for k in self.keyframe_editors:
            if not k.to_text():
                k.show_error("describe this keyframe (the picture at this boundary)")
                if first is None:
                    first = k.index
                    self.scroll_to_widget(k, animate=False)
        return first

    def show_error(self, exc: InputError) -> int | None:
        """Put a plan error next to its segment; returns the segment index (None: plan-wide)."""
        field = exc.field or ""
        message = problem(exc)
        if field.startswith("plan.segments[") and "]" in field:
            try:
                index = int(field[len("plan.segments[") : field.index("]")])
            except ValueError:
                return None
            what = field[field.index("]") + 2 :] if "]." in field else ""
            editors = self.editors
            if 1 <= index <= len(editors):
                editors[index - 1].show_error(f"{what}: {message}" if what else message)
                self.scroll_to_widget(editors[index - 1], animate=False)
                return index
        return None

    # --- operations (1-based indexes): the rules live in core.plans; here they are shown -------

    async def add_segment(self, after: int) -> None:
        await self.load_plan(plans.add_segment(self.to_plan(), after, self.spec), focus=after + 1)

    async def delete_segment(self, index: int) -> None:
        plan = plans.delete_segment(self.to_plan(), index)
        await self.load_plan(plan, focus=min(index, len(plan.segments)))

    async def move_segment(self, index: int, delta: int) -> None:
        plan = plans.move_segment(self.to_plan(), index, delta)
        await self.load_plan(plan, focus=max(1, min(index + delta, len(plan.segments))))

    async def split_segment(self, index: int) -> tuple[int, int]:
        plan, halves = plans.split_segment(self.to_plan(), index, self.spec)
        await self.load_plan(plan, focus=index)
        return halves

    async def merge_segment(self, index: int) -> int:
        """Merge segment ``index`` with the next one; returns the merged duration."""
        plan, seconds = plans.merge_segments(self.to_plan(), index, self.spec)
        await self.load_plan(plan, focus=index)
        return seconds

    async def replace_segment(self, index: int, segment: SegmentPlan) -> None:
        await self.load_plan(plans.replace_segment(self.to_plan(), index, segment), focus=index)

    def on_segment_editor_changed(self, event: SegmentEditor.Changed) -> None:
        event.stop()
        plan = self.to_plan() if event.shot else None  # a keystroke in a prompt changes no route
        if plan is not None and plan.uses_shots:  # a cut, a cast, the seconds change how the cast gets there
            routes = shot_lines(plan, self.catalog)
            for i, editor in enumerate(self.editors, 1):
                editor.set_route(routes.get(i, ""))
        self.post_message(self.Changed(self))

    def on_keyframe_editor_changed(self, event: KeyframeEditor.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self))
