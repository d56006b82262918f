"""The History screen's detail pane for one job: status, money, output, keyframes, segments, seams."""

from __future__ import annotations

from datetime import tzinfo

from rich.text import Text

from ..core.finish.stage import describe_outputs
from ..core.models import Job, JobStatus
from ..core.seams import worst_flagged as worst_seam
from ..core.store import Store
from . import jobtext
from .advice import job_error
from .format import (
    SEAM_STYLE,
    SEGMENT_STATUS_STYLE,
    STATUS_ICON,
    date,
    excerpt,
    money,
    seam_details,
    seam_label,
)


def job_detail(job: Job, store: Store, tz: tzinfo | None = None) -> Text:
    """Everything about ``job`` as plain text with styles (outside strings are never markup)."""
    out = Text()
    out.append(f"{job.id}\n", "bold")
    out.append_text(jobtext.state(job))
    out.append(f" · {job.model} · {job.mode} · created {date(job.created_at, tz=tz)}\n")
    out.append(f"spent {money(job.cost_usd)} · estimate {money(job.estimated_cost_usd)}\n")
    if job.output:
        out.append("output ", "bold green")
        out.append(f"{job.output}\n")
    if job.error:
        out.append(f"error {job_error(job)}\n", "red")
    meta = job.plan.metadata if job.plan else None
    if meta:
        out.append("title ", "bold")
        out.append(f"{meta.title}  {' '.join(meta.hashtags)}\n")
    for line in describe_outputs(store.outputs(job.id, include_removed=True)):
        out.append(f"▸ {line}\n", "cyan")
    keyframes = store.keyframes(job.id)
    if keyframes:
        made = sum(1 for k in keyframes if k.status == "done")
        mine = sum(1 for k in keyframes if k.source == "user" and k.status == "done")
        out.append(f"◆ keyframes {made}/{len(keyframes)} ready" + (f" ({mine} your image)" if mine else ""), "bold")
        if job.status is JobStatus.AWAITING_REVIEW:
            out.append(" · no video paid for yet · r reviews them")
        out.append("\n")
    out.append("\n")
    out.append(job.prompt + "\n\n", "italic")
    for seg in store.segments(job.id):
        out.append(f"{STATUS_ICON.get(seg.status, '')} #{seg.index} ", SEGMENT_STATUS_STYLE.get(seg.status, ""))
        out.append(f"{seg.title or '(untitled)'} · {seg.seconds}s · {seg.status}", "bold")
        if seg.cost_usd:
            out.append(f" · {money(seg.cost_usd)}")
        if seg.gpu_seconds is not None:
            out.append(f" · GPU {seg.gpu_seconds:.1f} s")
        out.append(f"\n   {excerpt(seg.prompt, 200)}\n", "dim")
    seams = (job.seams or {}).get("seams") or []
    if seams:
        report = job.seams or {}
        out.append("\nSeams", "bold")
        out.append(
            f" · {report.get('reencoded_frames')} of {report.get('frames')} frames re-encoded · "
            f"sound {report.get('audio')}\n"
        )
        for seam in seams:
            out.append(seam_label(seam), SEAM_STYLE.get(seam["verdict"], ""))
            out.append(f"\n   {seam_details(seam)}\n", "dim")
            for line in seam["reasons"]:
                out.append(f"   {line}\n", SEAM_STYLE.get(seam["verdict"], ""))
        worst = worst_seam(job.seams)
        if worst is not None:
            out.append(f"   the board's r re-renders segment {worst['index'] + 1}\n", "dim")
    return out
