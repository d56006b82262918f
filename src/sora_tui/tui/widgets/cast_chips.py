"""Cast chips on the prompt screen: the library members offered to the planner (``generate --cast``).

A chip per chosen member with its kind (Enter or a click on it removes it); members are added by
name in a line that completes the library's names. The library is read in a thread worker (on
mount and by ``reload``, e.g. when the Cast screen closes); a member that is not, or no longer, in
the library is named in the line under the chips. The chosen names go to the planner through the
engine (``Engine.cast_members``, as the CLI's ``--cast``); the chips post ``CastChosen`` when they
change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, Static

from .. import messages as msg

if TYPE_CHECKING:
    from ...core.cast import CastLibrary
    from ...core.errors import InputError

LIBRARY_HINT = "add members in the Cast library (ctrl+p → Cast library)"


class CastChip(Button):
    """One chosen member: ``Mara · character ✕``; pressing it takes it off."""

    DEFAULT_CSS = """
    CastChip { width: auto; min-width: 8; margin-right: 1; background: $boost; }
    CastChip.-missing { color: $text-error; text-style: strike; }
    """

    def __init__(self, name: str, kind: str | None, **kwargs: Any) -> None:
        self.member = name
        self.kind = kind
        super().__init__(self._label(), compact=True, **kwargs)
        self.tooltip = f"Take {name} off the cast (Enter)"

    def _label(self) -> Text:
        text = Text(self.member, "bold")
        text.append(f" · {self.kind}" if self.kind else " · not in the library", "italic")
        text.append(" ✕")
        return text

    def set_kind(self, kind: str | None) -> None:
        if kind != self.kind:
            self.kind = kind
            self.label = self._label()
        self.set_class(kind is None, "-missing")


class CastChips(Vertical):
    """The cast offered to the planner: chips of library members, and a line to add one by name."""

    DEFAULT_CSS = """
    CastChips { height: auto; }
    CastChips > Label { color: $text-muted; }
    CastChips > #cast-row { height: auto; }
    CastChips #cast-chips { width: auto; height: 1; }
    CastChips #cast-name { width: 1fr; min-width: 20; background: $boost; }
    CastChips > #cast-problem { color: $text-error; height: auto; display: none; }
    CastChips > #cast-problem.-shown { display: block; }
    """

    class Read(Message, bubble=False):
        """From the library thread to the chips: name → kind of every member."""

        def __init__(self, kinds: dict[str, str]) -> None:
            super().__init__()
            self.kinds = kinds

    def __init__(self, library: CastLibrary, names: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.library = library
        self.kinds: dict[str, str] | None = None  # the library's members (None: not read yet)
        self._names = list(names or [])  # the chosen members (the chips show them)

    def compose(self) -> ComposeResult:
        yield Label("Cast — library members the planner puts in the shots (optional)")
        with Horizontal(id="cast-row"):
            yield Horizontal(*(CastChip(n, None) for n in self._names), id="cast-chips")
            yield Input(placeholder="add a member by name…", id="cast-name", compact=True)
        yield Static("", id="cast-problem")

    def on_mount(self) -> None:
        self.reload()

    # --- the library, in a thread -------------------------------------------------------------

    @work(thread=True, exclusive=True, group="cast-chips", exit_on_error=False)
    def reload(self) -> None:
        """Read the library's names and kinds again (members added or removed meanwhile)."""
        kinds = {m.name: m.member.kind for m in self.library.members()}
        self.post_message(self.Read(kinds))  # thread-safe

    def on_cast_chips_read(self, message: Read) -> None:
        self.kinds = message.kinds
        names = sorted(self.kinds, key=str.lower)
        box = self.query_one("#cast-name", Input)
        box.suggester = SuggestFromList(names, case_sensitive=False)
        box.placeholder = (
            f"add a member by name: {', '.join(names[:4])}{'…' if len(names) > 4 else ''}"
            if names
            else f"the cast library is empty: {LIBRARY_HINT}"
        )
        missing = []
        for chip in self.chips:
            kind = self._lookup(chip.member)
            chip.set_kind(kind[1] if kind else None)
            if kind is None:
                missing.append(chip.member)
        if missing:
            self.show_problem(
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not in the cast library "
                f"(removed?): take {'it' if len(missing) == 1 else 'them'} off, or {LIBRARY_HINT}"
            )
        else:
            self.show_problem("")

    def _lookup(self, name: str) -> tuple[str, str] | None:
        """The library's own spelling and kind of ``name`` (names match without case)."""
        for known, kind in (self.kinds or {}).items():
            if known.lower() == name.strip().lower():
                return known, kind
        return None

    # --- the chips ---------------------------------------------------------------------------

    @property
    def chips(self) -> list[CastChip]:
        return list(self.query(CastChip))

    @property
    def names(self) -> list[str]:
        """The chosen members, in the order they were added (what the planner is offered)."""
        return list(self._names)

    def add(self, typed: str) -> bool:
        """Add the member called ``typed``; False (and the line under the chips says why) if it cannot."""
        name = typed.strip()
        if not name:
            return False
        if self.kinds is None:
            self.show_problem("the cast library is still being read; try again in a moment")
            return False
        found = self._lookup(name)
        if found is None:
            have = ", ".join(sorted(self.kinds, key=str.lower))
            self.show_problem(
                f"no member {name!r} in the cast library"
                + (f" (it has: {have})" if have else f"; the library is empty: {LIBRARY_HINT}")
            )
            return False
        if found[0].lower() in (n.lower() for n in self.names):
            self.show_problem(f"{found[0]} is in the cast already")
            return False
        self._names.append(found[0])
        self.query_one("#cast-chips", Horizontal).mount(CastChip(*found))
        self.show_problem("")
        self._changed()
        return True

    def take_off(self, name: str) -> None:
        """Take ``name`` off the cast (its chip goes)."""
        self._names = [n for n in self._names if n != name]
        for chip in self.chips:
            if chip.member == name:
                chip.remove()
        self.show_problem("")
        self._changed()

    def _changed(self) -> None:
        self.post_message(msg.CastChosen(tuple(self._names)))

    def show_problem(self, text: str) -> None:
        """The line under the chips: what is wrong with the cast ("" hides it)."""
        line = self.query_one("#cast-problem", Static)
        line.update(Text(f"✗ {text}" if text else ""))
        line.set_class(bool(text), "-shown")

    def show_error(self, exc: InputError) -> None:
        """An error of the engine about the cast (an unknown or deleted member), under the chips."""
        from ..advice import problem

        self.show_problem(problem(exc))

    @on(Input.Submitted, "#cast-name")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.add(event.value):
            event.input.value = ""

    @on(Input.Changed, "#cast-name")
    def _typing(self, event: Input.Changed) -> None:
        event.stop()  # the request form's own inputs drive the estimate, not this line

    @on(Button.Pressed, "CastChip")
    def _chip_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        assert isinstance(event.button, CastChip)
        self.take_off(event.button.member)
        self.query_one("#cast-name", Input).focus()
