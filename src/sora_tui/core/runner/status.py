"""Status wording: the honest state of a job and its segments (a job that says it is working while
no process holds its lease was interrupted), and a runner's exit codes."""

from __future__ import annotations

from ..models import Job, JobStatus, Segment, SegmentStatus
from .files import QUEUED_FILE
from .lease import Holder, holder

INTERRUPTED = "interrupted"
# statuses that mean "a process is working on it": without a live holder the job was interrupted
ACTIVE = frozenset({JobStatus.QUEUED, JobStatus.GENERATING, JobStatus.JOINING})

# exit codes of a runner process (the CLI's)
EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_CANCELLED = 0, 1, 2, 130


def display_status(job: Job, holder: Holder | None) -> str:
    """The honest state of a job: one that says it is working but has no live holder was interrupted."""
    if job.status in ACTIVE and holder is None:
        if job.status is JobStatus.QUEUED and job.folder and (job.job_dir / QUEUED_FILE).exists():
            return str(job.status)  # waiting in the queue (core/queue.py) for the scheduler to start it
        return INTERRUPTED
    return str(job.status)


def display_segment_status(segment: Segment, job_status: str) -> str:
    """A segment's honest state: one that was being rendered when its job was interrupted is
    interrupted too (its request id is kept: a resume re-attaches to it)."""
    working = (SegmentStatus.WAITING, SegmentStatus.SUBMITTED, SegmentStatus.RUNNING)
    if job_status == INTERRUPTED and segment.status in working:
        return INTERRUPTED
    return str(segment.status)


def live_status(job: Job) -> str:
    """``display_status`` of a job with its current holder."""
    if not job.folder:
        return display_status(job, None)
    return display_status(job, holder(job.job_dir))


def exit_code(status: JobStatus) -> int:
    """A runner's (and the CLI's) exit status for a job that ended in ``status``."""
    if status in (JobStatus.COMPLETED, JobStatus.AWAITING_REVIEW):
        return EXIT_OK
    if status is JobStatus.CANCELLED:
        return EXIT_CANCELLED
    return EXIT_FAILED
