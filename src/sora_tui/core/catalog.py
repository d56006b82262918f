"""Video model registry, loaded from the packaged ``catalog.toml`` plus an optional user file.

Nothing model-specific is hard-coded in Python: endpoints, field names, duration
encodings, allowed values and prices all come from the TOML data.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .models import MAX_SEGMENTS, MIN_SEGMENTS, InputError, Kind, Mode, Plan, Request

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
    if a >= b:  # landscape or square: the resolution names the height
        h, w = short, short * a / b
    else:  # portrait: the resolution names the width
        w, h = short, short * b / a
    return int(round(w / 2) * 2), int(round(h / 2) * 2)


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
        if self.duration_format == "int":
            return int(seconds)
        return self.duration_format.format(n=seconds)

    def has_audio(self, wanted: bool | None) -> bool:
        if self.audio == "always":
            return True
        if self.audio == "none":
            return False
        return True if wanted is None else bool(wanted)

    def _table_price(self, table: dict[str, float] | None, resolution: str) -> float | None:
        if not table:
            return None
        if resolution in table:
            return float(table[resolution])
        if "default" in table:
            return float(table["default"])
        return None

    def price_per_second(self, resolution: str, audio: bool) -> float:
        """USD per second of video; per-clip prices are spread over the clip."""
        if self.price.get("per_clip"):
            clip = self.price["per_clip"]
            d = str(self.durations[0])
            return float(clip[d]) / int(d)
        tables = [self.price.get("per_second_audio"), self.price.get("per_second")]
        if not audio:
            tables.reverse()
        for table in tables:
            value = self._table_price(table, resolution)
            if value is not None:
                return value
        return 0.0

    def segment_cost(self, seconds: int, resolution: str, audio: bool) -> float:
        clip = self.price.get("per_clip")
        if clip and str(seconds) in clip:
            return float(clip[str(seconds)])
        return round(self.price_per_second(resolution, audio) * seconds, 4)

    def price_label(self, resolution: str | None = None) -> str:
        res = resolution or self.default_resolution or self.resolutions[0]
        if self.price.get("per_clip"):
            return ", ".join(f"${v:.2f}/{k}s" for k, v in self.price["per_clip"].items())
        silent = self.price_per_second(res, False)
        voiced = self.price_per_second(res, True)
        if self.audio == "optional" and silent != voiced:
            return f"${silent:.2f}/s (${voiced:.2f}/s with audio)"
        return f"${voiced if self.audio == 'always' else silent:.2f}/s"

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

    def __iter__(self):
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


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _spec(cls: type, section: str, model_id: str, raw: dict[str, Any]) -> Any:
    known = set(cls.__dataclass_fields__)
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


def resolve_request(req: Request, catalog: Catalog) -> Request:
    """Check a request against the chosen model and fill in its defaults.

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
    seconds = req.seconds if req.seconds is not None else (spec.default_duration or spec.durations[0])
    if seconds not in spec.durations:
        raise InputError("seconds", f"{spec.name} cannot render {seconds} s segments", spec.durations)
    resolution = req.resolution or spec.default_resolution or spec.resolutions[0]
    if resolution not in spec.resolutions:
        raise InputError("resolution", f"{spec.name} does not offer {resolution}", spec.resolutions)
    aspect = req.aspect or spec.aspects[0]
    if aspect not in spec.aspects:
        raise InputError("aspect", f"{spec.name} does not offer {aspect}", spec.aspects)
    mode = Mode(req.mode)
    if mode is Mode.KEYFRAMES and not spec.supports(Kind.FLF2V):
        flf = [m.id for m in catalog if m.supports(Kind.FLF2V) and not m.retired]
        raise InputError(
            "mode", f"{spec.name} has no first-last-frame endpoint for keyframe mode; use another model", flf
        )
    if req.planner not in ("offline", "openai"):
        raise InputError("planner", f"unknown planner {req.planner!r}", ["offline", "openai"])
    if req.start_image is not None:
        path = Path(req.start_image).expanduser()
        if not path.is_file():
            raise InputError("start_image", f"{req.start_image} is not a readable file")
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
    """Check an (edited or loaded) plan against its model; raises InputError."""
    spec = catalog.usable(plan.model)
    if not (MIN_SEGMENTS <= len(plan.segments) <= MAX_SEGMENTS):
        raise InputError(
            "plan.segments", f"{len(plan.segments)} segments is out of range", [f"{MIN_SEGMENTS}-{MAX_SEGMENTS}"]
        )
    if plan.resolution not in spec.resolutions:
        raise InputError("plan.resolution", f"{spec.name} does not offer {plan.resolution}", spec.resolutions)
    if plan.aspect not in spec.aspects:
        raise InputError("plan.aspect", f"{spec.name} does not offer {plan.aspect}", spec.aspects)
    for i, seg in enumerate(plan.segments, 1):
        spec.validate_prompt(seg.prompt, f"plan.segments[{i}].prompt")
        if seg.seconds not in spec.durations:
            raise InputError(
                f"plan.segments[{i}].seconds", f"{spec.name} cannot render {seg.seconds} s", spec.durations
            )
    if plan.mode is Mode.KEYFRAMES:
        if not spec.supports(Kind.FLF2V):
            raise InputError("plan.mode", f"{spec.name} has no first-last-frame endpoint for keyframe mode")
        if plan.keyframes and len(plan.keyframes) != len(plan.segments) + 1:
            raise InputError(
                "plan.keyframes",
                f"has {len(plan.keyframes)} descriptions; keyframe mode needs one per boundary "
                f"({len(plan.segments) + 1} for {len(plan.segments)} segments), or none to derive them",
            )
        catalog.image_model_for(spec)
    return spec


def keyframe_count(plan: Plan) -> int:
    """Keyframe images to generate: N+1 boundaries, less the first when the user gave a start image."""
    if plan.mode is not Mode.KEYFRAMES:
        return 0
    return len(plan.segments) + 1 - (1 if plan.start_image else 0)


def estimate_cost(plan: Plan, catalog: Catalog) -> float:
    """Videos plus, in keyframe mode, the keyframe images."""
    spec = catalog.get(plan.model)
    audio = spec.has_audio(plan.audio)
    total = sum(spec.segment_cost(s.seconds, plan.resolution, audio) for s in plan.segments)
    if plan.mode is Mode.KEYFRAMES:
        total += keyframe_count(plan) * catalog.image_model_for(spec).price_per_image
    return round(total, 4)
