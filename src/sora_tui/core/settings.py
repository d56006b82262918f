"""Settings: a flat TOML file in the config folder, overridden by environment variables.

``SORA_TUI_HOME=DIR`` puts config, data and jobs under DIR for that run.
Every field ``name`` can be overridden with ``SORA_TUI_<NAME>`` (upper case);
a few well-known variables (``OPENAI_BASE_URL``) are honoured as well.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .models import InputError, Mode, SeamSettings

APP_NAME = "sora-tui"


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.toml"

    @property
    def catalog_file(self) -> Path:
        return self.config_dir / "catalog.toml"

    @property
    def db_file(self) -> Path:
        return self.data_dir / "history.sqlite3"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"


def get_paths(env: Mapping[str, str] | None = None) -> Paths:
    env = os.environ if env is None else env
    home = env.get("SORA_TUI_HOME")
    if home:
        root = Path(home).expanduser().resolve()
        return Paths(config_dir=root / "config", data_dir=root / "data")
    import platformdirs

    return Paths(
        config_dir=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        data_dir=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
    )


@dataclass
class Settings:
    # defaults for new jobs ("" model = veo3.1-fast with a fal key, else preview)
    default_model: str = ""
    default_resolution: str = ""
    default_planner: str = "offline"
    default_mode: str = "chain"
    output_dir: str = ""
    theme: str = "textual-dark"
    # planner
    openai_model: str = "gpt-4.1-mini"
    openai_base_url: str = ""
    openai_max_retries: int = 2  # the openai SDK's own retries (429, 5xx, connection errors)
    # fal endpoints (loopback fakes and corporate gateways may stand in)
    fal_queue_url: str = "https://queue.fal.run"
    fal_rest_url: str = "https://rest.fal.ai"
    fal_cdn_url: str = "https://v3.fal.media"
    # scheduling and retries
    concurrency: int = 8  # segments rendering at once in parallel and keyframe modes
    # the queue (core/queue.py, core/scheduler.py): render jobs at once, and hosted requests in flight
    # per provider shared by every job (match the fal account's concurrency limit)
    queue_max_jobs: int = 5
    fal_slots: int = 4
    poll_interval: float = 2.0
    max_retries: int = 5
    retry_base_delay: float = 1.0
    retry_max_delay: float = 30.0
    request_timeout: float = 120.0
    # offline preview: simulated provider latency per segment (demos, benchmarks)
    preview_latency: float = 0.0
    preview_image_latency: float = 0.0
    # ... and the colour drift (ΔE, Lab) each preview continuation adds, as hosted models do
    preview_drift: float = 2.0
    # seams (defaults for new jobs; `generate --seams/--crossfade/--no-colour-anchor/--colour-reference`)
    seams: str = "auto"  # auto | off
    seam_crossfade_ms: float = 80.0
    colour_anchor: bool = True
    colour_reference: str = ""
    # finishing: narration (TTS), loudness, clean-up
    tts_provider: str = "offline"  # offline (espeak-ng, else a labelled placeholder voice) | openai
    tts_model: str = "gpt-4o-mini-tts"
    tts_voice: str = "alloy"
    tts_base_url: str = ""  # any OpenAI-compatible speech server; "" = openai_base_url
    loudness_lufs: float = -16.0  # EBU R128 integrated loudness of finished videos
    true_peak_db: float = -1.0  # ceiling (dBTP)
    music_lufs: float = -30.0  # the music bed's loudness before ducking (speech sits near -18)
    auto_clean_days: int = 0  # > 0: at start, clean finished jobs older than this many days
    auto_clean_keep: str = "finals"  # finals | all
    # unattended runs: free space kept beyond a job's estimated need; runner deaths before a job is held
    disk_margin_mb: int = 100
    crash_limit: int = 3
    # local models (provider "local", the `local` extra): the device (`--device`), CPU allowed
    # (`--allow-cpu`: small models and tests), a folder of model folders named by model id (besides
    # `sora-tui models local add`), and what a GPU hour costs (turns GPU seconds into an estimate)
    local_device: str = "cuda"  # cuda | cuda:N | cpu
    local_allow_cpu: bool = False
    local_models_dir: str = ""
    local_cost_per_gpu_hour: float = 0.0

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.field_names()}


def choices(name: str) -> list[str] | None:
    """The values a setting may take, when it is a choice (None: any value of its type)."""
    from .planner import PLANNERS

    table: dict[str, list[str]] = {
        "default_mode": [m.value for m in Mode],
        "default_planner": list(PLANNERS),
        "seams": list(SeamSettings.MODES),
        "auto_clean_keep": ["finals", "all"],  # finish.clean.KEEP_CHOICES (a test holds them equal)
    }
    return table.get(name)


def field_type(name: str) -> type:
    """The type a setting's value has (read from the Settings schema): str, int, float or bool."""
    if name not in Settings.field_names():
        raise InputError(name, "is not a setting", Settings.field_names())
    return type(getattr(Settings(), name))


def coerce_setting(name: str, value: Any, source: str = "the settings form") -> Any:
    """``value`` as the type ``name`` has in Settings (raises InputError naming the setting)."""
    return _coerce(name, value, getattr(Settings(), name), source) if name in Settings.field_names() else value


def _coerce(name: str, value: Any, default: Any, source: str) -> Any:
    value = _typed(name, value, default, source)
    allowed = choices(name)
    if allowed is not None and value not in allowed:
        raise InputError(name, f"{value!r} from {source} is not one of the choices", allowed)
    return value


def _typed(name: str, value: Any, default: Any, source: str) -> Any:
    kind = type(default)
    try:
        if kind is bool:
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        if kind is int:
            return int(value)
        if kind is float:
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise InputError(name, f"{value!r} from {source} is not a valid {kind.__name__}") from None


def _file_values(paths: Paths) -> dict[str, Any]:
    """The settings the file itself holds (known names only, as written)."""
    if not paths.settings_file.exists():
        return {}
    try:
        raw = tomllib.loads(paths.settings_file.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(str(paths.settings_file), f"cannot read settings: {exc}") from None
    names = Settings.field_names()
    return {k: v for k, v in raw.items() if k in names}


def load_settings(paths: Paths | None = None, env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    paths = paths or get_paths(env)
    defaults = Settings()
    values: dict[str, Any] = {
        name: _coerce(name, value, getattr(defaults, name), str(paths.settings_file))
        for name, value in _file_values(paths).items()
    }
    if env.get("OPENAI_BASE_URL"):
        values["openai_base_url"] = env["OPENAI_BASE_URL"]
    for name in Settings.field_names():
        var = f"SORA_TUI_{name.upper()}"
        if env.get(var):
            values[name] = _coerce(name, env[var], getattr(defaults, name), var)
    return Settings(**values)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def save_settings(settings: Settings, paths: Paths | None = None) -> Path:
    """Write the settings that differ from the defaults (atomically)."""
    paths = paths or get_paths()
    defaults = Settings()
    lines = ["# sora-tui settings; environment variables SORA_TUI_<NAME> override these."]
    for name in Settings.field_names():
        value = getattr(settings, name)
        if value != getattr(defaults, name):
            lines.append(f"{name} = {_toml_value(value)}")
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    tmp = paths.settings_file.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", "utf-8")
    os.replace(tmp, paths.settings_file)
    return paths.settings_file


def update_settings_file(changes: dict[str, Any], paths: Paths | None = None) -> Path:
    """Write ``changes`` into settings.toml, keeping what the file already says and nothing else.

    Only the file's own values and the given changes are written: values that come from
    environment overrides (``SORA_TUI_*``, ``OPENAI_BASE_URL``) never land in the file.
    """
    paths = paths or get_paths()
    defaults = Settings()
    unknown = sorted(set(changes) - set(Settings.field_names()))
    if unknown:
        raise InputError(unknown[0], "is not a setting", Settings.field_names())
    current = _file_values(paths)
    for name, value in changes.items():
        current[name] = _coerce(name, value, getattr(defaults, name), "the settings form")
    lines = ["# sora-tui settings; environment variables SORA_TUI_<NAME> override these."]
    for name in Settings.field_names():
        if name in current and current[name] != getattr(defaults, name):
            lines.append(f"{name} = {_toml_value(current[name])}")
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    tmp = paths.settings_file.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", "utf-8")
    os.replace(tmp, paths.settings_file)
    return paths.settings_file
