"""The ways a run stops: the engine raises these; front ends word the advice."""

from __future__ import annotations


class JobFailed(Exception):
    """The job stopped with an error; it stays resumable."""


class JobCancelled(Exception):
    """The user asked the run to stop."""


class DiskFull(JobFailed):
    """The disk filled up (e.g. during the join): the job fails resumable and the caller gets an InputError."""
