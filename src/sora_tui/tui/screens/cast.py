"""The Cast screen: the cast library (list, add by path, look at the pictures, delete).

The rules are ``core.cast`` (names, kinds, 1-4 pictures, copies in the data folder); every
library call runs in a thread worker and its answer comes back to this screen.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from ...core.models import CAST_KINDS, InputError
from ..context import Studio
from ..widgets.halfblock import HalfBlockImage

if TYPE_CHECKING:
    from ...core.cast import LibraryMember

ADD_HINT = "NAME PICTURE [PICTURE…] [--kind object] [--description TEXT]"


def parse_add(text: str) -> tuple[str, list[str], str, str]:
    """``Mara a.png b.png --kind character --description "red coat"`` → name, pictures, kind, description."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise InputError("add", f"cannot read the line ({exc}); quote paths with spaces") from None
    kind, description, rest = "character", "", []
    it = iter(words)
    for word in it:
        if word in ("--kind", "-k"):
            kind = next(it, "")
        elif word in ("--description", "-d"):
            description = next(it, "")
        else:
            rest.append(word)
    if not rest:
        raise InputError("add", f"give a name and its pictures: {ADD_HINT}")
    return rest[0], rest[1:], kind, description


class CastScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close", id="cast.close", tooltip="Close the cast library"),
        Binding("delete", "delete", "Delete", id="cast.delete", tooltip="Remove the highlighted member"),
        Binding("a", "focus_add", "Add", id="cast.add", tooltip="Add a member by the paths of its pictures"),
    ]
    DEFAULT_CSS = """
    CastScreen > Vertical { width: 100; height: 34; border: round $accent; background: $surface; padding: 0 1; }
    CastScreen #cast-body { height: 1fr; }
    CastScreen #cast-list { width: 32; }
    CastScreen #cast-side { width: 1fr; padding-left: 1; }
    CastScreen #cast-picture { height: 14; }
    CastScreen #cast-error { color: $error; height: auto; }
    """

    def __init__(self, studio: Studio) -> None:
        super().__init__()
        self.studio = studio
        self.members: list[LibraryMember] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Cast library: characters, objects, places and styles", classes="modal-title")
            with Horizontal(id="cast-body"):
                yield OptionList(id="cast-list")
                with Vertical(id="cast-side"):
                    yield Static("", id="cast-detail")
                    yield HalfBlockImage("no picture", id="cast-picture")
            yield Input(placeholder=f"Add: {ADD_HINT}", id="cast-add")
            yield Static("", id="cast-error")
            yield Static("[dim]Enter in the line: add · Delete: remove · Esc: close[/]")

    def on_mount(self) -> None:
        self.load()

    # --- library calls, in a thread ------------------------------------------------------

    @work(thread=True, exclusive=True, group="cast", exit_on_error=False)
    def load(self, select: str | None = None) -> None:
        members = self.studio.engine.cast_library.members()
        self.app.call_from_thread(self.show_members, members, select)

    @work(thread=True, exclusive=True, group="cast-edit", exit_on_error=False)
    def add_member(self, text: str) -> None:
        try:
            name, pictures, kind, description = parse_add(text)
            found = self.studio.engine.cast_library.add(name, [*pictures], kind, description)
        except InputError as exc:
            self.app.call_from_thread(self.show_error, str(exc))
            return
        self.app.call_from_thread(self.added, found.name)

    @work(thread=True, exclusive=True, group="cast-edit", exit_on_error=False)
    def remove_member(self, name: str) -> None:
        try:
            self.studio.engine.cast_library.remove(name)
        except InputError as exc:
            self.app.call_from_thread(self.show_error, str(exc))
            return
        self.app.call_from_thread(self.load)

    @work(thread=True, exclusive=True, group="cast-picture", exit_on_error=False)
    def load_picture(self, path: str) -> None:
        from ...core import media

        try:
            small = media.thumbnail(path, 60, 28)  # fitted, aspect kept: 60 cells × 14 rows of half blocks
        except (media.MediaError, OSError):
            return
        self.app.call_from_thread(self.query_one(HalfBlockImage).set_pixels, small)

    # --- showing -------------------------------------------------------------------------

    def show_members(self, members: list[LibraryMember], select: str | None = None) -> None:
        self.members = members
        ol = self.query_one(OptionList)
        ol.clear_options()
        for m in members:
            ol.add_option(Option(Text(f"{m.name}  ({m.member.kind}, {len(m.member.images)})"), id=m.name))
        if members:
            names = [m.name for m in members]
            ol.highlighted = names.index(select) if select in names else 0
        else:
            self.query_one("#cast-detail", Static).update(
                Text(f"The library is empty. Add a member below: {ADD_HINT}\nKinds: {', '.join(CAST_KINDS)}")
            )
            self.query_one(HalfBlockImage).clear()

    def show_error(self, message: str) -> None:
        self.query_one("#cast-error", Static).update(Text(message))

    def added(self, name: str) -> None:
        self.query_one("#cast-add", Input).value = ""
        self.query_one("#cast-error", Static).update("")
        self.notify(f"{name} added to the cast library")
        self.load(name)

    @on(OptionList.OptionHighlighted, "#cast-list")
    def highlighted(self, event: OptionList.OptionHighlighted) -> None:
        member = next((m for m in self.members if m.name == event.option.id), None)
        if member is None:
            return
        text = Text()
        text.append(f"{member.name}\n", "bold")
        text.append(f"{member.member.kind}\n", "italic")
        if member.member.description:
            text.append(f"{member.member.description}\n")
        for p in member.member.images:
            text.append(f"{p}\n", "dim")
        self.query_one("#cast-detail", Static).update(text)
        if member.member.images:
            self.load_picture(member.member.images[0])

    @on(Input.Submitted, "#cast-add")
    def submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.add_member(event.value)

    def action_delete(self) -> None:
        ol = self.query_one(OptionList)
        if ol.highlighted is None or not self.members:
            return
        option = ol.get_option_at_index(ol.highlighted)
        if option.id:
            self.remove_member(option.id)

    def action_focus_add(self) -> None:
        self.query_one("#cast-add", Input).focus()

    def action_close(self) -> None:
        self.dismiss(None)
