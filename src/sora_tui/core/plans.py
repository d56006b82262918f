"""The rules about plans that every front end shares, each written once.

- editing a storyboard: add, delete, move, split and merge segments (pure functions: a new
  ``Plan`` comes back, the old one is untouched; keyframe descriptions travel with their segment);
- turning a plan back into the ``Request`` a planner takes (re-plan one segment or all);
- choosing the planner a plan names;
- what a job still costs, and whether its videos have started (keyframe review, budget cap).

No Textual, no Rich: the TUI and the CLI call these and only show the result.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .catalog import Catalog, ModelSpec, fit_plan
from .costs import KeyframeLike as KeyframeLike  # what a job still costs: the one rule is in costs.py
from .costs import Remaining as Remaining
from .costs import SegmentLike as SegmentLike
from .costs import remaining_cost as remaining_cost
from .models import CastMember, InputError, Job, JobStatus, Mode, Plan, Request, SegmentPlan, SegmentStatus
from .planner import DEFAULT_PLANNER

if TYPE_CHECKING:
    from .settings import Settings

CONTINUES = " The same shot continues from the previous moment."
NEW_SHOT = ". The shot continues seamlessly."
MIDWAY = " Midway through this part."
FINAL = " Final frame of this part."


# --- durations ------------------------------------------------------------------------


def split_durations(seconds: int, allowed: list[int]) -> tuple[int, int]:
    """Two allowed durations that add up to ``seconds`` (or as near as the model allows), halves first."""
    best: tuple[tuple[int, int], tuple[int, int]] | None = None
    for a in allowed:
        for b in allowed:
            score = (abs(a + b - seconds), abs(a - b))
            if best is None or score < best[0]:
                best = (score, (a, b))
    if best is None:
        raise InputError("seconds", "the model allows no segment length", allowed)
    return best[1]


def nearest_duration(seconds: int, allowed: list[int]) -> int:
    return min(allowed, key=lambda d: (abs(d - seconds), -d))


# --- editing --------------------------------------------------------------------------
#
# ``ends[i]`` is the description of the keyframe at the end of segment i+1 (keyframe mode);
# the opening keyframe (keyframes[0]) stays where it is.


def fit_keyframes(keyframes: list[str], segments: list[SegmentPlan]) -> list[str]:
    """Keyframe mode needs N+1 boundary descriptions; pad from the segment prompts or trim."""
    want = len(segments) + 1
    out = list(keyframes[:want])
    while len(out) < want:
        seg = segments[min(len(out), len(segments)) - 1]
        out.append(f"{seg.prompt}{FINAL}")
    return out


def _parts(plan: Plan) -> tuple[Plan, list[SegmentPlan], list[str]]:
    """A copy of ``plan`` to edit, its segments (a new list) and, in keyframe mode, its ends;
    the copy's ``keyframes`` is set to the full N+1 descriptions (the opening one stays)."""
    new = copy.deepcopy(plan)
    ends: list[str] = []
    if new.mode is Mode.KEYFRAMES and new.segments:
        new.keyframes = new.keyframe_prompts()
        ends = new.keyframes[1:]
    return new, list(new.segments), ends


def _rebuilt(plan: Plan, segments: list[SegmentPlan], ends: list[str]) -> Plan:
    if plan.mode is Mode.KEYFRAMES and segments:
        opening = plan.keyframes[:1] or [f"Opening frame. {segments[0].prompt}"]
        plan.keyframes = fit_keyframes(opening + ends, segments)
    plan.segments = segments
    return plan


def _check_index(plan: Plan, index: int) -> None:
    n = len(plan.segments)
    if not 1 <= index <= n:
        raise InputError("plan.segments", f"segment {index} does not exist", [f"1-{n}"])


def add_segment(plan: Plan, after: int, spec: ModelSpec) -> Plan:
    """A new segment after segment ``after`` (0: first), as long as its neighbour."""
    new, segs, ends = _parts(plan)
    after = max(0, min(after, len(segs)))
    ref = segs[after - 1] if after else (segs[0] if segs else None)
    seconds = ref.seconds if ref else (spec.default_duration or spec.durations[0])
    prompt = plan.prompt.rstrip(". ") + NEW_SHOT
    segs.insert(after, SegmentPlan(prompt=prompt, seconds=seconds, title="New shot"))
    if new.mode is Mode.KEYFRAMES:
        ends.insert(after, f"{prompt}{FINAL}")
    return _rebuilt(new, segs, ends)


def delete_segment(plan: Plan, index: int) -> Plan:
    _check_index(plan, index)
    if len(plan.segments) <= 1:
        raise InputError("plan.segments", "a plan needs at least one segment")
    new, segs, ends = _parts(plan)
    del segs[index - 1]
    if ends:
        del ends[index - 1]
    return _rebuilt(new, segs, ends)


def move_segment(plan: Plan, index: int, delta: int) -> Plan:
    """Swap segment ``index`` with the one ``delta`` away; out of range: the plan as it was."""
    _check_index(plan, index)
    target = index + delta
    new, segs, ends = _parts(plan)
    if not 1 <= target <= len(segs):
        return new
    segs[index - 1], segs[target - 1] = segs[target - 1], segs[index - 1]
    if ends:
        ends[index - 1], ends[target - 1] = ends[target - 1], ends[index - 1]
    return _rebuilt(new, segs, ends)


def split_segment(plan: Plan, index: int, spec: ModelSpec) -> tuple[Plan, tuple[int, int]]:
    """Two halves of segment ``index``; returns the plan and the halves' lengths."""
    _check_index(plan, index)
    new, segs, ends = _parts(plan)
    seg = segs[index - 1]
    a, b = split_durations(seg.seconds, spec.durations)
    title = seg.title or f"Segment {index}"
    first = SegmentPlan(prompt=seg.prompt, seconds=a, title=f"{title} (1/2)", narration=seg.narration)
    second = SegmentPlan(prompt=seg.prompt + CONTINUES, seconds=b, title=f"{title} (2/2)")
    # both halves are the same shot: its cast, model, camera and takes; the second continues the first
    for half in (first, second):
        half.cast, half.model, half.camera, half.takes = list(seg.cast), seg.model, seg.camera, seg.takes
    first.transition = seg.transition
    segs[index - 1 : index] = [first, second]
    if ends:  # the first half ends on a new midway frame; the second keeps the old end
        ends.insert(index - 1, f"{seg.prompt}{MIDWAY}")
    return _rebuilt(new, segs, ends), (a, b)


def merged_prompt(a: str, b: str) -> str:
    """One prompt for two consecutive segments; a split's halves merge back to the original text."""
    rest = b.removesuffix(CONTINUES).strip()
    if not rest or rest == a.strip() or rest in a:
        return a
    if a.strip() in rest:
        return rest
    return f"{a} Then: {rest}"


def merge_segments(plan: Plan, index: int, spec: ModelSpec) -> tuple[Plan, int]:
    """Segment ``index`` and the next as one; returns the plan and the merged length."""
    _check_index(plan, index)
    if index >= len(plan.segments):
        raise InputError("plan.segments", f"segment {index} is the last one; nothing to merge it with")
    new, segs, ends = _parts(plan)
    a, b = segs[index - 1], segs[index]
    seconds = nearest_duration(a.seconds + b.seconds, spec.durations)
    title = (a.title or b.title).removesuffix(" (1/2)")
    narration = " ".join(t for t in (a.narration, b.narration) if t)
    merged = SegmentPlan(prompt=merged_prompt(a.prompt, b.prompt), seconds=seconds, title=title, narration=narration)
    # one shot: it begins as the first did, with both casts, the first's model and camera
    merged.transition, merged.model, merged.camera = a.transition, a.model, a.camera or b.camera
    merged.cast = list(dict.fromkeys(a.cast + b.cast))
    merged.takes = max(a.takes, b.takes)
    segs[index - 1 : index + 1] = [merged]
    if ends:  # the boundary between them goes; the merged part ends where the second did
        del ends[index - 1]
    return _rebuilt(new, segs, ends), seconds


def replace_segment(plan: Plan, index: int, segment: SegmentPlan) -> Plan:
    _check_index(plan, index)
    new, segs, ends = _parts(plan)
    segs[index - 1] = copy.deepcopy(segment)
    return _rebuilt(new, segs, ends)


# --- planning -------------------------------------------------------------------------


def request_for(plan: Plan, index: int | None = None) -> Request:
    """The request that plans ``plan`` again: all of it, or (``index``) one segment of its length."""
    if index is not None:
        _check_index(plan, index)
    seconds = plan.segments[(index or 1) - 1].seconds if plan.segments else None
    return Request(
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
        seams=copy.deepcopy(plan.seams),
        narration=plan.has_narration,
        max_cost=plan.max_cost,
        cast=[CastMember(c.name, c.kind, c.description) for c in plan.cast],
    )


def default_request(settings: Settings, model: str) -> Request:
    """A new video's request before the user changes anything: the settings' defaults (checked
    when the settings were loaded: a bad value is an InputError naming it, in every front end)."""
    return Request(
        prompt="",
        segments=3,
        model=model,
        resolution=settings.default_resolution or None,
        mode=Mode(settings.default_mode or Mode.CHAIN),
        planner=settings.default_planner or DEFAULT_PLANNER,
    )


def keep_lengths(fresh: Plan, old: Plan) -> Plan:
    """A re-planned plan keeps the lengths, cap and seams the user chose."""
    new = copy.deepcopy(fresh)
    for seg, before in zip(new.segments, old.segments, strict=False):
        seg.seconds = before.seconds
        seg.model, seg.takes = before.model, before.takes
    new.cast = copy.deepcopy(old.cast)  # inline members keep their pictures
    new.max_cost = old.max_cost
    new.seams = copy.deepcopy(old.seams)
    return new


# --- money and progress ---------------------------------------------------------------


def videos_started(segments: Iterable[Any]) -> bool:
    """Has any video of the job been asked for? (Then its plan is fixed: keyframe edits stop
    reaching plan.json, and a resume renders on instead of reopening the review.)"""
    return any(
        s.status is not SegmentStatus.PENDING or getattr(s, "request_id", None) or getattr(s, "submits", 0)
        for s in segments
    )


def sketch_plan(req: Request, catalog: Catalog) -> Plan:
    """The plan a resolved request will have, before any planner wrote its prompts: enough for
    the length and the estimate (extend mode: the extensions' own lengths)."""
    seconds = int(req.seconds or 0)
    plan = Plan(
        prompt=req.prompt,
        model=req.model,
        resolution=req.resolution or "",
        aspect=req.aspect or "",
        segments=[SegmentPlan(prompt=req.prompt, seconds=seconds) for _ in range(req.segments)],
        mode=req.mode,
        audio=bool(req.audio),
        start_image=req.start_image,
        max_cost=req.max_cost,
    )
    return fit_plan(plan, catalog)


class ResumeStep(enum.StrEnum):
    """What resuming a job does (the one decision; each front end words and wires it)."""

    COMPLETE = "complete"  # the video exists: nothing to render (redo renders segments again)
    REVIEW = "review"  # keyframe mode, every keyframe made, no video started: review them first
    KEYFRAMES = "keyframes"  # keyframe mode, keyframes missing, no video started: make them, then review
    RENDER = "render"  # render (or re-attach to) the segments not done, then join


def resume_step(
    job: Job, segments: Iterable[Any], keyframes: Iterable[KeyframeLike], *, review: bool = True
) -> ResumeStep:
    """What resuming ``job`` does. A keyframe-mode job whose videos have not started never renders
    videos blindly when ``review`` (the studio; the CLI's ``--review-keyframes``): its keyframes are
    reviewed first. Without ``review`` (the CLI's ``resume``, which is how it accepts keyframes) it
    renders on."""
    if job.status is JobStatus.COMPLETED and job.output and Path(job.output).exists():
        return ResumeStep.COMPLETE
    if review and job.mode is Mode.KEYFRAMES and not videos_started(segments):
        kfs = list(keyframes)
        if job.status is JobStatus.AWAITING_REVIEW and kfs and all(k.status == "done" for k in kfs):
            return ResumeStep.REVIEW
        return ResumeStep.KEYFRAMES
    return ResumeStep.RENDER


def job_matches(job: Job, search: str = "", status: str | None = None) -> bool:
    """Does ``job`` match a history search, as ``Store.list_jobs`` filters it: ``search`` a
    case-insensitive substring of the prompt, id or model; ``status`` its stored status."""
    if status and str(job.status) != status:
        return False
    needle = search.strip().casefold()
    return not needle or any(needle in text.casefold() for text in (job.prompt, job.id, job.model))
