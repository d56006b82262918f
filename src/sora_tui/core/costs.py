"""What things cost, once: the quote every front end shows and the run's budget check charges.

- ``quote(plan, catalog, indexes)``: the videos (each segment at its *kind's* price: t2v, i2v,
  first-last, extend, reference; a shot at its own model's price, once per take, plus the cast
  keyframe its route makes) plus, in keyframe mode, the keyframe images. ``estimate_cost``, the redo
  quote, the CLI's plan table, the studio's plan summary and its confirm dialog all read it.
- ``plan_segment_cost`` (one take of one segment) and ``estimate_cost`` (``quote(...).total``).
- ``over_cap(cost, cap, spent)``: the one cap test (with the one float tolerance).
- ``job_spent(store, job_id)``: what a job has paid so far (videos, keyframe images, speech).
- ``remaining_cost(plan, catalog, segments, keyframes, job_dir)``: what a job still has to pay
  (the budget check of a fresh or resumed run): each call not yet submitted, per take.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .catalog import Catalog, ModelSpec, keyframe_count, segment_kind
from .jobfiles import seg_name
from .models import Mode, Plan, SegmentStatus
from .shots import shot_route

if TYPE_CHECKING:
    from .store import Store

CAP_TOLERANCE = 1e-9  # USD: sums of float prices may land a hair over a cap they meet exactly


def over_cap(cost: float, cap: float | None, spent: float = 0.0) -> bool:
    """Would paying ``cost`` on top of ``spent`` go over ``cap``? (No cap: never.)"""
    return cap is not None and spent + cost > cap + CAP_TOLERANCE


@dataclass(frozen=True)
class Quote:
    """A price before anything is paid: each segment at its kind's price, and the keyframe images."""

    segments: tuple[tuple[int, float], ...]  # (segment index, USD)
    images: int  # keyframe images to make
    image_price: float  # USD per image

    @property
    def videos(self) -> float:
        return round(sum(c for _, c in self.segments), 4)

    @property
    def images_cost(self) -> float:
        return round(self.images * self.image_price, 4)

    @property
    def total(self) -> float:
        return round(self.videos + self.images_cost, 4)

    def segment(self, index: int) -> float:
        return dict(self.segments)[index]


def plan_segment_cost(
    plan: Plan, spec: ModelSpec, index: int, seconds: int | None = None, *, catalog: Catalog | None = None
) -> float:
    """What fal bills for one take of segment ``index`` of ``plan`` (its kind's price); with
    ``catalog`` the shot's own model and its route's kind (references) are priced."""
    if catalog is not None and len(plan.segments) >= index:
        route = shot_route(plan, catalog, index)
        spec = catalog.get(route.model)
        secs = plan.segments[index - 1].seconds if seconds is None else seconds
        return spec.for_kind(route.kind).cost(secs, plan.resolution, spec.has_audio(plan.audio))
    kind = segment_kind(spec, plan.mode, index, plan.start_image is not None)
    secs = plan.segments[index - 1].seconds if seconds is None else seconds
    if not spec.supports(kind):
        return spec.segment_cost(secs, plan.resolution, spec.has_audio(plan.audio))
    return spec.for_kind(kind).cost(secs, plan.resolution, spec.has_audio(plan.audio))


def estimate_cost(plan: Plan, catalog: Catalog) -> float:
    """Videos (each at its kind's price, once per take) plus, in keyframe mode, the keyframe
    images, plus the cast keyframes a shot's route makes with the image model."""
    return quote(plan, catalog).total


def quote(plan: Plan, catalog: Catalog, indexes: list[int] | None = None, *, keyframes: bool = True) -> Quote:
    """The price of rendering ``indexes`` (all segments when None) of ``plan``; in keyframe mode and
    with ``keyframes``, plus the keyframe images (n + 1 boundaries, less one for a start image)."""
    spec = catalog.get(plan.model)
    which = list(range(1, len(plan.segments) + 1)) if indexes is None else indexes
    if plan.uses_shots:  # each shot's own model and route, once per take, plus its cast keyframe
        routes = [(i, shot_route(plan, catalog, i)) for i in which]
        segments = tuple(
            (i, round(r.video_cost * r.takes + (r.image_cost if keyframes else 0.0), 4)) for i, r in routes
        )
    else:
        segments = tuple((i, plan_segment_cost(plan, spec, i)) for i in which)
    images, price = 0, 0.0
    if keyframes and plan.mode is Mode.KEYFRAMES:
        images = keyframe_count(plan)
        price = catalog.image_model_for(spec).price_per_image
    return Quote(segments, images, price)


def job_spent(store: Store, job_id: str) -> float:
    """What a job has paid for: every accepted video request (cancelled ones too), keyframe images
    and the finishing stage's speech."""
    videos = sum(s.cost_usd for s in store.segments(job_id))
    images = sum(k.cost_usd for k in store.keyframes(job_id))
    speech = store.finishing_cost(job_id)  # narration made by the finishing stage
    return round(videos + images + speech, 4)


class SegmentLike(Protocol):
    index: int
    seconds: int
    status: SegmentStatus


class KeyframeLike(Protocol):
    status: str
    cost_usd: float


@dataclass(frozen=True)
class Remaining:
    """What a job still costs: the videos not yet paid for and the keyframe images not yet made."""

    videos: float
    images: float
    videos_left: int  # provider calls still to pay (a shot of N takes counts N)
    images_left: int

    @property
    def total(self) -> float:
        return round(self.videos + self.images, 4)


def calls_to_pay(takes: int, first_submitted: bool, submitted_takes: Iterable[int] = ()) -> int:
    """How many calls of a shot not done are still to pay: take 1 unless its request is stored,
    and each of takes 2..``takes`` whose request is not stored. A stored request was paid for when
    it was accepted: a resume re-attaches to it and fetches its video, it never submits it again."""
    extra = set(submitted_takes)
    return (0 if first_submitted else 1) + sum(1 for t in range(2, takes + 1) if t not in extra)


def remaining_cost(
    plan: Plan,
    catalog: Catalog,
    segments: Iterable[SegmentLike],
    keyframes: Iterable[KeyframeLike] = (),
    job_dir: Path | None = None,
) -> Remaining:
    """What is left to pay: for each shot not done, its calls not yet submitted (``calls_to_pay``;
    with ``job_dir``, the takes already stored in its ``takes.json`` are not counted again) at the
    shot's own price, the cast keyframe its route makes while that picture is not made, plus the
    keyframe images not made yet."""
    spec = catalog.get(plan.model)
    submitted: dict[int, set[int]] = {}
    if job_dir is not None:
        from .takes import TakeBook

        book = TakeBook(job_dir)
        submitted = {i: {t.take for t in book.takes(i) if t.request_id or t.status == "done"} for i in book.shots}
    shots = catalog if plan.uses_shots else None  # each shot's own model and route
    videos, calls = 0.0, 0
    for s in segments:
        if s.status is SegmentStatus.DONE or s.index > len(plan.segments):
            continue
        n = calls_to_pay(
            plan.segments[s.index - 1].takes, bool(getattr(s, "request_id", None)), submitted.get(s.index, ())
        )
        calls += n
        videos += plan_segment_cost(plan, spec, s.index, s.seconds, catalog=shots) * n
        if plan.uses_shots and plan.cast:  # a cast keyframe is made once per shot, before its first call
            made = job_dir is not None and (Path(job_dir) / seg_name(s.index, "_cast.png")).is_file()
            if not made and (n > 0 or job_dir is None):
                from .shots import shot_route

                videos += shot_route(plan, catalog, s.index).image_cost
    images, missing = 0.0, 0
    if plan.mode is Mode.KEYFRAMES:
        done = sum(1 for k in keyframes if k.status == "done")
        missing = max(0, keyframe_count(plan) - done)
        images = missing * catalog.image_model_for(spec).price_per_image
    return Remaining(round(videos, 4), round(images, 4), calls, missing)
