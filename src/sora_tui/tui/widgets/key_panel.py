"""One API key: where it comes from (env, keyring, key file, none), and set / delete with masked input."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label, Static

from ...core import keys

LABELS = {"fal": "fal.ai (video models)", "openai": "OpenAI (planner)"}


KEY_LABELS = {"fal": "fal.ai", "openai": "OpenAI"}


class KeyPanel(Vertical):
    DEFAULT_CSS = """
    KeyPanel { height: auto; border: round $primary 40%; padding: 0 1; margin-bottom: 1; }
    KeyPanel .key-title { text-style: bold; }
    KeyPanel .key-row { height: 1; margin-top: 1; }
    KeyPanel .key-row Input { width: 1fr; background: $boost; }
    KeyPanel .key-row Button { margin-left: 1; width: auto; min-width: 8; }
    KeyPanel .key-status { color: $text-muted; }
    """

    class Set(Message):
        def __init__(self, name: str, value: str) -> None:
            super().__init__()
            self.name = name
            self.value = value

    class Delete(Message):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(self, name: str, cache: keys.KeyCache, keyring_ok: bool, **kwargs: Any) -> None:
        super().__init__(id=f"key-{name}", **kwargs)
        self.key_name = name
        self.cache = cache  # read once (before the app's loop runs); set/delete go through a worker
        self.keyring_ok = keyring_ok

    def compose(self) -> ComposeResult:
        yield Label(LABELS.get(self.key_name, self.key_name), classes="key-title")
        yield Static("", classes="key-status")
        where = "the OS keyring" if self.keyring_ok else "a file only you can read (unencrypted)"
        with Horizontal(classes="key-row"):
            yield Input(
                password=True,
                placeholder=f"paste your {KEY_LABELS.get(self.key_name, self.key_name)} key to store it in {where}",
                classes="key-input",
                compact=True,
            )
            label = "Set" if self.keyring_ok else "Store in file"
            yield Button(label, classes="key-set", variant="primary" if self.keyring_ok else "warning", compact=True)
            yield Button("Delete", classes="key-delete", variant="error", compact=True)

    def on_mount(self) -> None:
        self.refresh_status()

    def refresh_status(self) -> None:
        info = self.cache.get(self.key_name)
        if info.present:
            text = Text.assemble(("● ", "green"), info.describe())
        else:  # the studio's own way: paste it below (or export the variable before starting)
            how = f"paste it below, or export {info.env_var}" + ("" if self.keyring_ok else " before starting")
            text = Text.assemble(("○ ", "red"), f"{info.name}: not set — {how}")
            if info.detail:
                text.append(f"; {info.detail}", "dim")
        self.query_one(".key-status", Static).update(text)

    def _set(self) -> None:
        field = self.query_one(".key-input", Input)
        self.post_message(self.Set(self.key_name, field.value))
        field.value = ""

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._set()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.has_class("key-set"):
            self._set()
        elif event.button.has_class("key-delete"):
            self.post_message(self.Delete(self.key_name))
