"""The event log: every event of a run (``Engine.run``: runners and foreground runs alike) is
appended to ``JOB_DIR/events.jsonl``; ``EventLog.read`` lets any process follow a job that another
process runs (with the store for the state itself)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..models import Event, event_from_dict, event_to_dict
from .files import EVENTS_FILE


@dataclass
class EventLog:
    """``JOB_DIR/events.jsonl``: one JSON line per engine event, appended and flushed as it happens
    (one ``write`` per line on an O_APPEND descriptor), read by any process that follows the job."""

    job_dir: Path
    _fd: int | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.job_dir = Path(self.job_dir)

    @property
    def path(self) -> Path:
        return self.job_dir / EVENTS_FILE

    def append(self, event: Event) -> None:
        line = json.dumps(event_to_dict(event), ensure_ascii=False, default=str) + "\n"
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        os.write(self._fd, line.encode("utf-8"))

    __call__ = append  # an EventLog is an event sink

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def end(self) -> int:
        """The offset a follower starts from to see only new events."""
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def read_dicts(self, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Complete lines written after ``offset``, as dicts (with ``t`` and ``type``), and the new offset.
        A log shorter than ``offset`` (replaced) is read from its start."""
        try:
            with open(self.path, "rb") as fh:
                if os.fstat(fh.fileno()).st_size < offset:
                    offset = 0
                fh.seek(offset)
                data = fh.read()
        except OSError:
            return [], offset
        end = data.rfind(b"\n") + 1
        rows = []
        for raw in data[:end].splitlines():
            try:
                row = json.loads(raw)
            except ValueError:
                continue
            if isinstance(row, dict):
                rows.append(row)
        return rows, offset + end

    def read(self, offset: int = 0) -> tuple[list[Event], int]:
        """Events written after ``offset`` and the offset to read from next time."""
        rows, offset = self.read_dicts(offset)
        events = []
        for row in rows:
            try:
                event = event_from_dict(row)
            except (TypeError, ValueError, KeyError):
                continue
            if event is not None:
                events.append(event)
        return events, offset
