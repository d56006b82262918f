"""The prompt form: everything a Request needs, with an inline error line under each field.

``to_request()`` / ``load_request()`` convert to and from the engine's ``Request``
(posting-style), so the screen never reads raw widget values.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Select, Static

from ...core.catalog import Catalog, ModelSpec, form_choices
from ...core.models import MAX_SEGMENTS, MIN_SEGMENTS, InputError, Mode, Request
from ...core.planner import PLANNERS as planner_registry
from ..advice import explain, problem
from .text_area import TextArea

FIELDS = ("prompt", "segments", "seconds", "model", "resolution", "aspect", "mode", "planner", "start_image")
PLANNERS = [(f"{name} ({needs})", name) for name, needs in planner_registry.items()]
NARRATION = [("none", False), ("the planner writes it", True)]
MODES = [("chain", "chain"), ("parallel", "parallel"), ("keyframes", "keyframes"), ("extend", "extend")]
MODE_HELP = (
    "chain: each segment starts on the last frame of the one before · parallel: all at once · "
    "keyframes: shared boundary pictures you review first · extend: each segment extends the video before"
)


def model_label(spec: ModelSpec) -> str:
    label = f"{spec.name} · {spec.price_label()}"
    if spec.retired:
        label += " · retired"
    return label


class FieldError(Static):
    """The message under a field that says what to change."""

    DEFAULT_CSS = """
    FieldError { color: $text-error; height: auto; display: none; }
    FieldError.-shown { display: block; }
    FieldError.-note { color: $text-warning; }
    """

    _message = ""

    def show(self, message: str, note: bool = False) -> None:
        """Show ``message`` as plain text (paths, provider errors: never parsed as markup)."""
        if message != self._message:
            self._message = message
            self.update(Text(message))
            self.set_class(bool(message), "-shown")
        self.set_class(note, "-note")


class RequestForm(Vertical):
    DEFAULT_CSS = """
    RequestForm { height: auto; layout: vertical; }
    RequestForm #form-prompt, RequestForm #form-fields { height: auto; }
    RequestForm #prompt { height: 5; border: none; padding: 0 1; background: $boost; }
    RequestForm #prompt:focus { background: $boost; border: none; }
    RequestForm .fields { height: auto; }
    RequestForm .field { width: 1fr; height: auto; padding-right: 1; }
    RequestForm .field Label, RequestForm #form-prompt Label { color: $text-muted; }
    RequestForm Select { width: 100%; }
    RequestForm SelectCurrent Static#label { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    RequestForm Input { width: 100%; background: $boost; }
    RequestForm SelectCurrent { background: $boost; }
    RequestForm.-wide { layout: horizontal; }
    RequestForm.-wide #form-prompt { width: 1fr; padding-right: 2; }
    RequestForm.-wide #form-fields { width: 1fr; }
    RequestForm.-wide #prompt { height: 14; }
    """

    class Changed(Message):
        def __init__(self, form: RequestForm) -> None:
            super().__init__()
            self.form = form

    def __init__(self, catalog: Catalog, defaults: Request, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.catalog = catalog
        self.defaults = defaults
        self._loading = False

    # --- layout -------------------------------------------------------------------

    def _field(self, name: str, label: str, widget: Any) -> Vertical:
        return Vertical(Label(label), widget, FieldError(id=f"err-{name}"), classes="field", id=f"field-{name}")

    def compose(self) -> ComposeResult:
        spec = self._spec(self.defaults.model)
        with Vertical(id="form-prompt"):
            yield Label("Prompt — what the whole video shows")
            yield TextArea(self.defaults.prompt, id="prompt", soft_wrap=True, show_line_numbers=False, compact=True)
            yield FieldError(id="err-prompt")
        with Vertical(id="form-fields"):
            with Horizontal(classes="fields"):
                yield self._field(
                    "segments",
                    f"Segments ({MIN_SEGMENTS}-{MAX_SEGMENTS})",
                    Input(str(self.defaults.segments), id="segments", type="integer", max_length=3, compact=True),
                )
                yield self._field(
                    "seconds",
                    "Seconds each",
                    self._choice(self._seconds_options(spec), "seconds", self._seconds_value(spec)),
                )
                yield self._field(
                    "model",
                    "Model · price",
                    self._choice([(model_label(m), m.id) for m in self.catalog], "model", spec.id),
                )
            with Horizontal(classes="fields"):
                yield self._field(
                    "resolution",
                    "Resolution",
                    self._choice(
                        [(r, r) for r in spec.resolutions],
                        "resolution",
                        self._pick(self.defaults.resolution, spec.resolutions, spec.default_resolution),
                    ),
                )
                yield self._field(
                    "aspect",
                    "Aspect",
                    self._choice(
                        [(a, a) for a in spec.aspects], "aspect", self._pick(self.defaults.aspect, spec.aspects, None)
                    ),
                )
                mode = self._choice(MODES, "mode", str(Mode(self.defaults.mode)))
                mode.tooltip = MODE_HELP
                yield self._field("mode", "Mode", mode)
            with Horizontal(classes="fields"):
                yield self._field(
                    "planner", "Planner", self._choice(PLANNERS, "planner", self.defaults.planner or "offline")
                )
                yield self._field(
                    "narration",
                    "Narration",
                    self._choice(NARRATION, "narration", bool(self.defaults.narration)),
                )
            yield self._field(
                "start_image",
                "Start image (optional: a PNG/JPEG the first segment starts on)",
                Input(
                    self.defaults.start_image or "",
                    id="start_image",
                    placeholder="e.g. ~/Pictures/first-frame.png",
                    compact=True,
                ),
            )

    @staticmethod
    def _choice(options: list[tuple[str, Any]], name: str, value: Any) -> Select[Any]:
        return Select(options, id=name, allow_blank=False, value=value, compact=True)

    # --- helpers ------------------------------------------------------------------

    def _spec(self, model_id: str) -> ModelSpec:
        try:
            return self.catalog.get(model_id)
        except InputError:
            return self.catalog.get("preview")

    @staticmethod
    def _pick(value: Any, allowed: list[Any], default: Any) -> Any:
        if value in allowed:
            return value
        if default in allowed:
            return default
        return allowed[0]

    def _seconds_options(self, spec: ModelSpec) -> list[tuple[str, int]]:
        return [(f"{d} s", d) for d in spec.durations]

    def _seconds_value(self, spec: ModelSpec) -> int:
        return int(self._pick(self.defaults.seconds, spec.durations, spec.default_duration))

    def _select(self, name: str) -> Select[Any]:
        return self.query_one(f"#{name}", Select)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id in ("model", "mode") and not self._loading:
            self._apply_model(str(self._select("model").value))
        self.post_message(self.Changed(self))

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.id == "start_image" and not self._loading:  # a picture start allows e.g. `auto` aspect
            self._apply_model(str(self._select("model").value))
        self.post_message(self.Changed(self))

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self))

    def _apply_model(self, model_id: str) -> None:
        """Offer only the durations, resolutions and aspects that every call of the chosen model
        and mode accepts (e.g. LTX-2.3 text-to-video takes no `auto` aspect; Veo Fast extends at 720p)."""
        spec = self._spec(model_id)
        mode_value = self._select("mode").value
        mode = Mode(str(mode_value)) if isinstance(mode_value, str) else Mode.CHAIN
        start_image = bool(self.query_one("#start_image", Input).value.strip())
        choices = form_choices(spec, mode, start_image)
        for name, allowed, default, labels in (
            ("seconds", choices["seconds"], spec.default_duration, lambda d: f"{d} s"),
            ("resolution", choices["resolution"], spec.default_resolution, str),
            ("aspect", choices["aspect"], None, str),
        ):
            select = self._select(name)
            current = select.value
            select.set_options([(labels(v), v) for v in allowed])
            select.value = self._pick(current, allowed, default)

    # --- model conversion -----------------------------------------------------------

    def to_request(self) -> Request:
        """The form as a Request; raises InputError when a field cannot even be parsed."""
        raw = self.query_one("#segments", Input).value.strip()
        try:
            segments = int(raw)
        except ValueError:
            raise InputError(
                "segments", "enter a whole number of segments", [f"{MIN_SEGMENTS}-{MAX_SEGMENTS}"]
            ) from None
        start = self.query_one("#start_image", Input).value.strip() or None
        return Request(
            prompt=self.query_one("#prompt", TextArea).text,
            segments=segments,
            seconds=int(self._select("seconds").value),  # type: ignore[arg-type]  # allow_blank=False: never Select.BLANK
            model=str(self._select("model").value),
            resolution=str(self._select("resolution").value),
            aspect=str(self._select("aspect").value),
            mode=Mode(str(self._select("mode").value)),
            planner=str(self._select("planner").value),
            start_image=start,
            narration=bool(self._select("narration").value),
        )

    def load_request(self, req: Request) -> None:
        self._loading = True
        try:
            self.query_one("#prompt", TextArea).load_text(req.prompt)
            self.query_one("#segments", Input).value = str(req.segments)
            self._select("model").value = req.model
            self._select("mode").value = str(Mode(req.mode))
            self.query_one("#start_image", Input).value = req.start_image or ""
            self._apply_model(req.model)
            spec = self._spec(req.model)
            choices = form_choices(spec, Mode(req.mode), bool(req.start_image))
            self._select("seconds").value = self._pick(req.seconds, choices["seconds"], spec.default_duration)
            self._select("resolution").value = self._pick(
                req.resolution, choices["resolution"], spec.default_resolution
            )
            self._select("aspect").value = self._pick(req.aspect, choices["aspect"], None)
            self._select("planner").value = req.planner
            self._select("narration").value = bool(req.narration)
        finally:
            self._loading = False

    # --- errors -------------------------------------------------------------------

    def clear_errors(self) -> None:
        for err in self.query(FieldError):
            err.show("")

    def show_error(self, exc: InputError) -> str:
        """Put the message next to its field (the label above it names the field); returns the field."""
        name = exc.field.split(".")[-1] if exc.field else "prompt"
        if name not in FIELDS:
            name = "model" if "key" in name else "prompt"
        text = problem(exc) if name == exc.field.split(".")[-1] else explain(exc)
        self.query_one(f"#err-{name}", FieldError).show(f"✗ {text}")
        return name

    def show_note(self, name: str, text: str) -> None:
        """Not an error (planning goes on): something to know about a field, e.g. that rendering needs a key."""
        self.query_one(f"#err-{name}", FieldError).show(f"ⓘ {text}", note=True)
