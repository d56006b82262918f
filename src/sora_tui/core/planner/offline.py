"""Deterministic offline planner: N story beats with continuity wording.

A video model sees only its own segment prompt, so every prompt repeats the whole
subject and style and says how the shot continues from the previous one.
"""

from __future__ import annotations

from ..catalog import ModelSpec
from ..finish.narration import fit_words, word_budget, word_count
from ..models import CastMember, Metadata, Mode, Plan, Request, SegmentPlan, normalise_hashtags
from .base import Planner

# (title, what happens, camera) for each phase of a short story arc
_BEATS = [
    ("Establishing", "the scene is introduced and the subject is first seen", "wide establishing shot, slow push-in"),
    (
        "Approach",
        "the subject begins to move and the surroundings come alive",
        "smooth tracking shot following the subject",
    ),
    ("Detail", "a close look at the subject reveals texture and small motions", "gentle dolly-in to a medium close-up"),
    ("Journey", "the subject travels onward and the environment unfolds", "steady side tracking shot"),
    ("Turn", "something changes: light shifts and the mood intensifies", "slow orbit around the subject"),
    ("Peak", "the most striking moment of the story", "low-angle hero shot, slight crane up"),
    ("Release", "the motion calms and the scene settles", "slow pull-back"),
    ("Resolution", "the story comes to rest in a final image", "wide shot, camera holds still then drifts away"),
]

# one narration line per beat (kept within ~2.5 words a second by fit_words)
_NARRATION = [
    "It begins: {subject}.",
    "Slowly, everything starts to move.",
    "Look closer, at every small detail.",
    "The journey carries on.",
    "Then the light begins to change.",
    "This is the moment it builds to.",
    "Now the motion settles.",
    "And here, the story comes to rest.",
]
_FALLBACK = [
    "Here it begins.",
    "It moves.",
    "Look closer.",
    "Onward.",
    "Light shifts.",
    "The peak.",
    "Calm.",
    "The end.",
]
_STOP = {"a", "an", "the", "of", "in", "on", "at", "to", "and", "with", "down", "up", "into", "over", "its", "for"}


def narration_line(beat_i: int, subject: str, seconds: int, budget_share: float = 0.8) -> str:
    """The beat's line, fitted to the segment (a margin of 20 % for a real voice's pauses)."""
    budget = max(1, int(word_budget(seconds) * budget_share))
    line = _NARRATION[beat_i].format(subject=subject[:1].lower() + subject[1:])
    return line if word_count(line) <= budget else fit_words(_FALLBACK[beat_i], budget)


def offline_metadata(subject: str) -> Metadata:
    words = subject.split()
    title = " ".join(words[:8]).strip(" ,.;:").capitalize()
    description = (
        f"{subject.capitalize()}. One continuous shot told in parts: it opens wide, follows the subject, "
        "looks closer, turns with the light and comes to rest on a calm final image."
    )
    tags = [w for w in (x.strip(",.;:!?").lower() for x in words) if len(w) > 3 and w not in _STOP]
    return Metadata(title=title, description=description, hashtags=normalise_hashtags(tags[:5] + ["aivideo"]))


_CONTINUITY = (
    "Continues seamlessly from the previous shot: it begins exactly on the previous final frame, "
    "with the same subject identity, wardrobe, colours, art style, lighting and lens."
)
_STYLE = "Consistent cinematic style, natural motion, no cuts, no text on screen."


def _beat_indices(n: int) -> list[int]:
    """Spread n segments over the arc so the first is the opening and the last the resolution."""
    if n == 1:
        return [0]
    last = len(_BEATS) - 1
    return [round(i * last / (n - 1)) for i in range(n)]


def cast_line(members: list[CastMember]) -> str:
    """``Featuring Mara (character: a courier in a red coat), the Lamp (object).``"""
    parts = []
    for m in members:
        parts.append(f"{m.name} ({m.kind}: {m.description})" if m.description else f"{m.name} ({m.kind})")
    return f"Featuring {', '.join(parts)}." if parts else ""


def offline_plan(req: Request) -> Plan:
    subject = req.prompt.strip().rstrip(".")
    n = req.segments
    seconds = int(req.seconds or 4)
    featuring = cast_line(req.cast)
    names = [m.name for m in req.cast]
    segments = []
    for k, beat_i in enumerate(_beat_indices(n), 1):
        title, action, camera = _BEATS[beat_i]
        parts = [f"{subject}.", f"Part {k} of {n} — {title.lower()}: {action}.", f"Camera: {camera}."]
        if k == 1:
            parts.append("Opening shot of a continuous single take.")
        else:
            parts.append(_CONTINUITY)
        if k == n and n > 1:
            parts.append("Ends on a calm, well-composed final frame.")
        if featuring:
            parts.insert(1, featuring)
        parts.append(_STYLE)
        narration = narration_line(beat_i, subject, seconds) if req.narration else ""
        # the named cast is in every shot and every boundary continues (the offline planner tells no cuts)
        segments.append(
            SegmentPlan(
                prompt=" ".join(parts),
                seconds=seconds,
                title=title,
                narration=narration,
                cast=list(names),
                transition="continue",
                takes=max(1, req.takes),
            )
        )
    keyframes: list[str] = []
    if Mode(req.mode) is Mode.KEYFRAMES:
        keyframes = [f"{subject}. Opening frame: {_BEATS[0][1]}. {_STYLE}"]
        for k, beat_i in enumerate(_beat_indices(n), 1):
            title, action, _ = _BEATS[beat_i]
            keyframes.append(
                f"{subject}. Frame at the end of part {k} ({title.lower()}): {action}. "
                "Same subject, style and light as the previous keyframe."
            )
    return Plan(
        prompt=req.prompt.strip(),
        model=req.model,
        resolution=req.resolution or "",
        aspect=req.aspect or "",
        segments=segments,
        mode=Mode(req.mode),
        audio=bool(req.audio),
        start_image=req.start_image,
        keyframes=keyframes,
        planner="offline",
        metadata=offline_metadata(subject),
        cast=[CastMember(m.name, m.kind, m.description) for m in req.cast],
    )


class OfflinePlanner(Planner):
    name = "offline"

    async def plan(self, req: Request, spec: ModelSpec) -> Plan:
        return offline_plan(req)
