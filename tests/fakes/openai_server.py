"""A wire-level fake of OpenAI's chat completions on 127.0.0.1 (``POST /v1/chat/completions``).

It answers with a ``chat.completion`` whose message content is JSON matching the
requested ``response_format`` (the planner's plan schema): the number of segments,
their seconds and the keyframe count are read from the ``PLAN SPEC: segments=N;
seconds=S; keyframes=K`` line that the OpenAI planner writes into its user message.

Switches (see :class:`OpenAIFake`): ``status`` (e.g. 401 for every call),
``fail_next(status, count)`` (e.g. 429 bursts), ``refusal``, ``finish_reason``
("length", "content_filter"), ``malformed`` (count of answers with broken JSON),
``wrong_count`` (count of answers with one segment too few), ``wrong_seconds``,
``long_narration`` (count of answers whose narration is over the word budget asked for).

``POST /v1/audio/speech`` answers with real audio (WAV: one voice-like burst per word at
2.5 words a second) like OpenAI's speech endpoint; it is as strict as the real one about
its fields (unknown field, missing input/model/voice, input over 4096 characters, an
unknown response_format: HTTP 400). ``speech_status`` answers every speech call with a status.
Every request is recorded (headers with lower-case names, JSON body).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SPEC_RE = re.compile(r"PLAN SPEC: segments=(\d+); seconds=(\d+); keyframes=(\d+)")
CAST_RE = re.compile(r"^PLAN CAST: (.+)$", re.M)
NARRATION_RE = re.compile(r"narration line per segment, spoken over it: at most (\d+) words")
SPEECH_FIELDS = {"model", "input", "voice", "instructions", "response_format", "speed", "stream_format"}
SPEECH_FORMATS = {"mp3", "opus", "aac", "flac", "wav", "pcm"}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    json: Any
    status: int = 0
    time: float = field(default_factory=time.time)


class OpenAIFake:
    def __init__(self, key: str = "sk-test-openai-5d1c8e7a4b") -> None:
        self.key = key
        self.status: int | None = None  # answer every call with this HTTP status
        self.refusal: str | None = None
        self.finish_reason: str | None = None
        self.malformed = 0
        self.wrong_count = 0
        self.wrong_seconds = 0
        self.long_narration = 0
        self.speech_status: int | None = None
        self.delay = 0.0
        self.records: list[Recorded] = []
        self._faults: deque[int] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> OpenAIFake:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="openai-fake", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)
        return f"http://{host}:{port}/v1"

    def env(self) -> dict[str, str]:
        return {"OPENAI_API_KEY": self.key, "SORA_TUI_OPENAI_BASE_URL": self.url}

    def fail_next(self, status: int, count: int = 1) -> None:
        with self._lock:
            self._faults.extend([status] * count)

    @property
    def completions(self) -> list[Recorded]:
        return [r for r in self.records if r.path.endswith("/chat/completions")]

    @property
    def speeches(self) -> list[Recorded]:
        return [r for r in self.records if r.path.endswith("/audio/speech")]

    # --- answer -------------------------------------------------------------------

    def answer(self, body: dict[str, Any]) -> tuple[str, str, str | None]:
        """(content, finish_reason, refusal) for a request body."""
        spec = None
        for msg in body.get("messages", []):
            content = msg.get("content")
            if isinstance(content, str) and (m := SPEC_RE.search(content)):
                spec = m
                break
        n, s, k = (int(x) for x in spec.groups()) if spec else (3, 4, 0)
        with self._lock:
            if self.malformed > 0:
                self.malformed -= 1
                return '{"segments": [{"title": "Open', "stop", None
            if self.wrong_count > 0:
                self.wrong_count -= 1
                n = max(0, n - 1)
            wrong_s = self.wrong_seconds > 0
            if wrong_s:
                self.wrong_seconds -= 1
        if self.refusal:
            return "", "stop", self.refusal
        idea = ""
        budget = 0
        cast: list[str] = []
        for msg in body.get("messages", []):
            if msg.get("role") == "user" and isinstance(msg.get("content"), str):
                if c := CAST_RE.search(msg["content"]):
                    cast = [x.strip() for x in c.group(1).split(",") if x.strip()]
                if not idea:
                    idea = msg["content"].splitlines()[0].removeprefix("Idea: ")
                if m := NARRATION_RE.search(msg["content"]):
                    budget = int(m.group(1))
        with self._lock:
            too_long = self.long_narration > 0
            if too_long:
                self.long_narration -= 1
        words = ["the", "story", "moves", "on", "in", "soft", "light", "and", "quiet", "rain"] * 4
        plan = {
            "segments": [
                {
                    "title": f"Beat {i}",
                    "seconds": s + (1 if wrong_s else 0),
                    "prompt": f"{idea}. Part {i} of {n}: the shot continues seamlessly, same subject, style and light.",
                    "narration": (
                        " ".join(["Part", str(i), *words][: budget + (5 if too_long else -1)]) + "." if budget else ""
                    ),
                    # a story with a cast: everyone in the odd shots, the first member alone in the
                    # even ones; every third shot cuts (3, 6, ...)
                    "cast": (cast if i % 2 else cast[:1]),
                    "transition": "cut" if i % 3 == 0 else "continue",
                    "camera": "wide shot, slow push-in" if i % 2 else "close-up, handheld",
                }
                for i in range(1, n + 1)
            ],
            "keyframes": [f"{idea}. Keyframe {j}." for j in range(k)],
            "title": idea[:40].title(),
            "description": f"{idea}. A continuous shot in {n} parts.",
            "hashtags": ["#aivideo", "story"],
        }
        return json.dumps(plan), self.finish_reason or "stop", None


class _Handler(BaseHTTPRequestHandler):
    owner: OpenAIFake
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self._rec.status = status  # before the client can see the answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802
        fake = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        self._rec = Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        with fake._lock:
            fake.records.append(self._rec)
            fault = fake._faults.popleft() if fake._faults else None
        if fake.delay:
            time.sleep(fake.delay)
        speech = self.path.rstrip("/").endswith("/audio/speech")
        if not speech and not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": "Not found", "type": "invalid_request_error"}})
            return
        if speech:
            fault = fault or fake.speech_status
        status = fault or fake.status
        if status is None and self.headers.get("Authorization") != f"Bearer {fake.key}":
            status = 401
        if status == 401:
            masked = fake.key[:3] + "*" * 6 + fake.key[-4:]
            self._send(
                401,
                {
                    "error": {
                        "message": f"Incorrect API key provided: {masked}.",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
            )
            return
        if status == 429:
            self._send(
                429,
                {
                    "error": {
                        "message": "Rate limit reached for requests",
                        "type": "requests",
                        "code": "rate_limit_exceeded",
                    }
                },
                headers={"retry-after-ms": "10"},
            )
            return
        if status is not None:
            self._send(status, {"error": {"message": f"Fake error {status}", "type": "server_error"}})
            return
        if not isinstance(body, dict):
            self._send(
                400,
                {
                    "error": {
                        "message": "We could not parse the JSON body of your request.",
                        "type": "invalid_request_error",
                    }
                },
            )
            return
        if speech:
            self._speech(body)
            return
        content, finish, refusal = fake.answer(body)
        message: dict[str, Any] = {"role": "assistant", "content": None if refusal else content, "refusal": refusal}
        self._send(
            200,
            {
                "id": "chatcmpl-" + uuid.uuid4().hex[:24],
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "gpt-fake"),
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 200, "total_tokens": 300},
            },
        )

    def _speech(self, body: dict[str, Any]) -> None:
        def bad(message: str, param: str | None = None) -> None:
            self._send(400, {"error": {"message": message, "type": "invalid_request_error", "param": param}})

        unknown = sorted(set(body) - SPEECH_FIELDS)
        if unknown:
            bad(f"Unrecognized request argument supplied: {unknown[0]}", unknown[0])
            return
        for name in ("model", "input", "voice"):
            if not body.get(name):
                bad(f"Missing required parameter: '{name}'.", name)
                return
        text = body["input"]
        if not isinstance(text, str) or len(text) > 4096:
            bad("'input' must be a string of at most 4096 characters.", "input")
            return
        fmt = body.get("response_format", "mp3")
        if fmt not in SPEECH_FORMATS:
            bad(f"Invalid value for 'response_format': {fmt!r}.", "response_format")
            return
        if fmt != "wav":  # the fake makes WAV only; sora-tui asks for WAV
            bad(f"this fake speaks WAV only, not {fmt!r}", "response_format")
            return
        data = speech_wav(text)
        self._rec.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def speech_wav(text: str, rate: int = 24000) -> bytes:
    """WAV bytes (16-bit mono, like OpenAI's 24 kHz speech): a voiced 150 Hz burst per word, 2.5 words a second."""
    import io
    import math
    import struct
    import wave

    words = max(1, len(text.split()))
    per_word, voiced = 0.4, 0.3
    samples = []
    for _ in range(words):
        for i in range(int(per_word * rate)):
            t = i / rate
            if t < voiced:
                env = math.sin(math.pi * t / voiced)
                v = env * 0.4 * (math.sin(2 * math.pi * 150 * t) + 0.5 * math.sin(2 * math.pi * 450 * t))
            else:
                v = 0.0
            samples.append(int(max(-1.0, min(1.0, v)) * 32767))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return buf.getvalue()
