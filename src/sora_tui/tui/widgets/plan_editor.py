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

from ...core.catalog import Catalog, ModelSpec, segment_kind
from ...core.models import InputError, Mode, Plan, SegmentPlan
from .keyframe_editor import KeyframeEditor
from .segment_editor import SegmentEditor

if TYPE_CHECKING:
    from textual.dom import DOMNode


def split_durations(seconds: int, allowed: list[int]) -> tuple[int, int]:
    """Two allowed durations that add up to ``seconds`` (or as near as the model allows), halves first."""
    best: tuple[tuple[int, int], tuple[int, int]] | None = None
    for a in allowed:
        for b in allowed:
            score = (abs(a + b - seconds), abs(a - b))
            if best is None or score < best[0]:
                best = (score, (a, b))
    assert best is not None
    return best[1]


def nearest_duration(seconds: int, allowed: list[int]) -> int:
    return min(allowed, key=lambda d: (abs(d - seconds), -d))


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
        for i, seg in enumerate(plan.segments, 1):
            kind = segment_kind(spec, plan.mode, i, plan.start_image is not None)
            widgets.append(SegmentEditor(i, seg, spec, plan.resolution, audio, kind))
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
            plan.keyframes = _fit_keyframes(texts or plan.keyframes, plan.segments)
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
        message = str(exc)
        if message.startswith(f"{field}: "):
            message = message[len(field) + 2 :]
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

    # --- operations (1-based indexes) -------------------------------------------------
    #
    # Each operation works on the segments and, in keyframe mode, on ``ends``: ends[i] is the
    # description of the keyframe at the end of segment i+1 (keyframes[0], the opening, stays put).

    def _parts(self) -> tuple[list[SegmentPlan], list[str]]:
        plan = self.to_plan()
        return plan.segments, plan.keyframes[1:] if plan.mode is Mode.KEYFRAMES else []

    async def _apply(self, segments: list[SegmentPlan], focus: int, ends: list[str] | None = None) -> None:
        plan = self.to_plan()
        plan.segments = segments
        if plan.mode is Mode.KEYFRAMES:
            start = plan.keyframes[:1]
            plan.keyframes = _fit_keyframes(start + list(ends or []), segments)
        await self.load_plan(plan, focus=focus)

    async def add_segment(self, after: int) -> None:
        segs, ends = self._parts()
        ref = segs[after - 1] if segs else None
        seconds = ref.seconds if ref else (self.spec.default_duration or self.spec.durations[0])
        prompt = self.to_plan().prompt + ". The shot continues seamlessly."
        segs.insert(after, SegmentPlan(prompt=prompt, seconds=seconds, title="New shot"))
        if self.keyframe_mode:
            ends.insert(after, f"{prompt} Final frame of this part.")
        await self._apply(segs, after + 1, ends)

    async def delete_segment(self, index: int) -> None:
        segs, ends = self._parts()
        if len(segs) <= 1:
            raise InputError("plan.segments", "a plan needs at least one segment")
        del segs[index - 1]
        if self.keyframe_mode:
            del ends[index - 1]
        await self._apply(segs, min(index, len(segs)), ends)

    async def move_segment(self, index: int, delta: int) -> None:
        segs, ends = self._parts()
        target = index + delta
        if not (1 <= target <= len(segs)):
            return
        segs[index - 1], segs[target - 1] = segs[target - 1], segs[index - 1]
        if self.keyframe_mode:
            ends[index - 1], ends[target - 1] = ends[target - 1], ends[index - 1]
        await self._apply(segs, target, ends)

    async def split_segment(self, index: int) -> tuple[int, int]:
        segs, ends = self._parts()
        seg = segs[index - 1]
        a, b = split_durations(seg.seconds, self.spec.durations)
        title = seg.title or f"Segment {index}"
        first = SegmentPlan(prompt=seg.prompt, seconds=a, title=f"{title} (1/2)")
        second = SegmentPlan(
            prompt=seg.prompt + " The same shot continues from the previous moment.", seconds=b, title=f"{title} (2/2)"
        )
        segs[index - 1 : index] = [first, second]
        if self.keyframe_mode:  # the first half ends on a new midway frame; the second keeps the old end
            ends.insert(index - 1, f"{seg.prompt} Midway through this part.")
        await self._apply(segs, index, ends)
        return a, b

    async def merge_segment(self, index: int) -> int:
        """Merge segment ``index`` with the next one; returns the merged duration."""
        segs, ends = self._parts()
        if index >= len(segs):
            raise InputError("plan.segments", f"segment {index} is the last one; nothing to merge it with")
        a, b = segs[index - 1], segs[index]
        seconds = nearest_duration(a.seconds + b.seconds, self.spec.durations)
        title = (a.title or b.title).removesuffix(" (1/2)")
        merged = SegmentPlan(prompt=f"{a.prompt} Then: {b.prompt}", seconds=seconds, title=title)
        segs[index - 1 : index + 1] = [merged]
        if self.keyframe_mode:  # the boundary between them goes; the merged part ends where the second did
            del ends[index - 1]
        await self._apply(segs, index, ends)
        return seconds

    async def replace_segment(self, index: int, segment: SegmentPlan) -> None:
        segs, ends = self._parts()
        segs[index - 1] = segment
        await self._apply(segs, index, ends)

    def on_segment_editor_changed(self, event: SegmentEditor.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self))

    def on_keyframe_editor_changed(self, event: KeyframeEditor.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self))


def _fit_keyframes(keyframes: list[str], segments: list[SegmentPlan]) -> list[str]:
    """Keyframe mode needs N+1 boundary descriptions; pad from the segment prompts or trim."""
    want = len(segments) + 1
    out = list(keyframes[:want])
    while len(out) < want:
        seg = segments[min(len(out), len(segments)) - 1]
        out.append(f"{seg.prompt} Final frame of this part.")
    return out
