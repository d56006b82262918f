"""Batch files: many jobs in one file, checked line by line before anything is queued.

A batch is JSON Lines (``.jsonl``/``.json``: one JSON object a line; blank lines and lines starting
with ``#`` are skipped) or CSV (``.csv``: a header row naming the fields). Each line is one job:
a ``prompt`` with any ``generate`` option, or a ``plan`` file written by ``sora-tui plan``.

Fields (``-`` and ``_`` are the same): prompt, plan, segments, seconds, model, resolution, aspect,
mode, planner, start_image, no_audio / audio, seams, crossfade, colour_anchor / no_colour_anchor,
colour_reference, narration, max_cost (this job's own cap), output (copy of the final video).

``read`` parses and checks every line first: it returns every problem as ``LineError`` (line,
field, message), so a batch with one bad line is refused whole, with nothing queued.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .models import InputError, Mode, Plan, Request

if TYPE_CHECKING:
    from .services import PlanningServices as Engine

FIELDS = (
    "prompt",
    "plan",
    "segments",
    "seconds",
    "model",
    "resolution",
    "aspect",
    "mode",
    "planner",
    "start_image",
    "audio",
    "no_audio",
    "seams",
    "crossfade",
    "colour_anchor",
    "no_colour_anchor",
    "colour_reference",
    "narration",
    "max_cost",
    "output",
)
_INTS = {"segments", "seconds"}
_FLOATS = {"crossfade", "max_cost"}
_BOOLS = {"audio", "no_audio", "colour_anchor", "no_colour_anchor", "narration"}


@dataclass(frozen=True)
class LineError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, field {self.field}: {self.message}"


class BatchError(InputError):
    """Some lines of a batch are wrong: every one is listed (nothing is queued)."""

    def __init__(self, path: Path, errors: list[LineError]) -> None:
        self.errors = errors
        shown = "\n  ".join(str(e) for e in errors)
        n = len(errors)
        super().__init__(
            "batch",
            f"{path}: {n} problem{'s' if n > 1 else ''}, nothing was queued; fix them and run it again:\n  {shown}",
        )


@dataclass
class BatchLine:
    line: int  # 1-based line number in the file (CSV: the row's line)
    fields: dict[str, Any]
    request: Request | None = None  # a prompt line, resolved against the catalog
    plan: Plan | None = None  # a plan line (read), or the prompt line once planned
    options: dict[str, Any] = field(default_factory=dict)  # run options: max_cost, output


def _norm(name: str) -> str:
    return str(name).strip().lower().replace("-", "_")


def _rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, fields) of each line; raises BatchError for lines that are not objects."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise InputError("batch", f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError("batch", f"cannot read {path}: {exc}") from None
    rows: list[tuple[int, dict[str, Any]]] = []
    errors: list[LineError] = []
    if path.suffix.lower() == ".csv":
        reader = csv.reader(io.StringIO(text))
        header: list[str] | None = None
        for values in reader:
            lineno = reader.line_num
            if not values or all(not v.strip() for v in values) or values[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [_norm(v) for v in values]
                continue
            if len(values) > len(header):
                errors.append(LineError(lineno, "(columns)", f"{len(values)} values for {len(header)} columns"))
                continue
            rows.append((lineno, {k: v for k, v in zip(header, values, strict=False) if v.strip() != ""}))
        if header is None:
            raise InputError("batch", f"{path} has no header row (e.g. prompt,segments,model)")
    else:
        for lineno, raw in enumerate(text.splitlines(), 1):
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as exc:
                errors.append(LineError(lineno, "(json)", f"not valid JSON ({exc.msg} at column {exc.colno})"))
                continue
            if not isinstance(data, dict):
                errors.append(LineError(lineno, "(json)", 'is not a JSON object such as {"prompt": "…"}'))
                continue
            rows.append((lineno, {_norm(k): v for k, v in data.items()}))
    if errors:
        raise BatchError(path, errors)
    if not rows:
        raise InputError("batch", f"{path} has no jobs (one a line: a prompt and options, or a plan file)")
    return rows


def _typed(name: str, value: Any) -> Any:
    """A CSV string (or a JSON value) as the field's type; raises ValueError naming the problem."""
    if value is None:
        return None
    if name in _BOOLS:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"{value!r} is not true or false")
    if name in _INTS:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"{value!r} is not a whole number")
        try:
            return int(str(value).strip()) if not isinstance(value, int | float) else int(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number") from None
    if name in _FLOATS:
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a number")
        try:
            number = float(str(value).strip().lstrip("$"))
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
        if number < 0:
            raise ValueError(f"{number} is below 0")
        return number
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    return value


def _check_line(engine: Engine, base: Path, lineno: int, raw: dict[str, Any]) -> BatchLine:
    """One line checked; raises InputError naming the field."""
    from .jobfiles import check_image_file, check_output_path

    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in FIELDS:
            raise InputError(name, f"is not a batch field (known: {', '.join(FIELDS)})")
        try:
            values[name] = _typed(name, value)
        except ValueError as exc:
            raise InputError(name, str(exc)) from None
    line = BatchLine(lineno, values)

    def rel(p: str) -> Path:  # a path in a batch file is relative to the file's folder
        q = Path(p).expanduser()
        return q if q.is_absolute() else base / q

    if values.get("output"):
        line.options["output"] = str(check_output_path(rel(values["output"])).resolve())
    if values.get("max_cost") is not None:
        line.options["max_cost"] = values["max_cost"]

    if values.get("plan"):
        extra = sorted(set(values) - {"plan", "max_cost", "output"})
        if extra:
            raise InputError(extra[0], "a plan line takes only plan, max_cost and output (edit the plan file)")
        try:
            line.plan = engine.load_plan_file(rel(values["plan"]))
        except InputError as exc:
            raise InputError("plan", exc.problem) from None
        return line
    prompt = values.get("prompt")
    if not prompt or not str(prompt).strip():
        raise InputError("prompt", "is missing or empty; give a prompt or a plan file")
    seams = engine.default_seam_settings()
    if values.get("seams"):
        seams.seams = values["seams"]
    if values.get("crossfade") is not None:
        seams.crossfade_ms = values["crossfade"]
    if values.get("no_colour_anchor") or values.get("colour_anchor") is False:
        seams.colour_anchor = False
    if values.get("colour_reference"):
        seams.colour_reference = engine.check_reference_image(rel(values["colour_reference"]))
    try:
        seams.validate("")
    except InputError as exc:  # named as the batch file names it
        raise InputError("crossfade" if exc.field == "crossfade_ms" else exc.field, exc.problem, exc.allowed) from None
    start = str(check_image_file(rel(values["start_image"]))) if values.get("start_image") else None
    audio: bool | None = None
    if values.get("no_audio"):
        audio = False
    elif values.get("audio") is not None:
        audio = bool(values["audio"])
    try:
        mode = Mode(values.get("mode") or engine.settings.default_mode or "chain")
    except ValueError:
        raise InputError("mode", f"unknown mode {values.get('mode')!r}", [str(m) for m in Mode]) from None
    line.request = engine.resolve(
        Request(
            prompt=str(prompt),
            segments=values.get("segments") or 3,
            seconds=values.get("seconds"),
            model=values.get("model") or engine.default_model(),
            resolution=values.get("resolution") or engine.settings.default_resolution or None,
            aspect=values.get("aspect"),
            mode=mode,
            planner=values.get("planner") or engine.settings.default_planner or "offline",
            start_image=start,
            audio=audio,
            seams=seams,
            narration=bool(values.get("narration")),
        )
    )
    return line


def read(engine: Engine, path: str | Path) -> list[BatchLine]:
    """Every line of a batch file, checked (a render key is needed for a hosted model, as `generate`
    asks). Raises BatchError listing each bad line and field; nothing is queued then."""
    p = Path(path).expanduser()
    rows = _rows(p)
    lines: list[BatchLine] = []
    errors: list[LineError] = []
    for lineno, raw in rows:
        try:
            line = _check_line(engine, p.parent, lineno, raw)
            model = line.plan.model if line.plan is not None else line.request.model if line.request else ""
            engine.check_render_key(model)
        except InputError as exc:
            errors.append(LineError(lineno, exc.field or "(line)", exc.problem))
            continue
        lines.append(line)
    if errors:
        raise BatchError(p, errors)
    return lines


async def plan_all(engine: Engine, lines: list[BatchLine]) -> list[tuple[BatchLine, float]]:
    """Plan every prompt line (plan lines are already plans); each with its estimate."""
    out: list[tuple[BatchLine, float]] = []
    for line in lines:
        if line.plan is None:
            assert line.request is not None
            try:
                line.plan = await engine.plan(line.request)
            except InputError as exc:
                raise BatchError(Path("batch"), [LineError(line.line, exc.field, exc.problem)]) from None
        if line.options.get("max_cost") is not None:
            line.plan.max_cost = line.options["max_cost"]
        out.append((line, engine.estimate(line.plan)))
    return out
