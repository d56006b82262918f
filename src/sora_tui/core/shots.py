"""How each shot of a plan reaches its model: the one rule, with its cost.

A shot names cast members; each member must reach the video model one way:

- ``references``: the shot's call is reference-to-video (``r2v`` in the catalog) and carries
  the members' pictures; a shot that continues needs an endpoint that also takes the start
  picture in the same call (Kling O3 does, Veo 3.1 does not);
- ``keyframe``: the image model's edit endpoint makes the shot's first picture from the
  members' pictures (and the shot's prompt), then image-to-video renders from it;
- ``previous``: only the previous shot's last picture carries them (a continuation whose
  model cannot take references and a start picture together: continuity comes first);
- ``none``: the shot names nobody.

A shot that cannot carry its cast (a cut on a model with neither references nor an image model,
more pictures than any way takes) is refused before anything is uploaded: the error names the
shot, the limit and the models that can.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .catalog import Catalog, ModelSpec, shot_kind
from .catalog import validate_plan as catalog_validate_plan
from .models import InputError, Kind, Mode, Plan

ROUTES = ("none", "references", "keyframe", "previous")


@dataclass(frozen=True)
class ShotRoute:
    index: int  # 1-based
    model: str
    kind: Kind  # the kind of the video call
    route: str  # one of ROUTES
    members: list[str] = field(default_factory=list)
    pictures: int = 0  # member pictures the shot sends (references or keyframe edit)
    takes: int = 1
    video_cost: float = 0.0  # one take
    image_cost: float = 0.0  # the cast keyframe (once per shot)
    starts_from: str = "text"  # text | start image | previous | keyframe | start image+references

    @property
    def cost(self) -> float:
        return round(self.video_cost * self.takes + self.image_cost, 4)

    @property
    def describe(self) -> str:
        """One line for people: how the cast reaches the model."""
        if self.route == "none":
            return f"shot {self.index}: no cast, {self.starts_from}"
        who = ", ".join(self.members)
        how = {
            "references": f"{self.pictures} reference picture(s) in the {self.kind} call",
            "keyframe": f"a keyframe made from {self.pictures} picture(s) with the image model",
            "previous": "the previous shot's last picture only",
        }[self.route]
        return f"shot {self.index}: {who} through {how}"


def _units(ks_style: str, pictures: list[int]) -> int:
    """What counts against an endpoint's reference limit: members (elements) or pictures."""
    return len(pictures) if ks_style == "elements" else sum(pictures)


def _reference_fit(spec: ModelSpec, pictures: list[int], seconds: int, needs_start: bool) -> bool:
    if not spec.supports(Kind.R2V):
        return False
    ks = spec.for_kind(Kind.R2V)
    style = str(ks.references.get("style", "list"))
    if _units(style, pictures) > ks.max_references or seconds not in ks.durations:
        return False
    return ks.takes_start or not needs_start


def _keyframe_fit(catalog: Catalog, spec: ModelSpec, pictures: list[int]) -> bool:
    if not spec.supports(Kind.I2V):
        return False
    try:
        image = catalog.image_model_for(spec)
    except InputError:
        return False
    return bool(image.edit) and sum(pictures) <= image.max_images


def shot_route(plan: Plan, catalog: Catalog, index: int, pictures: dict[str, int] | None = None) -> ShotRoute:
    """How shot ``index`` (1-based) is rendered and how its cast reaches the model.

    ``pictures`` gives each member's picture count (the library's or the job's snapshot); a
    member not in it counts one picture. Raises InputError for a shot that cannot carry its cast.
    """
    seg = plan.segments[index - 1]
    spec = catalog.get(plan.shot_model(index))
    audio = spec.has_audio(plan.audio)
    counts = [max(1, (pictures or {}).get(name, 1)) for name in seg.cast]
    base = shot_kind(plan, spec, index)
    if not spec.supports(base):
        base = Kind.T2V
    continues = index > 1 and not seg.is_cut and plan.mode is Mode.CHAIN
    start_image = index == 1 and plan.start_image is not None
    begin = "previous" if continues else "start image" if start_image else "text"
    if base is Kind.FLF2V:
        begin = "keyframes"
    elif base is Kind.EXTEND:
        begin = "previous video"

    def route(kind: Kind, name: str, starts: str, image: float = 0.0, sent: int = 0) -> ShotRoute:
        return ShotRoute(
            index=index,
            model=spec.id,
            kind=kind,
            route=name,
            members=list(seg.cast),
            pictures=sent,
            takes=seg.takes,
            video_cost=spec.for_kind(kind).cost(seg.seconds, plan.resolution, audio),
            image_cost=image,
            starts_from=starts,
        )

    if not seg.cast:
        return route(base, "none", begin)
    if plan.mode in (Mode.KEYFRAMES, Mode.EXTEND):
        # keyframe mode: the boundary keyframes of a shot with cast are edits of its pictures
        # (priced with the keyframes); extend mode: the video before carries them
        return route(base, "keyframe" if plan.mode is Mode.KEYFRAMES else "previous", begin, sent=sum(counts))
    needs_start = continues or start_image
    if _reference_fit(spec, counts, seg.seconds, needs_start):
        starts = f"{begin}+references" if needs_start else "references"
        return route(Kind.R2V, "references", starts, sent=sum(counts))
    if continues:
        return route(base, "previous", begin)
    if _keyframe_fit(catalog, spec, counts):
        price = catalog.image_model_for(spec).price_per_image
        return route(Kind.I2V, "keyframe", "keyframe", image=price, sent=sum(counts))
    able = [
        m.id
        for m in catalog
        if not m.retired
        and plan.resolution in m.resolutions
        and plan.aspect in m.aspects
        and seg.seconds in m.durations
        and (_reference_fit(m, counts, seg.seconds, needs_start) or _keyframe_fit(catalog, m, counts))
    ]
    limit = ""
    if spec.supports(Kind.R2V):
        ks = spec.for_kind(Kind.R2V)
        unit = "members" if ks.references.get("style") == "elements" else "pictures"
        limit = f"; its reference-to-video call takes at most {ks.max_references} {unit}"
    what = "a cut" if index > 1 else "the first shot"
    raise InputError(
        f"plan.segments[{index}].cast",
        f"shot {index} ({what}) cannot show {', '.join(seg.cast)} ({sum(counts)} picture(s)) on {spec.name}"
        f"{limit}; it has no way to send the pictures (references or an image model's edit)",
        able or None,
    )


def shot_routes(plan: Plan, catalog: Catalog, pictures: dict[str, int] | None = None) -> list[ShotRoute]:
    """Every shot's route, in order (raises for the first shot that cannot carry its cast)."""
    return [shot_route(plan, catalog, i, pictures) for i in range(1, len(plan.segments) + 1)]


def validate_plan(plan: Plan, catalog: Catalog) -> ModelSpec:
    """``catalog.validate_plan`` (every value against its models) and a route for every shot's cast."""
    spec = catalog_validate_plan(plan, catalog)
    if plan.cast or plan.cut_indexes():
        shot_routes(plan, catalog)  # raises for a shot that cannot carry its cast
    return spec
