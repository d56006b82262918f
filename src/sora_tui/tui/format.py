"""Small text formatters shared by screens (Rich text, no Textual)."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from rich.text import Text

from ..core.catalog import Catalog
from ..core.errors import InputError
from ..core.models import JobStatus, SegmentStatus
from ..core.plans import remaining_cost, videos_started

STATUS_ICON = {
    SegmentStatus.PENDING: "·",
    SegmentStatus.WAITING: "…",
    SegmentStatus.SUBMITTED: "⇡",
    SegmentStatus.RUNNING: "▶",
    SegmentStatus.DOWNLOADED: "⇣",
    SegmentStatus.DONE: "✓",
    SegmentStatus.FAILED: "✗",
}

JOB_STATUS_STYLE = {
    JobStatus.DRAFT: "dim",
    JobStatus.QUEUED: "dim",
    JobStatus.AWAITING_REVIEW: "cyan",
    JobStatus.GENERATING: "bold cyan",
    JobStatus.JOINING: "bold cyan",
    JobStatus.COMPLETED: "bold green",
    JobStatus.FAILED: "bold red",
    JobStatus.CANCELLED: "yellow",
}

SEGMENT_STATUS_STYLE = {
    SegmentStatus.PENDING: "dim",
    SegmentStatus.WAITING: "dim",
    SegmentStatus.SUBMITTED: "cyan",
    SegmentStatus.RUNNING: "bold cyan",
    SegmentStatus.DOWNLOADED: "cyan",
    SegmentStatus.DONE: "bold green",
    SegmentStatus.FAILED: "bold red",
}


SEAM_STYLE = {"clean": "green", "warn": "yellow", "bad": "bold red"}
SEAM_ICON = {"clean": "✓", "warn": "!", "bad": "✗"}


def seam_label(seam: dict[str, Any], repeat: bool = True) -> str:
    """One seam in a few words: where, verdict, picture and colour figures (and a cut repeat). A cut
    is judged by what matters there (the seam report's verdict: a black or flash frame, a sound
    jump): its picture figures compare two different shots and say nothing, so the sound step shows."""
    if seam.get("kind") == "cut":
        where = f"{SEAM_ICON.get(seam['verdict'], '')} cut {seam['index']}|{seam['index'] + 1} {seam['verdict']}"
        step = seam.get("sound_step_db")
        return where + (f" · sound {step:+.1f} dB" if step is not None else "")
    text = (
        f"{SEAM_ICON.get(seam['verdict'], '')} seam {seam['index']}|{seam['index'] + 1} {seam['verdict']}"
        f" · {seam['psnr_db']:.0f} dB · ΔE {seam['delta_e_after']:.1f}"
    )
    return text + (" · repeat cut" if repeat and seam.get("repeat_cut") else "")


def seam_details(seam: dict[str, Any]) -> str:
    """Every figure of one seam, for the history detail."""
    sound = "—" if seam.get("sound_step_db") is None else f"{seam['sound_step_db']:+.1f} dB"
    return (
        f"at {seam['time_s']:.2f} s · PSNR {seam['psnr_db']:.1f} dB · SSIM {seam['ssim']:.3f} · "
        f"ΔE {seam['delta_e_before']:.1f}→{seam['delta_e_after']:.1f} · motion {seam['motion_ratio']:.1f}× · "
        f"luma {seam['luma_step']:+.0f} · sound {sound}"
    )


def money(usd: float | None) -> str:
    if usd is None:
        return "–"
    if usd == 0:
        return "$0.00"
    return f"${usd:,.2f}" if usd >= 0.01 else f"${usd:.4f}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    m, s = divmod(seconds, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def date(ts: float | None, short: bool = False, tz: tzinfo | None = None) -> str:
    """A time stamp in ``tz`` (None: the machine's time zone)."""
    if ts is None:
        return "–"
    when = datetime.fromtimestamp(ts, tz) if tz is not None else datetime.fromtimestamp(ts).astimezone()
    return when.strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M")


def excerpt(text: str, width: int = 48) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 segment``, ``3 segments``, ``1 job``: never ``1 segments`` or ``1 job(s)``."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


RENDERING = (JobStatus.GENERATING, JobStatus.JOINING, JobStatus.COMPLETED)


def review_money(catalog: Catalog, live: Any) -> Text:
    """The keyframe review's money lines: images made and spent, what the videos will cost."""
    plan = live.job.plan
    spec = catalog.get(plan.model)
    try:
        image_name = catalog.image_model_for(spec).name
    except InputError:
        image_name = "image model"
    kfs = live.keyframes
    made = sum(1 for k in kfs.values() if k.status == "done")
    spent = sum(k.cost_usd for k in kfs.values())
    left = remaining_cost(plan, catalog, live.segments.values(), kfs.values())
    out = Text.assemble(
        ("◆ Keyframes", "bold"), f" {made}/{len(kfs)} ready · {money(spent)} spent on images ({image_name})"
    )
    if left.images:
        out.append(f" · {money(left.images)} more for the rest")
    out.append("\n")
    if live.job.status is JobStatus.COMPLETED:
        out.append("✓ Videos rendered", "bold green").append(" — the job is complete (F3 shows it on the board)")
    elif (videos_started(live.segments.values()) or live.job.status in RENDERING) and live.running:
        out.append("▶ Videos rendering", "bold").append(" — F3 shows them on the board")
    else:
        seconds = sorted({s.seconds for s in live.segments.values() if s.status is not SegmentStatus.DONE})
        each = f"{seconds[0]} s" if len(seconds) == 1 else "various lengths"
        out.append("▶ Videos: ", "bold").append("nothing paid for yet", "bold green")
        out.append(f" · {plural(left.videos_left, 'video')} × {each} on {spec.name} est. ")
        out.append(money(left.videos), "bold").append(" · job total est. ")
        out.append(money(spent + left.total), "bold")
    return out
