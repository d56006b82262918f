"""How a job's state reads on the board and in History, as rich Text (outside strings are never markup)."""

from __future__ import annotations

from rich.text import Text

from ..core import runner
from ..core.models import Job, JobStatus, SegmentStatus
from ..core.seams import worst_flagged as worst_seam
from .advice import job_error
from .format import JOB_STATUS_STYLE, SEAM_STYLE, duration, excerpt, money, seam_label
from .live import LiveJob

STATE_STYLE = {"interrupted": "bold yellow", "starting": "cyan"}


def state(job: Job) -> Text:
    """A job's honest state from the store and its lease: a working status with no live runner is "interrupted"."""
    name = runner.live_status(job) if job.status in runner.ACTIVE else str(job.status)
    return Text(name, style=STATE_STYLE.get(name) or JOB_STATUS_STYLE.get(job.status, ""))


def summary(live: LiveJob) -> Text:
    """State, id, model, mode, length, who renders it; the prompt."""
    job = live.job
    style = STATE_STYLE.get(live.state) or JOB_STATUS_STYLE.get(job.status, "")
    where = f"  ·  {live.runner}" if live.runner else ""
    if live.task and live.runner:  # a finish, an export or a keyframe holds the job
        where = f"  ·  {live.task} running in {live.runner} (c stops it)"
    if live.waits_for:  # the queue: its place, and what it (or its runner) waits for
        where += f"  ·  {live.waits_for}"
    return Text.assemble(
        (live.state or str(job.status), style),
        f"  {job.id}  ·  {job.model}  ·  {job.mode} mode  ·  {duration(live.total_seconds)}{where}\n",
        (excerpt(job.prompt, 110), "italic"),
    )


def progress(live: LiveJob) -> str:
    counts = live.counts()
    done = counts.get(SegmentStatus.DONE, 0)
    failed = counts.get(SegmentStatus.FAILED, 0)
    job = live.job
    joining = f" · joining {live.join_fraction:.0%}" if job.status is JobStatus.JOINING and live.running else ""
    return (
        f"{done}/{len(live.segments)} segments done"
        + (f", {failed} failed" if failed else "")
        + joining
        + f" · spent {money(live.spent_usd)} of est. {money(job.estimated_cost_usd)}"
    )


def outcome(live: LiveJob) -> Text:
    """The finished video and its worst seam, or why the job rests, with the key that acts on it."""
    job = live.job
    if live.state == "interrupted":
        return Text.assemble(
            ("! Interrupted: ", "bold yellow"),
            "its runner stopped before the job finished; finished segments and paid requests are kept.   ",
            ("(t resumes it)", "dim"),
        )
    if job.status is JobStatus.COMPLETED and job.output:
        out = Text.assemble(("✓ Video: ", "bold green"), job.output, ("   (o open · y copy path)", "dim"))
        seams = (job.seams or {}).get("seams") or []
        worst = worst_seam(job.seams)
        if worst is not None:
            out.append("\n")
            out.append(seam_label(worst), SEAM_STYLE[worst["verdict"]])
            out.append(f" — {'; '.join(worst['reasons'])}   ")
            out.append(f"(r re-renders segment {worst['index'] + 1})", "dim")
        elif seams:
            out.append(f"\n✓ all {len(seams)} seams clean", "green")
        return out
    if job.status is JobStatus.FAILED and job.error:
        return Text.assemble((f"✗ {excerpt(job_error(job), 200)}", "bold red"), ("   (t retry)", "dim"))
    if job.status is JobStatus.CANCELLED:
        return Text.assemble(("■ Stopped.", "yellow"), (" t resumes it; finished segments are kept.", "dim"))
    if job.status is JobStatus.AWAITING_REVIEW:
        return Text.assemble(
            ("◆ Keyframes ready for review", "bold yellow"),
            " — nothing paid for video yet.   ",
            ("(v review the keyframes, then ctrl+r there renders the videos)", "dim"),
        )
    return Text("")
