"""Typed domain models of the engine: requests, plans, jobs, segments and events.

Plain dataclasses (no pydantic) so that ``import sora_tui.core`` stays fast; plans
serialise to a versioned JSON document that users may edit by hand.
"""

from __future__ import annotations

import enum
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import InputError as InputError  # re-exported: the engine raises it everywhere

PLAN_VERSION = 2  # 2: shots (cast, transition, per-shot model, camera, takes); version 1 still loads
PLAN_VERSIONS = (1, 2)
MIN_SEGMENTS = 1
MAX_SEGMENTS = 60
CAST_KINDS = ("character", "object", "place", "style")
TRANSITIONS = ("continue", "cut")  # continue: starts on the previous last frame; cut: a new shot
MAX_TAKES = 4
MAX_CAST_PICTURES = 4


class JobStatus(enum.StrEnum):
    DRAFT = "draft"
    QUEUED = "queued"
    AWAITING_REVIEW = "awaiting_review"
    GENERATING = "generating"
    JOINING = "joining"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class SegmentStatus(enum.StrEnum):
    PENDING = "pending"
    WAITING = "waiting"
    SUBMITTED = "submitted"
    RUNNING = "running"
    DOWNLOADED = "downloaded"
    DONE = "done"
    FAILED = "failed"


class Mode(enum.StrEnum):
    CHAIN = "chain"
    PARALLEL = "parallel"
    KEYFRAMES = "keyframes"
    EXTEND = "extend"  # segment k+1 extends segment k's video (models with an extend endpoint)


class Kind(enum.StrEnum):
    """What a provider call does: text-to-video, image-to-video, first-last-frame, extend,
    reference-to-video (pictures of the cast, and where the endpoint takes one, a start picture)."""

    T2V = "t2v"
    I2V = "i2v"
    FLF2V = "flf2v"
    EXTEND = "extend"
    R2V = "r2v"


@dataclass
class SeamSettings:
    """How the join treats seams (kept with the plan, so a resume joins the same way)."""

    seams: str = "auto"  # auto | off
    crossfade_ms: float = 80.0  # sound crossfade at each seam (0 = off)
    colour_anchor: bool = True  # hold colour to the first segment (hand-off and join)
    colour_reference: str | None = None  # or to this picture

    MODES = ("auto", "off")

    def to_dict(self) -> dict[str, Any]:
        return {
            "seams": self.seams,
            "crossfade_ms": self.crossfade_ms,
            "colour_anchor": self.colour_anchor,
            "colour_reference": self.colour_reference,
        }

    @classmethod
    def from_dict(cls, data: Any) -> SeamSettings:
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise InputError("plan.seams", "must be an object")
        s = cls(
            seams=str(data.get("seams", "auto")),
            crossfade_ms=data.get("crossfade_ms", 80.0),
            colour_anchor=bool(data.get("colour_anchor", True)),
            colour_reference=data.get("colour_reference"),
        )
        s.validate("plan.seams.")
        return s

    def validate(self, prefix: str = "") -> None:
        if self.seams not in self.MODES:
            raise InputError(f"{prefix}seams", f"unknown value {self.seams!r}", list(self.MODES))
        if isinstance(self.crossfade_ms, bool) or not isinstance(self.crossfade_ms, (int, float)):
            raise InputError(f"{prefix}crossfade_ms", "must be a number of milliseconds")
        if not 0 <= self.crossfade_ms <= 1000:
            raise InputError(f"{prefix}crossfade_ms", f"{self.crossfade_ms} is out of range", ["0-1000"])
        if self.colour_reference is not None and not isinstance(self.colour_reference, str):
            raise InputError(f"{prefix}colour_reference", "must be a path or null")


@dataclass
class Request:
    """What the user asked for, before planning."""

    prompt: str
    segments: int = 3
    seconds: int | None = None
    model: str = "preview"
    resolution: str | None = None
    aspect: str | None = None
    mode: Mode = Mode.CHAIN
    planner: str = "offline"
    start_image: str | None = None
    audio: bool | None = None
    max_cost: float | None = None
    seams: SeamSettings | None = None  # None: the settings' defaults
    narration: bool = False  # the planner also writes a narration line per segment
    cast: list[CastMember] = field(default_factory=list)  # members offered to the planner (resolved)
    takes: int = 1  # takes of every shot (--takes)


@dataclass
class CastMember:
    """A named character, object, place or style with 1-4 reference pictures.

    In the library ``images`` are the copies kept in the data folder; in a plan's ``cast`` an
    entry with no ``images`` names a library member, one with ``images`` is inline.
    """

    name: str
    kind: str = "character"
    description: str = ""
    images: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.description:
            data["description"] = self.description
        if self.images:
            data["images"] = list(self.images)
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str = "cast") -> CastMember:
        if isinstance(data, str):  # a bare library name
            data = {"name": data}
        if not isinstance(data, dict):
            raise InputError(where, "must be a member name or an object with name, kind, description, images")
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{where}.name", "must be a non-empty string")
        kind = data.get("kind", "character")
        if kind not in CAST_KINDS:
            raise InputError(f"{where}.kind", f"unknown kind {kind!r}", list(CAST_KINDS))
        description = data.get("description") or ""
        if not isinstance(description, str):
            raise InputError(f"{where}.description", "must be a string")
        images = data.get("images") or []
        if not isinstance(images, list) or not all(isinstance(i, str) and i.strip() for i in images):
            raise InputError(f"{where}.images", "must be a list of picture paths")
        if len(images) > MAX_CAST_PICTURES:
            raise InputError(
                f"{where}.images",
                f"has {len(images)} pictures; a member has at most {MAX_CAST_PICTURES}",
                [f"1-{MAX_CAST_PICTURES}"],
            )
        return cls(name=name.strip(), kind=str(kind), description=description.strip(), images=list(images))


@dataclass
class SegmentPlan:
    prompt: str
    seconds: int
    title: str = ""
    narration: str = ""  # spoken over this segment (finishing stage); "" = none
    cast: list[str] = field(default_factory=list)  # names of the plan's cast members in this shot
    transition: str = "continue"  # how this shot begins: continue (previous last frame) or cut
    model: str | None = None  # a per-shot model (None: the plan's)
    camera: str = ""  # shot size and movement, sent in the prompt
    takes: int = 1  # takes to render of this shot (the best is kept)

    @property
    def is_cut(self) -> bool:
        return self.transition == "cut"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"title": self.title, "seconds": self.seconds, "prompt": self.prompt}
        if self.narration:
            data["narration"] = self.narration
        if self.cast:
            data["cast"] = list(self.cast)
        if self.transition != "continue":
            data["transition"] = self.transition
        if self.model:
            data["model"] = self.model
        if self.camera:
            data["camera"] = self.camera
        if self.takes != 1:
            data["takes"] = self.takes
        return data

    def video_prompt(self) -> str:
        """What the video model is sent: the prompt, and the camera where the shot names one."""
        if self.camera and self.camera.lower() not in self.prompt.lower():
            return f"{self.prompt} Camera: {self.camera}."
        return self.prompt


@dataclass
class Metadata:
    """What the planner (or the user) writes about the finished video: title, description, hashtags."""

    title: str = ""
    description: str = ""
    hashtags: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.title or self.description or self.hashtags)

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "description": self.description, "hashtags": list(self.hashtags)}

    @classmethod
    def from_dict(cls, data: Any) -> Metadata:
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise InputError("plan.metadata", "must be an object with title, description and hashtags")
        tags = data.get("hashtags") or []
        if isinstance(tags, str):
            tags = tags.split()
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise InputError("plan.metadata.hashtags", "must be a list of words")
        return cls(
            title=str(data.get("title") or "").strip(),
            description=str(data.get("description") or "").strip(),
            hashtags=normalise_hashtags(tags),
        )


def normalise_hashtags(tags: list[str]) -> list[str]:
    """``["#Fox", "snow forest", "fox"]`` → ``["#fox", "#snowforest"]``: one ``#word`` each, no duplicates."""
    out: list[str] = []
    for tag in tags:
        word = "".join(ch for ch in str(tag) if ch.isalnum() or ch == "_").lower()
        if word and f"#{word}" not in out:
            out.append(f"#{word}")
    return out


@dataclass
class Plan:
    """An editable storyboard: N segments (and, in keyframe mode, N+1 keyframe descriptions)."""

    prompt: str
    model: str
    resolution: str
    aspect: str
    segments: list[SegmentPlan]
    mode: Mode = Mode.CHAIN
    audio: bool = True
    start_image: str | None = None
    keyframes: list[str] = field(default_factory=list)
    planner: str = "offline"
    seams: SeamSettings = field(default_factory=SeamSettings)
    version: int = PLAN_VERSION
    metadata: Metadata = field(default_factory=Metadata)
    max_cost: float | None = None  # budget cap in USD for rendering this plan (None: no cap)
    cast: list[CastMember] = field(default_factory=list)  # members the shots may name

    @property
    def uses_shots(self) -> bool:
        """Does the plan use any version-2 field (cast, cuts, per-shot models, takes)?"""
        return (
            bool(self.cast) or bool(self.cut_indexes()) or any(s.model or s.cast or s.takes > 1 for s in self.segments)
        )

    @property
    def cast_names(self) -> list[str]:
        return [c.name for c in self.cast]

    def cut_indexes(self) -> list[int]:
        """1-based indexes of the shots that begin with a cut (never shot 1: it begins the video)."""
        return [i for i, s in enumerate(self.segments, 1) if i > 1 and s.is_cut]

    def runs(self) -> list[list[int]]:
        """The runs of shots joined by ``continue``: each starts at shot 1 or at a cut."""
        out: list[list[int]] = []
        for i, seg in enumerate(self.segments, 1):
            if i == 1 or seg.is_cut:
                out.append([i])
            else:
                out[-1].append(i)
        return out

    def shot_model(self, index: int) -> str:
        """The model that renders shot ``index`` (1-based): its own or the plan's."""
        return self.segments[index - 1].model or self.model

    def own_model(self, index: int) -> bool:
        """Whether shot ``index`` (1-based) names a model other than the plan's (checked and priced against it)."""
        return self.shot_model(index) != self.model

    @property
    def has_narration(self) -> bool:
        return any(s.narration.strip() for s in self.segments)

    @property
    def total_seconds(self) -> int:
        return sum(s.seconds for s in self.segments)

    def keyframe_prompts(self) -> list[str]:
        """N+1 boundary descriptions: the plan's own, else derived from the segment prompts."""
        if len(self.keyframes) == len(self.segments) + 1:
            return list(self.keyframes)
        first = f"Opening frame. {self.segments[0].prompt}"
        return [first] + [f"Final frame of part {k}. {s.prompt}" for k, s in enumerate(self.segments, 1)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "prompt": self.prompt,
            "model": self.model,
            "resolution": self.resolution,
            "aspect": self.aspect,
            "mode": str(self.mode),
            "audio": self.audio,
            "start_image": self.start_image,
            "planner": self.planner,
            "segments": [s.to_dict() for s in self.segments],
            "keyframes": list(self.keyframes),
            "seams": self.seams.to_dict(),
            **({"metadata": self.metadata.to_dict()} if self.metadata else {}),
            **({"max_cost": self.max_cost} if self.max_cost is not None else {}),
            **({"cast": [c.to_dict() for c in self.cast]} if self.cast else {}),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Plan:
        """Parse a plan document; raises InputError naming the bad field."""
        if not isinstance(data, dict):
            raise InputError("plan", "must be a JSON object")
        version = data.get("version")
        if isinstance(version, bool) or version not in PLAN_VERSIONS:
            raise InputError("plan.version", f"unsupported plan version {version!r}", list(PLAN_VERSIONS))

        def req_str(key: str) -> str:
            value = data.get(key)
            if not isinstance(value, str) or not value.strip():
                raise InputError(f"plan.{key}", "must be a non-empty string")
            return value

        raw_segments = data.get("segments")
        if not isinstance(raw_segments, list) or not raw_segments:
            raise InputError("plan.segments", "must be a non-empty list")
        segments = []
        for i, raw in enumerate(raw_segments, 1):
            if not isinstance(raw, dict):
                raise InputError(f"plan.segments[{i}]", "must be an object")
            prompt = raw.get("prompt")
            if not isinstance(prompt, str) or not prompt.strip():
                raise InputError(f"plan.segments[{i}].prompt", "must be a non-empty string")
            seconds = raw.get("seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, int):
                raise InputError(f"plan.segments[{i}].seconds", "must be a whole number of seconds")
            title = raw.get("title") or ""
            narration = raw.get("narration") or ""
            if not isinstance(narration, str):
                raise InputError(f"plan.segments[{i}].narration", "must be a string (the words spoken)")
            seg = SegmentPlan(prompt=prompt.strip(), seconds=seconds, title=str(title), narration=narration.strip())
            _shot_fields(seg, raw, f"plan.segments[{i}]")
            segments.append(seg)
        raw_cast = data.get("cast") or []
        if not isinstance(raw_cast, list):
            raise InputError("plan.cast", "must be a list of members (library names or objects with images)")
        cast = [CastMember.from_dict(c, f"plan.cast[{i}]") for i, c in enumerate(raw_cast, 1)]
        seen: set[str] = set()
        for i, member in enumerate(cast, 1):
            if member.name.lower() in seen:
                raise InputError(f"plan.cast[{i}].name", f"{member.name!r} is named twice; give each member once")
            seen.add(member.name.lower())
        check_shot_cast(segments, cast)
        try:
            mode = Mode(data.get("mode", "chain"))
        except ValueError:
            raise InputError("plan.mode", f"unknown mode {data.get('mode')!r}", list(Mode)) from None
        keyframes = data.get("keyframes") or []
        if not isinstance(keyframes, list) or not all(isinstance(k, str) for k in keyframes):
            raise InputError("plan.keyframes", "must be a list of strings")
        start_image = data.get("start_image")
        if start_image is not None and not isinstance(start_image, str):
            raise InputError("plan.start_image", "must be a path or null")
        max_cost = data.get("max_cost")
        if max_cost is not None and (isinstance(max_cost, bool) or not isinstance(max_cost, int | float)):
            raise InputError("plan.max_cost", "must be a number of dollars or null")
        if max_cost is not None and max_cost < 0:
            raise InputError("plan.max_cost", f"{max_cost} is negative; give a cap of 0 or more dollars")
        return cls(
            prompt=req_str("prompt"),
            model=req_str("model"),
            resolution=req_str("resolution"),
            aspect=req_str("aspect"),
            segments=segments,
            mode=mode,
            audio=bool(data.get("audio", True)),
            start_image=start_image,
            keyframes=list(keyframes),
            planner=str(data.get("planner") or "offline"),
            seams=SeamSettings.from_dict(data.get("seams")),
            metadata=Metadata.from_dict(data.get("metadata")),
            max_cost=None if max_cost is None else float(max_cost),
            cast=cast,
        )


def _shot_fields(seg: SegmentPlan, raw: dict[str, Any], where: str) -> None:
    """Read a version-2 shot's fields into ``seg`` (absent: the version-1 defaults)."""
    cast = raw.get("cast") or []
    if isinstance(cast, str):
        cast = [c.strip() for c in cast.split(",") if c.strip()]
    if not isinstance(cast, list) or not all(isinstance(c, str) and c.strip() for c in cast):
        raise InputError(f"{where}.cast", "must be a list of cast member names")
    transition = raw.get("transition", "continue")
    if transition not in TRANSITIONS:
        raise InputError(f"{where}.transition", f"unknown transition {transition!r}", list(TRANSITIONS))
    model = raw.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise InputError(f"{where}.model", "must be a model id or null (the plan's model)")
    camera = raw.get("camera") or ""
    if not isinstance(camera, str):
        raise InputError(f"{where}.camera", "must be a string (shot size and movement)")
    takes = raw.get("takes", 1)
    if isinstance(takes, bool) or not isinstance(takes, int) or not 1 <= takes <= MAX_TAKES:
        raise InputError(f"{where}.takes", f"{takes!r} is out of range", [f"1-{MAX_TAKES}"])
    seg.cast = [c.strip() for c in cast]
    seg.transition = str(transition)
    seg.model = model.strip() if isinstance(model, str) else None
    seg.camera = camera.strip()
    seg.takes = takes


def check_shot_cast(segments: list[SegmentPlan], cast: list[CastMember]) -> None:
    """Every name a shot gives is a member of the plan's cast (matched without case), once."""
    names = {c.name.lower(): c.name for c in cast}
    for i, seg in enumerate(segments, 1):
        seen: set[str] = set()
        for name in seg.cast:
            if name.lower() not in names:
                raise InputError(
                    f"plan.segments[{i}].cast",
                    f"{name!r} is not in the plan's cast" + ("" if names else " (the plan has no cast)"),
                    list(names.values()),
                )
            if name.lower() in seen:
                raise InputError(f"plan.segments[{i}].cast", f"{name!r} is named twice")
            seen.add(name.lower())
        seg.cast = [names[n.lower()] for n in seg.cast]


@dataclass
class Segment:
    """One rendered (or to-be-rendered) piece of a job, as kept in the store."""

    job_id: str
    index: int  # 1-based
    prompt: str
    seconds: int
    title: str = ""
    status: SegmentStatus = SegmentStatus.PENDING
    request_id: str | None = None
    status_url: str | None = None
    response_url: str | None = None
    cancel_url: str | None = None
    endpoint: str | None = None
    file: str | None = None
    first_frame: str | None = None
    last_frame: str | None = None
    cost_usd: float = 0.0
    attempts: int = 0
    submits: int = 0
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    seed: int | None = None  # None: the segment's number (a redo draws a fresh one)
    cancelled_at: float | None = None  # its stored request was cancelled (kept: a retry re-attaches first)
    cancelled_while: str | None = None  # "queued" (dropped, not billed) or "running" (may finish, billed)
    gpu_seconds: float | None = None  # a local model's render: the seconds it held the GPU


@dataclass
class Job:
    id: str
    prompt: str
    model: str
    mode: Mode
    status: JobStatus
    plan: Plan | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    output: str | None = None
    error: str | None = None
    cost_usd: float = 0.0
    estimated_cost_usd: float = 0.0
    duration_s: float | None = None
    folder: str | None = None
    seams: dict[str, Any] | None = None  # the seam report of the last join (see core/join.py)
    # what kind of failure ``error`` is (an ``errors.Code`` value) and its facts: each front end words
    # what to do from them (store migration 8); None for no failure, or one with no code
    error_code: str | None = None
    error_context: dict[str, Any] | None = None

    @property
    def job_dir(self) -> Path:
        assert self.folder is not None
        return Path(self.folder)


# --- events -----------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    job_id: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["type"] = type(self).__name__
        return data


@dataclass(frozen=True)
class JobStatusChanged(Event):
    status: JobStatus
    message: str = ""


@dataclass(frozen=True)
class SegmentStatusChanged(Event):
    index: int
    status: SegmentStatus
    message: str = ""


@dataclass(frozen=True)
class SegmentProgress(Event):
    """Progress inside one segment: fraction in [0, 1] or None when unknown."""

    index: int
    fraction: float | None
    stage: str = ""  # "queued", "rendering", "downloading", ...
    queue_position: int | None = None
    message: str = ""


@dataclass(frozen=True)
class KeyframeReady(Event):
    index: int  # 0..N
    path: str


@dataclass(frozen=True)
class LogLine(Event):
    message: str
    level: str = "info"
    index: int | None = None  # segment, if any


@dataclass(frozen=True)
class CostUpdate(Event):
    spent_usd: float
    estimated_usd: float


@dataclass(frozen=True)
class JoinProgress(Event):
    fraction: float


@dataclass(frozen=True)
class FinishProgress(Event):
    """Progress of a finishing or export step: ``stage`` (e.g. "narration", "mix", "web-720p"), ETA in seconds."""

    stage: str
    fraction: float
    eta_s: float | None = None
    message: str = ""


@dataclass(frozen=True)
class TaskStarted(Event):
    """A runner started a task on a job other than rendering it: ``task`` is "finish", "export" or
    "keyframe"; ``what`` names it for people ("finish", a preset, "keyframe 2")."""

    task: str
    what: str
    index: int | None = None  # the keyframe a "keyframe" task makes (None for the others)


@dataclass(frozen=True)
class TaskDone(Event):
    """A runner's task ended: ``outcome`` is "done", "failed" or "cancelled"; ``result`` the file it
    wrote (when done), ``error`` what went wrong (when failed); ``index`` the keyframe a "keyframe" task made."""

    task: str
    what: str
    outcome: str
    result: str | None = None
    error: str | None = None
    index: int | None = None
    error_code: str | None = None  # the failure's errors.Code, for each front end's advice
    error_context: dict[str, Any] | None = None  # the code's facts


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        JobStatusChanged,
        SegmentStatusChanged,
        SegmentProgress,
        KeyframeReady,
        LogLine,
        CostUpdate,
        JoinProgress,
        FinishProgress,
        TaskStarted,
        TaskDone,
    )
}


def event_to_dict(event: Event, t: float | None = None) -> dict[str, Any]:
    """One event as plain JSON data: ``{"t": time, "type": "SegmentProgress", ...fields}``."""
    return {"t": time.time() if t is None else t, **event.to_dict()}


def event_from_dict(data: dict[str, Any]) -> Event | None:
    """The event ``event_to_dict`` wrote (None for a type this version does not know)."""
    cls = EVENT_TYPES.get(str(data.get("type")))
    if cls is None:
        return None
    names = {f.name for f in fields(cls)}
    values = {k: v for k, v in data.items() if k in names}
    if cls is JobStatusChanged:
        values["status"] = JobStatus(values["status"])
    elif cls is SegmentStatusChanged:
        values["status"] = SegmentStatus(values["status"])
    return cls(**values)
