"""Textual messages: one type per engine event kind, plus a few of the app's own.

Engine events are plain core dataclasses; ``event_message`` wraps each in the
matching message. Progress messages coalesce (``can_replace``) like toolong's, so
a fast renderer cannot flood the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

from ..core import models as m

if TYPE_CHECKING:  # numpy loads with the first thumbnail, not at start-up
    import numpy as np


class EngineMessage(Message):
    """Base of messages that carry one engine event."""

    def __init__(self, event: m.Event) -> None:
        super().__init__()
        self.event = event

    @property
    def job_id(self) -> str:
        return self.event.job_id


class JobStatusMessage(EngineMessage):
    event: m.JobStatusChanged


class SegmentStatusMessage(EngineMessage):
    event: m.SegmentStatusChanged


class SegmentProgressMessage(EngineMessage):
    event: m.SegmentProgress

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, SegmentProgressMessage)
            and message.event.job_id == self.event.job_id
            and message.event.index == self.event.index
        )


class KeyframeMessage(EngineMessage):
    event: m.KeyframeReady


class LogMessage(EngineMessage):
    event: m.LogLine


class CostMessage(EngineMessage):
    event: m.CostUpdate

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, CostMessage) and message.event.job_id == self.event.job_id


class JoinProgressMessage(EngineMessage):
    event: m.JoinProgress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JoinProgressMessage) and message.event.job_id == self.event.job_id


class FinishProgressMessage(EngineMessage):
    """Progress of a finishing or export step (with an ETA)."""

    event: m.FinishProgress

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, FinishProgressMessage)
            and message.event.job_id == self.event.job_id
            and message.event.stage == self.event.stage
        )


_MESSAGE_FOR: dict[type[m.Event], type[EngineMessage]] = {
    m.JobStatusChanged: JobStatusMessage,
    m.SegmentStatusChanged: SegmentStatusMessage,
    m.SegmentProgress: SegmentProgressMessage,
    m.KeyframeReady: KeyframeMessage,
    m.LogLine: LogMessage,
    m.CostUpdate: CostMessage,
    m.JoinProgress: JoinProgressMessage,
    m.FinishProgress: FinishProgressMessage,
}


def event_message(event: m.Event) -> EngineMessage:
    return _MESSAGE_FOR.get(type(event), EngineMessage)(event)


@dataclass
class JobFinished(Message):
    """A job's worker ended (completed, failed, cancelled or refused to start)."""

    job_id: str
    status: str
    error: str | None = None


@dataclass
class JobsChanged(Message):
    """The history changed (a job was created, deleted or changed state)."""

    job_id: str | None = None


@dataclass
class ThumbnailReady(Message):
    """A thumbnail made in a thread worker, ready to draw."""

    job_id: str
    index: int
    pixels: np.ndarray


@dataclass
class KeyframeThumbnailReady(Message):
    """A keyframe image's thumbnail; ``version`` (path, mtime) tells a regenerated image from the old one."""

    job_id: str
    index: int
    pixels: np.ndarray
    version: object


@dataclass
class FinishWorkDone(Message):
    """A finishing or export run ended: ``error`` is None when it worked."""

    job_id: str
    what: str  # "finish" or a preset name
    result: str | None = None  # the file it wrote
    error: str | None = None
