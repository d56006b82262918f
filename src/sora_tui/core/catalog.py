"""Video model registry, loaded from the packaged ``catalog.toml`` plus an optional user file.

Nothing model-specific is hard-coded in Python: endpoints, field names, duration
encodings, allowed values and prices all come from the TOML data.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from .models import MAX_SEGMENTS, MIN_SEGMENTS, InputError, Kind, Mode, Plan, Request
from .planner import PLANNERS

# Height in pixels of each named resolution; width follows from the aspect ratio.
RESOLUTION_HEIGHT = {
    "180p": 180,
    "360p": 360,
    "480p": 480,
    "720p": 720,
    "1080p": 1080,
    "1440p": 1440,
    "2160p": 2160,
    "4k": 2160,
}


def frame_size(resolution: str, aspect: str) -> tuple[int, int]:
    """(width, height) in even pixels for a resolution name and an aspect such as ``16:9``."""
    short = RESOLUTION_HEIGHT.get(resolution, 720)
    if aspect in ("auto", "", None):
        aspect = "16:9"
    a, b = (int(x) for x in aspect.split(":"))
    w: float
    h: float
    if a >= b:  # landscape or square: the resolution names the height
        h, w = short, short * a / b
    else:  # portrait: the resolution names the width
        w, h = short, short * b / a
    return int(round(w / 2) * 2), int(round(h / 2) * 2)


def usd(value: float) -> str:
    """$0.10, $0.112, $0.3024: two decimals at least, more only where the price has them."""
    text = f"{value:.4f}".rstrip("0")
    return "$" + (text + "0" * (2 - len(text.split(".")[1])))


KIND_LABEL = {
    "t2v": "text-to-video",
    "i2v": "image-to-video",
    "flf2v": "first-last-frame",
    "extend": "extend",
    "r2v": "reference-to-video",
}


def encode_duration(duration_format: str, seconds: int) -> Any:
    """How an endpoint wants a duration: "int" -> 8, "{n}s" -> "8s", "{n}" -> "8"."""
    if duration_format == "int":
        return int(seconds)
    return duration_format.format(n=seconds)


def has_audio(audio: str, wanted: bool | None) -> bool:
    """Whether a call makes sound: "always", "none", or "optional" (as wanted, on by default)."""
    if audio == "always":
        return True
    if audio == "none":
        return False
    return True if wanted is None else bool(wanted)


def _table_price(table: dict[str, float] | None, resolution: str) -> float | None:
    if not table:
        return None
    if resolution in table:
        return float(table[resolution])
    if "default" in table:
        return float(table["default"])
    return None


def _price_per_second(price: dict[str, Any], durations: list[int], resolution: str, audio: bool) -> float:
    """USD per second; per-clip prices are spread over the shortest clip."""
    if price.get("per_clip"):
        clip = price["per_clip"]
        d = str(durations[0]) if str(durations[0]) in clip else next(iter(clip))
        return float(clip[d]) / int(d)
    tables = [price.get("per_second_audio"), price.get("per_second")]
    if not audio:
        tables.reverse()
    for table in tables:
        value = _table_price(table, resolution)
        if value is not None:
            return value
    return 0.0


def _segment_cost(price: dict[str, Any], durations: list[int], seconds: int, resolution: str, audio: bool) -> float:
    clip = price.get("per_clip")
    if clip and str(seconds) in clip:
        return float(clip[str(seconds)])
    return round(_price_per_second(price, durations, resolution, audio) * seconds, 4)


@dataclass
class KindSpec:
    """One endpoint of a model: the exact fields it takes and the values each allows."""

    model: ModelSpec
    kind: Kind
    endpoint: str
    durations: list[int]
    default_duration: int | None
    duration_field: str | None
    duration_format: str
    resolutions: list[str]
    resolution_field: str | None
    aspects: list[str]
    aspect_field: str | None
    audio: str
    audio_field: str | None
    fps: int
    fps_field: str | None
    seed_field: str | None
    fields: dict[str, str]
    price: dict[str, Any]
    extra: dict[str, Any]
    min_input_seconds: float | None
    max_input_seconds: float | None
    constraints: list[dict[str, Any]]
    # reference-to-video: field (where the pictures go), style ("list": a list of URLs;
    # "elements": one element per member, frontal picture + the rest), max (pictures per call),
    # start_field / end_field (a start / end picture in the same call; "" = none)
    references: dict[str, Any] = field(default_factory=dict)

    @property
    def max_references(self) -> int:
        return int(self.references.get("max", 0))

    @property
    def takes_start(self) -> bool:
        """Can a start picture go in the same call as the references?"""
        return bool(self.references.get("start_field"))

    @property
    def label(self) -> str:
        return f"{self.model.name} {KIND_LABEL[str(self.kind)]}"

    def encode_duration(self, seconds: int) -> Any:
        return encode_duration(self.duration_format, seconds)

    def has_audio(self, wanted: bool | None) -> bool:
        return has_audio(self.audio, wanted)

    def cost(self, seconds: int, resolution: str, audio: bool) -> float:
        return _segment_cost(self.price, self.durations, seconds, resolution, self.has_audio(audio))

    def check(
        self, seconds: int, resolution: str, aspect: str, prefix: str = "", why: str = "", seconds_field: str = ""
    ) -> None:
        """Refuse what this endpoint would reject, naming the field, the allowed values and why.

        Only what the endpoint is sent is checked: an aspect is not checked where the endpoint
        takes none (the picture's aspect is used), a resolution not where it takes none.
        """
        where = f" ({why})" if why else ""
        if seconds not in self.durations:
            raise InputError(
                seconds_field or prefix + "seconds", f"{self.label} cannot render {seconds} s{where}", self.durations
            )
        if self.resolution_field and resolution not in self.resolutions:
            raise InputError(
                prefix + "resolution", f"{self.label} does not offer {resolution}{where}", self.resolutions
            )
        if self.aspect_field and aspect not in self.aspects:
            raise InputError(prefix + "aspect", f"{self.label} does not offer {aspect}{where}", self.aspects)
        values = {"seconds": seconds, "resolution": resolution, "aspect": aspect}
        for rule in self.constraints:
            if all(values.get(k) in v for k, v in rule.get("when", {}).items()):
                for name, allowed in rule.get("allow", {}).items():
                    if values.get(name) not in allowed:
                        raise InputError(
                            (seconds_field or prefix + name) if name == "seconds" else prefix + name,
                            f"{self.model.name}: {seconds} s needs {' or '.join(map(str, allowed))}, "
                            f"not {values.get(name)}; {rule.get('why', '')}".rstrip("; "),
                            allowed,
                        )

    def allowed_durations(self, resolution: str, aspect: str) -> list[int]:
        """The durations this endpoint renders at ``resolution`` / ``aspect`` (constraints applied)."""
        out = []
        for d in self.durations:
            try:
                self.check(d, resolution, aspect)
            except InputError:
                continue
            out.append(d)
        return out


@dataclass
class ModelSpec:
    id: str
    name: str
    provider: str
    status: str
    durations: list[int]
    resolutions: list[str]
    aspects: list[str]
    endpoints: dict[str, str]
    fields: dict[str, str] = field(default_factory=dict)
    price: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    retired_note: str = ""
    default_duration: int | None = None
    default_resolution: str | None = None
    duration_field: str | None = None
    duration_format: str = "int"
    resolution_field: str | None = None
    aspect_field: str | None = None
    audio: str = "none"  # none | optional | always
    audio_field: str | None = None
    fps: int = 24
    prompt_max: int = 5000
    data_uri: bool = False
    image_model: str = ""  # keyframe image model; "" = the first one of the same provider
    fps_field: str | None = None
    seed_field: str | None = None  # where a take's own seed goes (None: the endpoint takes none)
    kind: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-kind overrides (catalog.toml)
    constraints: list[dict[str, Any]] = field(default_factory=list)  # rules over combinations
    local: dict[str, Any] = field(default_factory=dict)  # provider "local": pipeline, frame rule, ... (localmodels.py)

    @property
    def retired(self) -> bool:
        return self.status == "retired"

    @property
    def kinds(self) -> list[Kind]:
        return [Kind(k) for k in self.endpoints]

    def supports(self, kind: Kind) -> bool:
        return str(kind) in self.endpoints

    def endpoint(self, kind: Kind) -> str:
        try:
            return self.endpoints[str(kind)]
        except KeyError:
            raise InputError("model", f"{self.id} has no {kind} endpoint", self.kinds) from None

    def encode_duration(self, seconds: int) -> Any:
        return encode_duration(self.duration_format, seconds)

    def has_audio(self, wanted: bool | None) -> bool:
        return has_audio(self.audio, wanted)

    def price_per_second(self, resolution: str, audio: bool, kind: Kind | str | None = None) -> float:
        """USD per second of video (of ``kind``, else the model's main price)."""
        return _price_per_second(self._price_table(kind), self.durations, resolution, audio)

    def segment_cost(self, seconds: int, resolution: str, audio: bool, kind: Kind | str | None = None) -> float:
        """What fal bills for one call of ``kind`` that renders ``seconds`` of video."""
        return _segment_cost(self._price_table(kind), self.durations, seconds, resolution, audio)

    def _price_table(self, kind: Kind | str | None) -> dict[str, Any]:
        if kind is not None and str(kind) in self.kind and "price" in self.kind[str(kind)]:
            price: dict[str, Any] = self.kind[str(kind)]["price"]
            return price
        return self.price

    def price_label(self, resolution: str | None = None, kind: Kind | str | None = None) -> str:
        res = resolution or self.default_resolution or self.resolutions[0]
        table = self._price_table(kind)
        audio = self.for_kind(kind).audio if kind is not None and self.supports(Kind(kind)) else self.audio
        if table.get("per_clip"):
            label = ", ".join(f"{usd(v)}/{k}s" for k, v in table["per_clip"].items())
        else:
            silent = _price_per_second(table, self.durations, res, False)
            voiced = _price_per_second(table, self.durations, res, True)
            if audio == "optional" and silent != voiced:
                label = f"{usd(silent)}/s ({usd(voiced)}/s with audio)"
            else:
                label = f"{usd(voiced if audio == 'always' else silent)}/s"
        return label if table.get("confirmed", True) else label + " (estimate)"

    def for_kind(self, kind: Kind | str) -> KindSpec:
        """What one endpoint of this model takes: model-level values with the kind's overrides."""
        k = Kind(kind)
        endpoint = self.endpoint(k)
        over = self.kind.get(str(k), {})

        def pick(name: str) -> Any:
            return over[name] if name in over else getattr(self, name)

        fields = dict(self.fields)
        fields.update(over.get("fields", {}))
        return KindSpec(
            model=self,
            kind=k,
            endpoint=endpoint,
            durations=list(pick("durations")),
            default_duration=over.get("default_duration", self.default_duration),
            duration_field=pick("duration_field") or None,
            duration_format=pick("duration_format"),
            resolutions=list(pick("resolutions")),
            resolution_field=pick("resolution_field") or None,
            aspects=list(pick("aspects")),
            aspect_field=pick("aspect_field") or None,
            audio=pick("audio"),
            audio_field=pick("audio_field") or None,
            fps=int(pick("fps")),
            fps_field=pick("fps_field") or None,
            seed_field=pick("seed_field") or None,
            fields=fields,
            price=dict(over["price"]) if "price" in over else dict(self.price),
            extra=dict(over.get("extra", {})),
            min_input_seconds=over.get("min_input_seconds"),
            max_input_seconds=over.get("max_input_seconds"),
            constraints=[c for c in self.constraints if str(k) in c.get("kinds", [str(k)])],
            references=dict(over.get("references", {})),
        )

    def price_confirmed(self) -> bool:
        """False when any of the model's prices is marked as an estimate in the catalog."""
        tables = [self.price] + [o["price"] for o in self.kind.values() if "price" in o]
        return all(t.get("confirmed", True) for t in tables)

    def validate_prompt(self, prompt: str, field_name: str = "prompt") -> None:
        if not prompt or not prompt.strip():
            raise InputError(field_name, "is empty; describe the video you want")
        if len(prompt) > self.prompt_max:
            raise InputError(
                field_name,
                f"is {len(prompt)} characters, over {self.name}'s limit of {self.prompt_max}; shorten it",
            )

    def check_usable(self) -> None:
        if self.retired:
            note = f" {self.retired_note}" if self.retired_note else ""
            raise InputError(
                "model",
                f"{self.id} is retired and can no longer render.{note} Choose a current model",
                None,
            )


@dataclass
class ImageModelSpec:
    """A text-to-image / image-edit model pair used for keyframes."""

    id: str
    name: str
    provider: str
    t2i: str
    edit: str
    price_per_image: float = 0.0
    status: str = "current"
    max_images: int = 4  # pictures one edit call combines (cast keyframes)


class Catalog:
    def __init__(self, models: dict[str, ModelSpec], image_models: dict[str, ImageModelSpec] | None = None) -> None:
        self.models = models
        self.image_models = image_models or {}

    def image_model_for(self, spec: ModelSpec) -> ImageModelSpec:
        if spec.image_model:
            try:
                return self.image_models[spec.image_model]
            except KeyError:
                raise InputError(
                    "image_model", f"unknown image model {spec.image_model!r}", list(self.image_models)
                ) from None
        for image in self.image_models.values():
            if image.provider == spec.provider and image.status != "retired":
                return image
        raise InputError("mode", f"no keyframe image model for {spec.provider} models; use chain or parallel mode")

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self.models.values())

    def ids(self, include_retired: bool = True) -> list[str]:
        return [m.id for m in self.models.values() if include_retired or not m.retired]

    def get(self, model_id: str) -> ModelSpec:
        try:
            return self.models[model_id]
        except KeyError:
            raise InputError("model", f"unknown model {model_id!r}", self.ids(False)) from None

    def usable(self, model_id: str) -> ModelSpec:
        spec = self.get(model_id)
        if spec.retired:
            try:
                spec.check_usable()
            except InputError as exc:
                raise InputError("model", str(exc).split(": ", 1)[1], self.ids(False)) from None
        return spec

    def default_model(self, has_fal_key: bool) -> str:
        return "veo3.1-fast" if has_fal_key and "veo3.1-fast" in self.models else "preview"


_SpecT = TypeVar("_SpecT", "ModelSpec", "ImageModelSpec")


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _spec(cls: type[_SpecT], section: str, model_id: str, raw: dict[str, Any]) -> _SpecT:
    known = {f.name for f in fields(cls)}
    data = {k: v for k, v in raw.items() if k in known}
    try:
        return cls(id=model_id, **data)
    except TypeError as exc:
        raise InputError(f"catalog.{section}.{model_id}", f"incomplete entry: {exc}") from None


def load_catalog(user_file: Path | None = None) -> Catalog:
    text = resources.files("sora_tui.core").joinpath("catalog.toml").read_text("utf-8")
    raw = tomllib.loads(text)
    if user_file is not None and user_file.exists():
        try:
            extra = tomllib.loads(user_file.read_text("utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InputError(str(user_file), f"cannot read the user catalog: {exc}") from None
        for section in ("models", "image_models"):
            for model_id, entry in extra.get(section, {}).items():
                raw.setdefault(section, {})[model_id] = _merge(raw.get(section, {}).get(model_id, {}), entry)
    return Catalog(
        {mid: _spec(ModelSpec, "models", mid, entry) for mid, entry in raw.get("models", {}).items()},
        {mid: _spec(ImageModelSpec, "image_models", mid, entry) for mid, entry in raw.get("image_models", {}).items()},
    )


# --- request validation ------------------------------------------------------------


def segment_kind(spec: ModelSpec, mode: Mode, index: int, start_image: bool) -> Kind:
    """The kind of provider call that renders segment ``index`` (1-based) in ``mode``.

    The pipeline builds its requests from this, so validation and rendering agree.
    """
    mode = Mode(mode)
    if mode is Mode.KEYFRAMES:
        return Kind.FLF2V
    if index == 1 or mode is Mode.PARALLEL:
        return Kind.I2V if index == 1 and start_image and spec.supports(Kind.I2V) else Kind.T2V
    if mode is Mode.EXTEND:
        return Kind.EXTEND
    return Kind.I2V if spec.supports(Kind.I2V) else Kind.T2V  # chain: from the last frame


def _kind_reason(kind: Kind, index: int, mode: Mode) -> str:
    if kind is Kind.T2V and index == 1:
        return "segment 1 starts from text; give a start image to start from a picture"
    return {
        Kind.T2V: f"{mode} mode renders from text",
        Kind.I2V: "it starts from a picture",
        Kind.FLF2V: "keyframe mode renders between two pictures",
        Kind.EXTEND: "extend mode extends the segment before",
    }[kind]


def mode_models(catalog: Catalog, mode: Mode) -> list[str]:
    """Current models that can serve ``mode``."""
    need = {Mode.KEYFRAMES: Kind.FLF2V, Mode.EXTEND: Kind.EXTEND}.get(Mode(mode))
    return [m.id for m in catalog if not m.retired and (need is None or m.supports(need))]


def model_modes(spec: ModelSpec) -> list[str]:
    """The modes a model can serve."""
    out = [str(Mode.CHAIN), str(Mode.PARALLEL)]
    if spec.supports(Kind.FLF2V):
        out.append(str(Mode.KEYFRAMES))
    if spec.supports(Kind.EXTEND):
        out.append(str(Mode.EXTEND))
    return out


def _check_mode(spec: ModelSpec, mode: Mode, catalog: Catalog, field_name: str) -> None:
    if mode is Mode.KEYFRAMES and not spec.supports(Kind.FLF2V):
        raise InputError(
            field_name,
            f"{spec.name} has no first-last-frame endpoint for keyframe mode; use another model",
            mode_models(catalog, mode),
        )
    if mode is Mode.EXTEND and not spec.supports(Kind.EXTEND):
        raise InputError(
            field_name,
            f"{spec.name} has no extend endpoint for extend mode; use another model",
            mode_models(catalog, mode),
        )


def extend_seconds(spec: ModelSpec, wanted: int) -> int:
    """Seconds an extension adds: ``wanted`` where the extend endpoint allows it, else the nearest it does."""
    ks = spec.for_kind(Kind.EXTEND)
    if wanted in ks.durations:
        return wanted
    return min(ks.durations, key=lambda d: (abs(d - wanted), d))


def fit_plan(plan: Plan, catalog: Catalog) -> Plan:
    """Give the extension segments of an extend-mode plan a length the extend endpoint can add."""
    spec = catalog.get(plan.model)
    if plan.mode is Mode.EXTEND and spec.supports(Kind.EXTEND):
        for seg in plan.segments[1:]:
            seg.seconds = extend_seconds(spec, seg.seconds)
    return plan


def _check_segments(
    spec: ModelSpec,
    mode: Mode,
    seconds: list[int],
    resolution: str,
    aspect: str,
    start_image: bool,
    plan: bool,
    skip: set[int] | None = None,
) -> None:
    """Every provider call the plan will make on ``spec``, checked against its endpoint before anything
    is paid for (``skip``: the shots another model renders)."""
    checked: set[tuple[Kind, int]] = set()
    for i, sec in enumerate(seconds, 1):
        if skip and i in skip:
            continue
        kind = segment_kind(spec, mode, i, start_image)
        ks = spec.for_kind(kind)
        if (kind, sec) not in checked:
            checked.add((kind, sec))
            ks.check(
                sec,
                resolution,
                aspect,
                prefix="plan." if plan else "",
                why=_kind_reason(kind, i, mode),
                seconds_field=f"plan.segments[{i}].seconds" if plan else "seconds",
            )
        if kind is Kind.EXTEND:
            prev = seconds[i - 2]
            lo, hi = ks.min_input_seconds, ks.max_input_seconds
            if (hi is not None and prev > hi) or (lo is not None and prev < lo):
                bounds = f"{lo or 0:g}-{hi:g} s" if hi is not None else f"at least {lo:g} s"
                raise InputError(
                    f"plan.segments[{i - 1}].seconds" if plan else "seconds",
                    f"{ks.label} takes a video of {bounds}; segment {i - 1} ({prev} s) is the video "
                    f"segment {i} extends",
                    [
                        d
                        for d in spec.for_kind(segment_kind(spec, mode, i - 1, start_image)).durations
                        if (hi is None or d <= hi) and (lo is None or d >= lo)
                    ],
                )


def form_choices(spec: ModelSpec, mode: Mode, start_image: bool = False) -> dict[str, list[Any]]:
    """What the prompt screen offers for ``spec`` in ``mode``: the values every call of the plan accepts."""
    mode = Mode(mode)
    if (mode is Mode.KEYFRAMES and not spec.supports(Kind.FLF2V)) or (
        mode is Mode.EXTEND and not spec.supports(Kind.EXTEND)
    ):
        mode = Mode.CHAIN
    kinds = {segment_kind(spec, mode, i, start_image) for i in (1, 2)}
    first = spec.for_kind(segment_kind(spec, mode, 1, start_image))
    resolutions = [
        r
        for r in spec.resolutions
        if all(r in spec.for_kind(k).resolutions or not spec.for_kind(k).resolution_field for k in kinds)
    ]
    aspect_kinds = [spec.for_kind(k) for k in kinds if spec.for_kind(k).aspect_field]
    aspects = [a for a in spec.aspects if all(a in ks.aspects for ks in aspect_kinds)] or list(spec.aspects)
    return {"seconds": list(first.durations), "resolution": resolutions or list(spec.resolutions), "aspect": aspects}


def resolve_request(req: Request, catalog: Catalog, check_files: bool = True) -> Request:
    """Check a request against the chosen model and fill in its defaults (``check_files``: read the start
    image's signature too; a form checking as the user types does that apart, off its UI loop).

    Raises InputError naming the field and the allowed values.
    """
    spec = catalog.usable(req.model)
    spec.validate_prompt(req.prompt)
    if (
        isinstance(req.segments, bool)
        or not isinstance(req.segments, int)
        or not (MIN_SEGMENTS <= req.segments <= MAX_SEGMENTS)
    ):
        raise InputError("segments", f"{req.segments} is out of range", [f"{MIN_SEGMENTS}-{MAX_SEGMENTS}"])
    try:
        mode = Mode(req.mode)
    except ValueError:
        raise InputError("mode", f"unknown mode {req.mode!r}", [str(m) for m in Mode]) from None
    _check_mode(spec, mode, catalog, "mode")
    seconds = req.seconds if req.seconds is not None else (spec.default_duration or spec.durations[0])
    if seconds not in spec.durations:
        raise InputError("seconds", f"{spec.name} cannot render {seconds} s segments", spec.durations)
    resolution = req.resolution or spec.default_resolution or spec.resolutions[0]
    if resolution not in spec.resolutions:
        raise InputError("resolution", f"{spec.name} does not offer {resolution}", spec.resolutions)
    aspect = req.aspect or spec.aspects[0]
    if aspect not in spec.aspects:
        raise InputError("aspect", f"{spec.name} does not offer {aspect}", spec.aspects)
    plan_seconds = [seconds] + [extend_seconds(spec, seconds) if mode is Mode.EXTEND else seconds] * (req.segments - 1)
    _check_segments(spec, mode, plan_seconds, resolution, aspect, req.start_image is not None, plan=False)
    if req.planner not in PLANNERS:
        raise InputError("planner", f"unknown planner {req.planner!r}", list(PLANNERS))
    if req.start_image is not None and check_files:
        from .jobfiles import check_image_file

        check_image_file(req.start_image, decode=False)  # the signature here; CLI and Plan decode it too
    if req.max_cost is not None and req.max_cost < 0:
        raise InputError("max_cost", "must be zero or more (USD)")
    return Request(
        prompt=req.prompt.strip(),
        segments=req.segments,
        seconds=seconds,
        model=spec.id,
        resolution=resolution,
        aspect=aspect,
        mode=mode,
        planner=req.planner,
        start_image=str(Path(req.start_image).expanduser().resolve()) if req.start_image else None,
        audio=spec.has_audio(req.audio),
        max_cost=req.max_cost,
    )


def validate_plan(plan: Plan, catalog: Catalog) -> ModelSpec:
    """Check an (edited or loaded) plan's values against its models; raises InputError. The route of
    each shot's cast is checked above the catalog: ``shots.validate_plan`` checks both."""
    spec = catalog.usable(plan.model)
    if not (MIN_SEGMENTS <= len(plan.segments) <= MAX_SEGMENTS):
        raise InputError(
            "plan.segments", f"{len(plan.segments)} segments is out of range", [f"{MIN_SEGMENTS}-{MAX_SEGMENTS}"]
        )
    _check_mode(spec, plan.mode, catalog, "plan.mode")
    if plan.resolution not in spec.resolutions:
        raise InputError("plan.resolution", f"{spec.name} does not offer {plan.resolution}", spec.resolutions)
    if plan.aspect not in spec.aspects:
        raise InputError("plan.aspect", f"{spec.name} does not offer {plan.aspect}", spec.aspects)
    # a shot with its own model is checked against that model (in _check_shots), not the plan's
    own = {i for i in range(1, len(plan.segments) + 1) if plan.own_model(i)}
    for i, seg in enumerate(plan.segments, 1):
        if i not in own:
            spec.validate_prompt(seg.prompt, f"plan.segments[{i}].prompt")
    _check_segments(
        spec,
        plan.mode,
        [s.seconds for s in plan.segments],
        plan.resolution,
        plan.aspect,
        plan.start_image is not None,
        plan=True,
        skip=own,
    )
    if plan.mode is Mode.KEYFRAMES:
        if plan.keyframes and len(plan.keyframes) != len(plan.segments) + 1:
            raise InputError(
                "plan.keyframes",
                f"has {len(plan.keyframes)} descriptions; keyframe mode needs one per boundary "
                f"({len(plan.segments) + 1} for {len(plan.segments)} segments), or none to derive them",
            )
        catalog.image_model_for(spec)
    _check_shots(plan, catalog)
    return spec


def _check_shots(plan: Plan, catalog: Catalog) -> None:
    """Version-2 fields: per-shot models (usable, the plan's resolution and aspect, the shot's
    length) and cuts (chain or parallel mode only)."""
    from .models import check_shot_cast

    check_shot_cast(plan.segments, plan.cast)  # an edited plan: every name a shot gives is in the cast
    cuts = plan.cut_indexes()
    if cuts and plan.mode in (Mode.KEYFRAMES, Mode.EXTEND):
        raise InputError(
            f"plan.segments[{cuts[0]}].transition",
            f"a cut cannot be made in {plan.mode} mode (every shot there continues); use chain or parallel mode",
            ["continue"],
        )
    for i, seg in enumerate(plan.segments, 1):
        if not plan.own_model(i):
            continue
        where = f"plan.segments[{i}].model"
        if plan.mode in (Mode.KEYFRAMES, Mode.EXTEND):
            raise InputError(where, f"a per-shot model cannot be used in {plan.mode} mode; use chain or parallel mode")
        if seg.model not in catalog.models:
            raise InputError(where, f"unknown model {seg.model!r}", catalog.ids(False))
        shot = catalog.get(seg.model)
        if shot.retired:
            raise InputError(where, f"{shot.id} is retired and can no longer render", catalog.ids(False))

        def able(m: ModelSpec, seconds: int = seg.seconds) -> bool:
            return (
                not m.retired
                and plan.resolution in m.resolutions
                and plan.aspect in m.aspects
                and seconds in m.durations
            )

        if not able(shot):
            what = (
                f"the plan's resolution {plan.resolution}"
                if plan.resolution not in shot.resolutions
                else f"the plan's aspect {plan.aspect}"
                if plan.aspect not in shot.aspects
                else f"{seg.seconds} s"
            )
            raise InputError(
                where, f"{shot.name} cannot make {what} (shot {i})", [m.id for m in catalog if able(m)] or None
            )
        spec_i = catalog.get(seg.model)
        spec_i.validate_prompt(seg.prompt, f"plan.segments[{i}].prompt")
        kind = shot_kind(plan, spec_i, i)
        if not spec_i.supports(kind):
            kind = Kind.T2V
        spec_i.for_kind(kind).check(
            seg.seconds, plan.resolution, plan.aspect, prefix="plan.", seconds_field=f"plan.segments[{i}].seconds"
        )


def keyframe_count(plan: Plan) -> int:
    """Keyframe images to generate: N+1 boundaries, less the first when the user gave a start image."""
    if plan.mode is not Mode.KEYFRAMES:
        return 0
    return len(plan.segments) + 1 - (1 if plan.start_image else 0)


def shot_kind(plan: Plan, spec: ModelSpec, index: int) -> Kind:
    """The kind of call that renders shot ``index`` before references are considered: a cut
    (chain mode) starts from text, anything else as ``segment_kind`` says."""
    seg = plan.segments[index - 1]
    if index > 1 and seg.is_cut and plan.mode is Mode.CHAIN:
        return Kind.T2V
    return segment_kind(spec, plan.mode, index, plan.start_image is not None)
