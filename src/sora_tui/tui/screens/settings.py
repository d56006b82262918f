"""Settings: API keys (env, keyring, key file, none) and the defaults for new videos."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.message import Message
from textual.widgets import Button, Header, Input, Label, Select, Static

from ...core import keys
from ...core.jobfiles import check_folder_writable
from ...core.models import InputError
from ...core.settings import coerce_setting, field_type, update_settings_file
from .. import messages as msg
from ..advice import problem
from ..widgets.footer import Footer
from ..widgets.key_panel import KeyPanel
from ..widgets.request_form import PLANNERS, FieldError, model_label
from .mode import ModeScreen

SPEECH = [("offline (espeak-ng)", "offline"), ("openai speech (paid)", "openai")]
LOUDNESS = [
    ("-14 LUFS (streaming)", -14.0),
    ("-16 LUFS (web)", -16.0),
    ("-18 LUFS", -18.0),
    ("-23 LUFS (EBU R128 TV)", -23.0),
]
# the Select fields of the form (each value's type is read from the Settings schema)
FORM_FIELDS = (
    "default_model",
    "default_resolution",
    "default_planner",
    "theme",
    "tts_provider",
    "loudness_lufs",
    "auto_clean_days",
    "queue_max_jobs",
    "fal_slots",
    "local_device",
)
AUTO_CLEAN = [("off", 0), ("after 1 day", 1), ("after 7 days", 7), ("after 30 days", 30)]
MAX_JOBS = [1, 2, 3, 4, 5, 8, 10]
FAL_SLOTS = [1, 2, 4, 8, 16]  # match the fal account's concurrency limit
DEVICES = ["cuda", *(f"cuda:{i}" for i in range(8)), "cpu"]  # never probed here: a job's pre-flight checks it


def _choices(values: list[Any], current: Any, label: Any = str) -> list[tuple[str, Any]]:
    """A Select's options: the usual values, plus the current one when the settings file holds another."""
    out = [(label(v), v) for v in values]
    return out if current in values else [*out, (label(current), current)]


NO_KEYRING = (
    "This machine has no OS keyring (no Secret Service / Keychain backend). A key you store here goes into a "
    "[b]file, unencrypted[/], readable only by your user (and root): {folder}. "
    "Or set it in the environment instead, e.g. [b]export FAL_KEY=...[/] in your shell profile."
)


class SettingsScreen(ModeScreen):
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="settings.save", tooltip="Save the defaults to settings.toml"),
    ]

    def compose(self) -> ComposeResult:
        engine = self.studio.engine
        s = engine.settings
        keyring_ok = engine.keys.keyring_available()  # probed once, before the app's loop (create_app)
        all_res = sorted({r for m in engine.catalog for r in m.resolutions}, key=_res_order)
        themes = sorted(self.app.available_themes)
        yield Header()
        with VerticalScroll(id="settings-body"):
            yield Label("API keys", classes="section-title")
            if not keyring_ok:
                yield Static(NO_KEYRING.format(folder=escape(str(keys.key_dir(engine.env)))), id="no-keyring")
            for name in keys.NAMES:
                yield KeyPanel(name, engine.keys, keyring_ok)
            yield Label("Defaults for new videos", classes="section-title")
            with Horizontal(classes="settings-row"):
                with Vertical(classes="field"):
                    yield Label("Default model")
                    yield Select(
                        [("auto: Veo 3.1 Fast with a key, else preview", "")]
                        + [(model_label(m), m.id) for m in engine.catalog if not m.retired],
                        value=s.default_model if s.default_model in engine.catalog.models else "",
                        allow_blank=False,
                        compact=True,
                        id="default_model",
                    )
                with Vertical(classes="field"):
                    yield Label("Default resolution")
                    yield Select(
                        [("the model's default", "")] + [(r, r) for r in all_res],
                        value=s.default_resolution if s.default_resolution in all_res else "",
                        allow_blank=False,
                        compact=True,
                        id="default_resolution",
                    )
            with Horizontal(classes="settings-row"):
                with Vertical(classes="field"):
                    yield Label("Planner")
                    yield Select(
                        PLANNERS,
                        value=s.default_planner or "offline",
                        allow_blank=False,
                        id="default_planner",
                        compact=True,
                    )
                with Vertical(classes="field"):
                    yield Label("Theme")
                    yield Select(
                        [(f"{t} (light)" if not self.app.available_themes[t].dark else t, t) for t in themes],
                        value=s.theme if s.theme in themes else "textual-dark",
                        allow_blank=False,
                        compact=True,
                        id="theme",
                    )
            yield Label("Finishing (narration, loudness, clean-up)", classes="section-title")
            with Horizontal(classes="settings-row"):
                with Vertical(classes="field"):
                    yield Label("Narration voice")
                    yield Select(
                        SPEECH,
                        value=s.tts_provider if s.tts_provider == "openai" else "offline",
                        allow_blank=False,
                        compact=True,
                        id="tts_provider",
                    )
                with Vertical(classes="field"):
                    yield Label("Loudness of finished videos")
                    lufs = [(label, v) for label, v in LOUDNESS]
                    if s.loudness_lufs not in [v for _, v in LOUDNESS]:
                        lufs.append((f"{s.loudness_lufs:g} LUFS", s.loudness_lufs))
                    yield Select(lufs, value=s.loudness_lufs, allow_blank=False, id="loudness_lufs", compact=True)
                with Vertical(classes="field"):
                    yield Label("Clean intermediates at start")
                    days = list(AUTO_CLEAN)
                    if s.auto_clean_days not in [v for _, v in AUTO_CLEAN]:
                        days.append((f"after {s.auto_clean_days} days", s.auto_clean_days))
                    yield Select(days, value=s.auto_clean_days, allow_blank=False, id="auto_clean_days", compact=True)
            yield Label("Queue and this machine's GPU", classes="section-title")
            with Horizontal(classes="settings-row"):
                with Vertical(classes="field"):
                    yield Label("Jobs rendering at once")
                    yield Select(
                        _choices(MAX_JOBS, s.queue_max_jobs),
                        value=s.queue_max_jobs,
                        allow_blank=False,
                        compact=True,
                        id="queue_max_jobs",
                    )
                with Vertical(classes="field"):
                    yield Label("fal requests at once")
                    yield Select(
                        _choices(FAL_SLOTS, s.fal_slots),
                        value=s.fal_slots,
                        allow_blank=False,
                        compact=True,
                        id="fal_slots",
                    )
                with Vertical(classes="field"):
                    yield Label("Local models run on")
                    yield Select(
                        _choices(DEVICES, s.local_device or "cuda"),
                        value=s.local_device or "cuda",
                        allow_blank=False,
                        compact=True,
                        id="local_device",
                    )
            with Vertical(classes="field"):
                yield Label("Local model folders (one sub-folder per model id; or: sora-tui models local add ID DIR)")
                yield Input(s.local_models_dir, placeholder="e.g. ~/models", id="local_models_dir", compact=True)
            with Vertical(classes="field"):
                yield Label("Output folder (finished videos are also copied here; empty: only the job folder)")
                yield Input(s.output_dir, placeholder="e.g. ~/Videos", id="output_dir", compact=True)
                yield FieldError(id="err-output_dir")
            with Horizontal(id="settings-actions"):
                yield Button("Save (ctrl+s)", id="save", variant="primary", compact=True)
                yield Static(Text(f"settings file: {engine.paths.settings_file}"), id="settings-path")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "Settings"
        self.loaded = self.form_values()  # what Save compares against: only changes are written

    def on_screen_resume(self) -> None:
        for panel in self.query(KeyPanel):
            panel.refresh_status()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "theme" and event.value:
            self.app.theme = str(event.value)

    class KeyStored(Message):
        """A keyring write finished (in a worker): what to say, and which key to show again."""

        def __init__(self, name: str, notes: list[tuple[str, str, str]]) -> None:
            super().__init__()
            self.name = name
            self.notes = notes  # (text, severity, title)

    def on_key_panel_set(self, event: KeyPanel.Set) -> None:
        self.store_key(event.name, event.value)

    def on_key_panel_delete(self, event: KeyPanel.Delete) -> None:
        self.store_key(event.name, None)

    @work(thread=True, exclusive=True, exit_on_error=False, group="keys")
    def store_key(self, name: str, value: str | None) -> None:
        """Set (``value``) or delete a key: off the UI loop (a locked keyring waits). With no keyring the
        panel offered "Store in file", under the warning above it."""
        cache = self.studio.engine.keys
        notes: list[tuple[str, str, str]] = []
        if value is not None:
            try:
                path = cache.set(name, value, to_file=not cache.keyring_available())
            except (InputError, keys.KeyringUnavailable, OSError) as exc:
                notes.append((str(exc), "error", f"{name} key not stored"))
            else:
                where = f"unencrypted in {path} (readable only by you)" if path is not None else "in the OS keyring"
                notes.append((f"{name} key stored {where}", "information", "Key saved"))
        else:
            try:
                removed = cache.delete(name)
            except (keys.KeyringUnavailable, OSError) as exc:
                notes.append((str(exc), "error", f"{name} key not deleted"))
            else:
                if removed:
                    where = " and ".join({"keyring": "the OS keyring", "file": "its key file"}[p] for p in removed)
                    notes.append((f"{name} key removed from {where}", "information", ""))
                else:
                    notes.append((f"No {name} key was stored in the keyring or a key file", "warning", ""))
                info = cache.get(name)
                if info.source == "env":
                    notes.append(
                        (f"${info.env_var} is still set in the environment and stays in effect", "warning", "")
                    )
        self.post_message(self.KeyStored(name, notes))

    def on_settings_screen_key_stored(self, message: KeyStored) -> None:
        for text, severity, title in message.notes:
            self.notify(text, severity=severity, title=title, markup=False)  # type: ignore[arg-type]
        if not any(severity == "error" for _, severity, _ in message.notes):
            self._keys_changed(message.name)

    def _keys_changed(self, name: str) -> None:
        self.query_one(f"#key-{name}", KeyPanel).refresh_status()
        self.post_message(msg.KeysChanged())

    def form_values(self) -> dict[str, Any]:
        """The settings as the form shows them (the fields it has, nothing else)."""
        values: dict[str, Any] = {
            name: self.query_one(f"#{name}", Input).value.strip() for name in ("output_dir", "local_models_dir")
        }
        for name in FORM_FIELDS:
            value = self.query_one(f"#{name}", Select).value
            values[name] = coerce_setting(name, value) if value is not Select.BLANK else field_type(name)()
        return values

    def action_save(self) -> None:
        self.query_one("#err-output_dir", FieldError).show("")
        values = self.form_values()
        changed = {k: v for k, v in values.items() if v != self.loaded.get(k)}
        if not changed and not values["output_dir"]:
            self.notify("Nothing changed.", title="Settings")
            return
        self.save_settings(values, changed)

    @work(thread=True, exclusive=True, group="settings", exit_on_error=False)
    def save_settings(self, values: dict[str, Any], changed: dict[str, Any]) -> None:
        """Check the output folder and write the settings file (file system: off the loop)."""
        say = self.app.call_from_thread
        if values["output_dir"]:
            try:
                check_folder_writable(values["output_dir"])
            except InputError as exc:
                say(self.query_one("#err-output_dir", FieldError).show, problem(exc))
                say(self.notify, "Settings not saved: fix the output folder.", severity="error")
                return
        if not changed:
            say(self.notify, "Nothing changed.", title="Settings")
            return
        try:
            path = update_settings_file(changed, self.studio.engine.paths)
        except OSError as exc:
            say(self.notify, f"Cannot write settings: {exc.strerror}", severity="error", markup=False)
            return
        say(self._saved, values, changed, path)

    def _saved(self, values: dict[str, Any], changed: dict[str, Any], path: object) -> None:
        engine = self.studio.engine
        engine.settings = replace(engine.settings, **changed)
        self.loaded = values
        self.notify(f"Saved {', '.join(sorted(changed))} to {path}", title="Settings saved", markup=False)


def _res_order(res: str) -> int:
    from ...core.catalog import RESOLUTION_HEIGHT

    return RESOLUTION_HEIGHT.get(res, 0) * 10 + (1 if res == "4k" else 0)
