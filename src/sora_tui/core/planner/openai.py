"""OpenAI planner: structured outputs from any OpenAI-compatible chat-completions server.

``client.chat.completions.parse(model=..., response_format=<pydantic model>)`` returns the
plan as a typed object. The plan is validated (segment count, durations, non-empty
prompts, keyframe count) and, if wrong, sent back once with the problems listed. Every
failure becomes a ``PlannerError`` whose message says what happened and offers
``--planner offline``. ``openai`` and ``pydantic`` are imported only here, lazily.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..catalog import ModelSpec
from ..errors import Code
from ..finish.narration import WORDS_PER_SECOND, word_budget, word_count
from ..keys import get_key, redact
from ..models import CastMember, Metadata, Mode, Plan, Request, SegmentPlan, normalise_hashtags
from ..settings import Settings
from .base import Planner, PlannerError

if TYPE_CHECKING:
    from pydantic import BaseModel

# A machine-readable line in the user message (OpenAI-compatible test servers read it).
SPEC_LINE = "PLAN SPEC: segments={n}; seconds={s}; keyframes={k}"
CAST_LINE = "PLAN CAST: {names}"

SYSTEM = """You are the storyboard writer of a long AI video made of consecutive clips.
A text-to-video model renders each segment separately and sees ONLY that segment's prompt,
so every prompt must be self-contained: restate the subject (identity, wardrobe, colours),
the setting, the visual style, the lighting and the camera language in every segment.
Segment k+1 begins exactly where segment k ends (its first frame is segment k's last frame):
describe a continuous action with no cuts, the same subject identity, style, lighting and
lens throughout, and an ending for each segment that the next one can continue from.
Write concrete, visual, present-tense prompts (what is seen and heard, how the camera moves),
no text overlays, no scene numbers inside the prompts. Titles are 1-3 words.
Each segment is a shot: give its `transition` ("continue": it starts on the previous shot's
last frame, the default; "cut": a new shot that changes angle, place or time and does NOT
start from the previous picture; the first shot is always "continue"), its `camera` (shot size
and movement) and its `cast`: the names of the given cast members who appear in it (only
names from the given cast; an empty list when none appears)."""


def _response_models() -> type[BaseModel]:
    from typing import Literal

    from pydantic import BaseModel, Field

    class SegmentOut(BaseModel):
        title: str = Field(description="a 1-3 word title")
        seconds: int = Field(description="the duration of this segment in seconds")
        prompt: str = Field(description="the self-contained video prompt of this segment")
        narration: str = Field(description="the words spoken over this segment when narration is asked for, else empty")
        cast: list[str] = Field(description="names of the given cast members who appear in this shot")
        transition: Literal["continue", "cut"] = Field(
            description="continue: starts on the previous shot's last frame; cut: a new shot"
        )
        camera: str = Field(description="shot size and camera movement, e.g. 'close-up, slow push-in'")

    class PlanOut(BaseModel):
        segments: list[SegmentOut]
        keyframes: list[str] = Field(
            description="keyframe mode: N+1 still-image descriptions at the segment boundaries; otherwise empty"
        )
        title: str = Field(description="a short title for the whole video")
        description: str = Field(description="a one-paragraph description of the video for publishing")
        hashtags: list[str] = Field(description="3-8 hashtags for publishing")

    return PlanOut


def _user_message(req: Request, spec: ModelSpec, keyframes: bool) -> str:
    n, s = req.segments, int(req.seconds or 0)
    k = n + 1 if keyframes else 0
    lines = [
        f"Idea: {req.prompt.strip()}",
        "",
        f"Write exactly {n} segments of exactly {s} seconds each ({n * s} s in total) for {spec.name}.",
        f"Each segment prompt must be at most {spec.prompt_max} characters.",
        f"Aspect ratio {req.aspect or 'any'}; {'with' if req.audio else 'without'} sound.",
    ]
    if req.start_image:
        lines.append("The first segment starts from a given still image of the subject; keep its look.")
    if req.cast:
        lines.append("Cast (reference pictures of each are sent to the video model; name them in `cast`):")
        for m in req.cast:
            lines.append(f"- {m.name} ({m.kind})" + (f": {m.description}" if m.description else ""))
        lines.append(
            "Give each shot the members who appear in it; use cuts where the story changes angle, place or time."
        )
    else:
        lines.append("There is no cast: leave every cast list empty.")
    if keyframes:
        lines.append(
            f"Also write exactly {k} keyframes: still-image descriptions of the frame at the start of "
            f"segment 1, then at the end of each segment; each self-contained (subject, setting, style, light)."
        )
    else:
        lines.append("Return an empty keyframes list.")
    if req.narration:
        lines.append(
            f"Write a narration line per segment, spoken over it: at most {word_budget(s)} words "
            f"(about {WORDS_PER_SECOND:g} words a second), plain spoken English, no stage directions."
        )
    else:
        lines.append("Leave every narration empty.")
    lines.append("Also write a title, a one-paragraph description and 3-8 hashtags for publishing the video.")
    lines += ["", SPEC_LINE.format(n=n, s=s, k=k)]
    if req.cast:
        lines.append(CAST_LINE.format(names=", ".join(m.name for m in req.cast)))
    return "\n".join(lines)


def _problems(
    parsed: Any,
    n: int,
    seconds: int,
    keyframes: bool,
    spec: ModelSpec,
    narration: bool = False,
    cast: list[str] | None = None,
) -> list[str]:
    out: list[str] = []
    segments = list(getattr(parsed, "segments", None) or [])
    known = {c.lower() for c in cast or []}
    for i, seg in enumerate(segments, 1):
        if not known:  # no cast was given: any names are dropped, not argued over
            break
        for name in getattr(seg, "cast", None) or []:
            if name.strip().lower() not in known:
                allowed = ", ".join(cast or [])
                out.append(f"segment {i} names {name!r}, who is not in the cast (allowed: {allowed})")
    for i, seg in enumerate(segments, 1):
        text = getattr(seg, "narration", "") or ""
        if narration and not text.strip():
            out.append(f"segment {i} has no narration")
        elif narration and word_count(text) > word_budget(seg.seconds):
            out.append(
                f"segment {i}'s narration has {word_count(text)} words; {seg.seconds} s fit at most "
                f"{word_budget(seg.seconds)}"
            )
    if len(segments) != n:
        out.append(f"there are {len(segments)} segments; exactly {n} are needed")
    for i, seg in enumerate(segments, 1):
        if seg.seconds != seconds:
            out.append(f"segment {i} lasts {seg.seconds} s; every segment must last exactly {seconds} s")
        if not seg.prompt or not seg.prompt.strip():
            out.append(f"segment {i} has an empty prompt")
        elif len(seg.prompt) > spec.prompt_max:
            out.append(f"segment {i}'s prompt is {len(seg.prompt)} characters; the limit is {spec.prompt_max}")
    frames = [k for k in (getattr(parsed, "keyframes", None) or [])]
    if keyframes:
        if len(frames) != n + 1:
            out.append(f"there are {len(frames)} keyframes; exactly {n + 1} are needed")
        if any(not k or not k.strip() for k in frames):
            out.append("a keyframe description is empty")
    return out


class OpenAIPlanner(Planner):
    name = "openai"

    def __init__(self, settings: Settings | None = None, env: Mapping[str, str] | None = None) -> None:
        self.settings = settings or Settings()
        self.env: Mapping[str, str] = dict(os.environ) if env is None else env

    def _where(self) -> str:
        return self.settings.openai_base_url or "api.openai.com"

    async def plan(self, req: Request, spec: ModelSpec) -> Plan:
        key = get_key("openai", self.env)
        if not key.present:
            extra = f" ({key.detail})" if key.detail else ""
            raise PlannerError(
                f"no OpenAI key is set for the openai planner{extra}",
                code=Code.KEY_MISSING,
                context={"key": "openai", "env_var": "OPENAI_API_KEY", "use": "planner"},
            )
        secret = key.value or ""
        try:
            import openai
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise PlannerError(f"the openai package cannot be imported ({exc})") from None
        client = openai.AsyncOpenAI(
            api_key=secret,
            base_url=self.settings.openai_base_url or None,
            max_retries=max(0, int(self.settings.openai_max_retries)),
            timeout=max(5.0, float(self.settings.request_timeout)),
        )
        try:
            return await self._plan(client, req, spec)
        except PlannerError as exc:
            raise PlannerError(redact(str(exc), [secret]), code=exc.code, context=exc.context) from None
        finally:
            await client.close()

    async def _plan(self, client: Any, req: Request, spec: ModelSpec) -> Plan:
        keyframes = Mode(req.mode) is Mode.KEYFRAMES
        n, seconds = req.segments, int(req.seconds or spec.default_duration or spec.durations[0])
        PlanOut = _response_models()
        messages: list[dict[str, str]] = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": _user_message(req, spec, keyframes)},
        ]
        problems: list[str] = []
        for attempt in range(2):  # the first answer and ONE repair
            parsed, content = await self._ask(client, messages, PlanOut, last=attempt == 1)
            if parsed is None:
                problems = ["the answer was not valid JSON for the requested schema"]
                messages.append(
                    {
                        "role": "user",
                        "content": "Your answer was not valid JSON for the schema. Answer again with only the JSON plan.",
                    }
                )
                continue
            problems = _problems(parsed, n, seconds, keyframes, spec, req.narration, [m.name for m in req.cast])
            if not problems:
                return self._to_plan(parsed, req, keyframes)
            messages.append({"role": "assistant", "content": content or ""})
            messages.append(
                {
                    "role": "user",
                    "content": "The plan has these problems:\n- "
                    + "\n- ".join(problems)
                    + f"\nReturn the corrected complete plan: exactly {n} segments of {seconds} s"
                    + (f" and exactly {n + 1} keyframes." if keyframes else "."),
                }
            )
        raise PlannerError(
            f"the planner model ({self.settings.openai_model}) returned an unusable plan twice: "
            + "; ".join(problems)
            + "; try again"
        )

    async def _ask(
        self, client: Any, messages: list[dict[str, str]], schema: Any, last: bool
    ) -> tuple[Any, str | None]:
        """One request; (parsed, raw content), or (None, None) for invalid JSON that a repair may fix."""
        import openai
        from pydantic import ValidationError

        model = self.settings.openai_model
        where = self._where()
        try:
            completion = await client.chat.completions.parse(model=model, response_format=schema, messages=messages)
        except openai.LengthFinishReasonError:
            raise PlannerError(
                f"the planner's answer was cut off (finish_reason=length) by {model}; use fewer segments, "
                "or a model with a longer output"
            ) from None
        except openai.ContentFilterFinishReasonError:
            raise PlannerError(
                f"{model} stopped planning because of its content filter (finish_reason=content_filter); "
                "rephrase the prompt"
            ) from None
        except openai.AuthenticationError as exc:
            raise PlannerError(
                f"OpenAI rejected the API key (HTTP 401: {_api_message(exc)})",
                code=Code.KEY_REJECTED,
                context={"key": "openai", "env_var": "OPENAI_API_KEY", "use": "planner"},
            ) from None
        except openai.PermissionDeniedError as exc:
            raise PlannerError(f"the OpenAI key may not use {model} (HTTP 403: {_api_message(exc)})") from None
        except openai.RateLimitError as exc:
            raise PlannerError(
                f"OpenAI is rate-limiting this key (HTTP 429 after {self.settings.openai_max_retries} retries: "
                f"{_api_message(exc)}); wait a minute and try again"
            ) from None
        except openai.NotFoundError as exc:
            raise PlannerError(
                f"the planner model {model} is not available at {where} (HTTP 404: {_api_message(exc)}); set "
                "openai_model in the settings"
            ) from None
        except openai.APITimeoutError:
            raise PlannerError(f"the planner at {where} did not answer in time") from None
        except openai.APIConnectionError as exc:
            raise PlannerError(f"cannot reach the planner at {where} ({_cause(exc)})") from None
        except openai.APIStatusError as exc:
            raise PlannerError(f"the planner at {where} failed (HTTP {exc.status_code}: {_api_message(exc)})") from None
        except (ValidationError, ValueError) as exc:
            if last:
                raise PlannerError(
                    f"the planner at {where} did not return valid JSON for the plan schema ({_short(exc)})"
                ) from None
            return None, None
        except openai.OpenAIError as exc:
            raise PlannerError(f"the planner failed ({_short(exc)})") from None
        if not completion.choices:
            raise PlannerError(f"the planner at {where} returned no answer")
        message = completion.choices[0].message
        if getattr(message, "refusal", None):
            raise PlannerError(f"{model} refused to plan this video: {message.refusal}")
        if message.parsed is None:
            if last:
                raise PlannerError(f"the planner at {where} returned an empty answer")
            return None, None
        return message.parsed, message.content

    def _to_plan(self, parsed: Any, req: Request, keyframes: bool) -> Plan:
        names = {m.name.lower(): m.name for m in req.cast}

        def shot_cast(seg: Any) -> list[str]:
            out: list[str] = []
            for name in getattr(seg, "cast", None) or []:
                real = names.get(name.strip().lower())
                if real and real not in out:
                    out.append(real)
            return out

        return Plan(
            prompt=req.prompt.strip(),
            model=req.model,
            resolution=req.resolution or "",
            aspect=req.aspect or "",
            segments=[
                SegmentPlan(
                    prompt=s.prompt.strip(),
                    seconds=int(s.seconds),
                    title=s.title.strip(),
                    narration=(s.narration or "").strip() if req.narration else "",
                    cast=shot_cast(s),
                    transition="cut" if i > 1 and getattr(s, "transition", "continue") == "cut" else "continue",
                    camera=(getattr(s, "camera", "") or "").strip(),
                    takes=max(1, req.takes),
                )
                for i, s in enumerate(parsed.segments, 1)
            ],
            mode=Mode(req.mode),
            audio=bool(req.audio),
            start_image=req.start_image,
            keyframes=[k.strip() for k in parsed.keyframes] if keyframes else [],
            planner="openai",
            cast=[CastMember(m.name, m.kind, m.description) for m in req.cast],
            metadata=Metadata(
                title=(parsed.title or "").strip(),
                description=(parsed.description or "").strip(),
                hashtags=normalise_hashtags(list(parsed.hashtags or [])),
            ),
        )


def _api_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
    return _short(exc)


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return f"{type(cause).__name__}: {cause}"[:200] if cause else str(exc)[:200]


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
