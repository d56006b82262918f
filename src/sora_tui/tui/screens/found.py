"""At start: the jobs whose runner died (one key resumes one) and the jobs rendering elsewhere."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from .. import messages as msg
from ..format import excerpt, money
from ..live import LiveJob
from ..widgets.footer import Footer


class FoundJobsModal(ModalScreen[msg.JobRequested | None]):
    """Dismisses with what the user asked for a job (resume it, show it), or None."""

    BINDINGS = [
        Binding("r", "resume", "Resume", id="found.resume", tooltip="Resume the highlighted interrupted job"),
        Binding("enter", "show", "Show", id="found.show", tooltip="Show the highlighted job on the board"),
        Binding("escape", "dismiss", "Close", id="found.close", tooltip="Close; History (F4) lists them too"),
    ]

    def __init__(self, running: list[LiveJob], interrupted: list[LiveJob]) -> None:
        super().__init__()
        self.running = running
        self.interrupted = interrupted

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal", id="found"):
            yield Label("Jobs found", classes="modal-title")
            yield Static(
                "These jobs were rendering when their runner stopped (a crash, a reboot, a killed process): "
                "finished segments and paid requests are kept. r resumes the highlighted one; "
                "jobs rendering in another window or process are followed on the board.",
                classes="modal-body",
            )
            yield OptionList(*[self._option(lj) for lj in self.interrupted + self.running], id="found-jobs")
        yield Footer(compact=True)

    def _option(self, live: LiveJob) -> Option:
        done = sum(1 for s in live.segments.values() if str(s.status) == "done")
        state = "interrupted" if live in self.interrupted else f"rendering ({live.runner})"
        label = Text.assemble(
            (f"{state:<12}", "bold yellow" if live in self.interrupted else "green"),
            f" {live.id}  {done}/{len(live.segments)} done · spent {money(live.spent_usd)}  ",
            (excerpt(live.job.prompt, 40), "italic"),
        )
        return Option(label, id=live.id)

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def _highlighted(self) -> str | None:
        option_list = self.query_one(OptionList)
        if option_list.highlighted is None:
            return None
        return option_list.get_option_at_index(option_list.highlighted).id

    def action_resume(self) -> None:
        job_id = self._highlighted()
        if job_id is None or job_id not in {lj.id for lj in self.interrupted}:
            self.notify("That job is rendering already; Enter shows it.", severity="warning")
            return
        self.dismiss(msg.JobRequested(job_id, msg.JobAction.RESUME))

    def action_show(self) -> None:
        job_id = self._highlighted()
        self.dismiss(msg.JobRequested(job_id, msg.JobAction.SHOW) if job_id is not None else None)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_show()
