"""Speech providers for narration, behind one interface like the video providers.

- ``openai``: OpenAI's speech endpoint through the ``openai`` package (``audio.speech.create``;
  model and voice from the settings; any OpenAI-compatible server through the base URL).
- ``espeak``: the local espeak-ng engine (Debian package ``espeak-ng``; no model download).
- ``placeholder``: when no speech engine is installed, a clearly labelled synthetic "voice"
  (one soft vowel-like burst per word at the narration rate) so the timing, subtitles,
  ducking and the rest of the flow work offline.

``get_tts("offline", …)`` picks espeak-ng when it is installed, else the placeholder.
Every provider writes a WAV file; :func:`prepare_clip` trims its silent ends and sets its
level, so a subtitle cue starts where the speech starts.
"""

from __future__ import annotations

import abc
import asyncio
import os
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Code
from ..keys import get_key, redact
from ..models import InputError
from ..settings import Settings
from .narration import WORDS_PER_SECOND, speech_seconds, word_count

RATE = 48000
SPEECH_RMS_DBFS = -18.0  # level of every prepared narration clip (active speech)

# USD; OpenAI bills tts-1 / tts-1-hd per character and gpt-4o-mini-tts by tokens (≈ $0.015 a minute)
PRICE_PER_MILLION_CHARS = {"tts-1": 15.0, "tts-1-hd": 30.0}
PRICE_PER_MINUTE = {"gpt-4o-mini-tts": 0.015}


class TTSError(Exception):
    """Speech could not be made; the message says why, and its ``code`` with ``context`` what kind of
    problem it is (each front end words what to do: a key to set, the offline voice)."""

    def __init__(self, message: str, *, code: Code | None = None, context: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.context: dict[str, Any] = dict(context or {})


class TTSProvider(abc.ABC):
    name = "tts"
    placeholder = False  # True: not real speech (labelled as such everywhere)
    LABEL = ""  # with placeholder: how the front ends and the job log name this voice

    @property
    @abc.abstractmethod
    def voice(self) -> str:
        """Provider, model and voice: the same text with the same voice is never made (or paid) twice."""

    def estimate(self, text: str) -> float:
        """USD this text costs to speak (0 for local engines)."""
        return 0.0

    @abc.abstractmethod
    async def synthesize(self, text: str, dest: Path) -> None:
        """Write ``text`` spoken as a WAV file at ``dest``."""

    async def aclose(self) -> None:
        return None


# --- offline ---------------------------------------------------------------------------------


def espeak_binary() -> str | None:
    return shutil.which("espeak-ng") or shutil.which("espeak")


class EspeakTTS(TTSProvider):
    name = "espeak"

    def __init__(self, binary: str, voice: str = "en-us") -> None:
        self.binary = binary
        self.lang = voice if voice and voice not in ("alloy",) and len(voice) <= 12 else "en-us"

    @property
    def voice(self) -> str:
        return f"espeak-ng/{self.lang}/{round(WORDS_PER_SECOND * 60)}wpm"

    async def synthesize(self, text: str, dest: Path) -> None:
        wpm = str(round(WORDS_PER_SECOND * 60))

        def run() -> None:
            proc = subprocess.run(
                [self.binary, "-v", self.lang, "-s", wpm, "-w", str(dest), "--stdin"],
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=120,
                check=False,
            )
            if proc.returncode != 0 or not dest.exists():
                err = proc.stderr.decode("utf-8", "replace").strip()[:200]
                raise TTSError(f"espeak-ng failed ({err or proc.returncode}); reinstall it (apt install espeak-ng)")

        await asyncio.to_thread(run)


class PlaceholderTTS(TTSProvider):
    """Not speech: one vowel-like burst per word at the narration rate, labelled as a placeholder."""

    name = "placeholder"
    placeholder = True
    LABEL = "placeholder voice (no speech engine installed: install espeak-ng, or choose the OpenAI voice)"

    @property
    def voice(self) -> str:
        return "placeholder"

    async def synthesize(self, text: str, dest: Path) -> None:
        await asyncio.to_thread(write_placeholder_wav, text, dest)


def write_placeholder_wav(text: str, dest: Path, rate: int = 24000) -> None:
    """A voice-like signal with the timing of ``text`` spoken at WORDS_PER_SECOND (also used by test fakes)."""
    import numpy as np

    words = max(1, word_count(text))
    per_word = 1.0 / WORDS_PER_SECOND
    voiced = 0.75 * per_word
    t = np.arange(int(voiced * rate)) / rate
    out = []
    for k in range(words):
        f0 = 120.0 + 25.0 * ((k * 7) % 5) / 4  # a gently moving pitch
        burst = sum(a * np.sin(2 * np.pi * f0 * h * t) for h, a in ((1, 0.5), (2, 0.3), (3, 0.25), (5, 0.12)))
        env = np.sin(np.pi * t / voiced) ** 0.6
        out.append(burst * env * 0.5)
        out.append(np.zeros(int((per_word - voiced) * rate)))
    signal = np.concatenate(out[:-1]).astype(np.float32)
    pcm = (np.clip(signal, -1, 1) * 32767).astype("<i2")
    with wave.open(str(dest), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


# --- OpenAI ----------------------------------------------------------------------------------


class OpenAITTS(TTSProvider):
    name = "openai"

    def __init__(self, settings: Settings, env: dict[str, str]) -> None:
        self.settings = settings
        self.env = env
        self.model = settings.tts_model
        self.voice_name = settings.tts_voice
        self.base_url = settings.tts_base_url or settings.openai_base_url or None
        self._client: Any = None
        self._secret = ""

    @property
    def voice(self) -> str:
        return f"openai/{self.model}/{self.voice_name}"

    def estimate(self, text: str) -> float:
        return tts_price(self.model, text)

    def _client_or_error(self) -> Any:
        if self._client is None:
            key = get_key("openai", self.env)
            if not key.present:
                raise TTSError(
                    "no OpenAI key is set for narration with the OpenAI voice",
                    code=Code.KEY_MISSING,
                    context={"key": "openai", "env_var": "OPENAI_API_KEY", "use": "narration"},
                )
            import openai

            self._secret = key.value or ""
            self._client = openai.AsyncOpenAI(
                api_key=self._secret,
                base_url=self.base_url,
                max_retries=max(0, int(self.settings.openai_max_retries)),
                timeout=max(5.0, float(self.settings.request_timeout)),
            )
        return self._client

    async def synthesize(self, text: str, dest: Path) -> None:
        import openai

        client = self._client_or_error()
        where = self.base_url or "api.openai.com"
        try:
            response = await client.audio.speech.create(
                model=self.model, voice=self.voice_name, input=text, response_format="wav"
            )
            data = response.content
        except openai.AuthenticationError:
            raise TTSError(
                "OpenAI rejected the API key for speech (HTTP 401)",
                code=Code.KEY_REJECTED,
                context={"key": "openai", "env_var": "OPENAI_API_KEY", "use": "narration"},
            ) from None
        except openai.RateLimitError:
            raise TTSError(
                "OpenAI is rate-limiting speech requests (HTTP 429); wait a minute and finish again"
            ) from None
        except openai.NotFoundError:
            raise TTSError(
                f"the speech model {self.model} is not available at {where} (HTTP 404); set tts_model in the settings"
            ) from None
        except openai.APIStatusError as exc:
            message = _api_message(exc)
            raise TTSError(
                redact(f"speech at {where} failed (HTTP {exc.status_code}: {message})", [self._secret])
            ) from None
        except openai.APIConnectionError:
            raise TTSError(
                f"cannot reach the speech server at {where}; check the network",
                code=Code.SPEECH_FAILED,
                context={"where": where},
            ) from None
        if not data[:4] == b"RIFF":
            raise TTSError(f"the speech server at {where} did not return WAV audio")
        tmp = dest.with_name(f".{dest.name}.part")
        tmp.write_bytes(data)
        os.replace(tmp, dest)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def _api_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def tts_price(model: str, text: str) -> float:
    if model in PRICE_PER_MINUTE:
        return PRICE_PER_MINUTE[model] * speech_seconds(text) / 60.0
    return PRICE_PER_MILLION_CHARS.get(model, PRICE_PER_MILLION_CHARS["tts-1"]) * len(text) / 1e6


TTS_CHOICES = ["offline", "openai", "espeak", "placeholder"]


def get_tts(name: str, settings: Settings, env: dict[str, str] | None = None) -> TTSProvider:
    env = dict(os.environ) if env is None else env
    if name in ("offline", "espeak"):
        binary = espeak_binary()
        if binary:
            return EspeakTTS(binary)
        if name == "espeak":
            raise InputError("tts", "espeak-ng is not installed (apt install espeak-ng)", TTS_CHOICES)
        return PlaceholderTTS()
    if name == "placeholder":
        return PlaceholderTTS()
    if name == "openai":
        return OpenAITTS(settings, env)
    raise InputError("tts", f"unknown speech provider {name!r}", TTS_CHOICES)


def estimate_plan_speech(plan: Any, settings: Settings) -> float:
    """What the plan's narration costs with the configured speech provider (0 offline)."""
    if settings.tts_provider != "openai":
        return 0.0
    return round(sum(tts_price(settings.tts_model, s.narration) for s in plan.segments if s.narration.strip()), 4)


# --- clips ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    path: Path
    seconds: float


def prepare_clip(raw: Path, dest: Path, below_peak_db: float = 40.0) -> Clip:
    """Decode a TTS file, trim its silent ends (10 ms frames ``below_peak_db`` under the loudest),
    set its speech level, write 48 kHz mono WAV."""
    import numpy as np

    from .ffmpeg import decode_audio

    samples = decode_audio(raw, rate=RATE)
    if samples.size == 0:
        raise TTSError(f"{raw.name} holds no sound")
    frame = RATE // 100  # 10 ms
    n = len(samples) // frame
    rms = np.sqrt(np.mean(samples[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    threshold_db = max(-60.0, 20 * float(np.log10(rms.max())) - below_peak_db)
    loud = np.nonzero(20 * np.log10(rms) > threshold_db)[0]
    if loud.size == 0:
        raise TTSError(f"{raw.name} is silent")
    start = int(loud[0]) * frame
    end = min(len(samples), (int(loud[-1]) + 1) * frame)
    clip = samples[start:end].astype(np.float64)
    active = rms[loud[0] : loud[-1] + 1]
    active = active[20 * np.log10(active) > threshold_db]
    level = float(np.sqrt(np.mean(active**2)))
    clip *= 10 ** (SPEECH_RMS_DBFS / 20) / max(level, 1e-6)
    peak = float(np.max(np.abs(clip)))
    if peak > 0.89:  # keep 1 dB of headroom before the mix
        clip *= 0.89 / peak
    pcm = (clip * 32767).astype("<i2")
    tmp = dest.with_name(f".{dest.name}.part")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    os.replace(tmp, dest)
    return Clip(dest, len(pcm) / RATE)
