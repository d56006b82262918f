"""The studio's one report of a failed worker.

Slow calls (store, keyring, files, images, processes) run in workers started with
``exit_on_error=False``; when one raises, its ``Worker.StateChanged`` (which does not bubble) reaches
the node that owns it. The app and the mode screens pass it here: one wording, one place.
"""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.widget import Widget
from textual.worker import Worker, WorkerState

from ..core.errors import InputError
from .advice import explain


def failure_text(error: BaseException) -> str:
    """What a user reads about a worker's failure (an InputError in the studio's words)."""
    return explain(error) if isinstance(error, InputError) else f"{type(error).__name__}: {error}"


def report_failure(node: App[Any] | Widget, event: Worker.StateChanged) -> bool:
    """Notify a failed worker's error (True when it had failed)."""
    worker = event.worker
    if event.state is not WorkerState.ERROR or worker.error is None:
        return False
    node.notify(failure_text(worker.error), severity="error", title=f"{worker.group or worker.name} failed")
    return True
