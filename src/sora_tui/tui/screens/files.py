"""Get a job's files: the final video, any segment, the seam report, wherever the user sits.

In a browser (``sora-tui serve``) Enter downloads the file through the browser; in a
terminal over SSH the exact ``scp`` / ``rsync`` lines are shown (Enter copies the scp
line); in a local terminal Enter saves a copy in the Downloads folder. The decision is
``core.reach``; this screen only shows it.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from ...core.reach import JobFile, Place, fetch_commands, human_size
from .. import messages as msg


def how_text(place: Place, file: JobFile) -> Text:
    """What Enter does for ``file`` here, and the commands that fetch it over SSH."""
    out = Text()
    if place.web:
        out.append("Enter", "bold")
        out.append(" downloads it through your browser (streamed; it lands in the browser's downloads).")
        return out
    commands = fetch_commands(place, file.path)
    if commands:
        out.append("On your own computer, run:\n", "bold")
        for line in commands:
            out.append(f"  {line}\n", "cyan")
        if place.host_guessed:
            out.append(f"({place.host} is this machine's own name: use the one you give ssh if it differs.)\n", "dim")
        out.append("Enter", "bold")
        out.append(" copies the scp line to your clipboard (if your terminal allows it); shift+drag selects text.")
        return out
    out.append("Enter", "bold")
    out.append(f" saves a copy in your Downloads folder as {file.download_name}.\n")
    out.append(f"The file itself: {file.path}", "dim")
    return out


class FilesModal(ModalScreen[JobFile | None]):
    """The files of a job; dismisses with a video to preview (p), or None. Enter hands the file over
    (``FileRequested``) and stays open."""

    BINDINGS = [
        Binding("escape", "close", "Close", id="files.close", tooltip="Close"),
        Binding("p", "preview", "Preview", id="files.preview", tooltip="Look at the highlighted video's frames"),
        Binding("y", "copy", "Copy command", id="files.copy", tooltip="Copy the scp line (SSH) or the path"),
    ]

    def __init__(self, job_id: str, files: list[JobFile], place: Place) -> None:
        super().__init__()
        self.job_id = job_id
        self.files = files
        self.place = place

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal files"):
            yield Label(f"Get the files of {self.job_id}", classes="modal-title")
            yield OptionList(
                *[
                    Option(f"{f.label:<13} {f.path.name:<16} {human_size(f.size):>9}", id=str(n))
                    for n, f in enumerate(self.files)
                ],
                id="files-list",
            )
            yield Static("", id="files-how")
            yield Static("[dim]Enter: get it · p: preview · y: copy · Esc: close[/]")

    def on_mount(self) -> None:
        self.query_one(OptionList).highlighted = 0
        self._describe()

    @property
    def current(self) -> JobFile:
        index = self.query_one(OptionList).highlighted or 0
        return self.files[index]

    @on(OptionList.OptionHighlighted)
    def _describe(self) -> None:
        self.query_one("#files-how", Static).update(how_text(self.place, self.current))

    @on(OptionList.OptionSelected)
    def _get(self, event: OptionList.OptionSelected) -> None:
        self.post_message(msg.FileRequested(self.files[event.option_index]))

    def action_close(self) -> None:
        self.dismiss(None)

    def action_preview(self) -> None:
        if not self.current.is_video:
            self.notify("Only videos have frames to preview.", severity="warning")
            return
        self.dismiss(self.current)

    def action_copy(self) -> None:
        commands = fetch_commands(self.place, self.current.path)
        text = commands[0] if commands else str(self.current.path)
        self.app.copy_to_clipboard(text)
        self.notify(text, title="Copied")
