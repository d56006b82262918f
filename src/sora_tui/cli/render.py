"""How the CLI shows things: Rich consoles and escaping, the plan, seam and keyframe tables, job summaries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from ..core.engine import Engine
    from ..core.models import Job, Plan


def _x(value: object) -> str:
    """Outside text (paths, prompts, provider errors) made safe to put inside Rich markup."""
    from rich.markup import escape

    return escape(str(value))


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def job_summary(engine: Engine, job: Job) -> dict[str, Any]:
    from ..core.runner import display_segment_status, display_status, holder
    from .shots import shot_fields

    segments = engine.store.segments(job.id)
    who = holder(job.job_dir) if job.folder else None
    status = display_status(job, who)  # "interrupted" when no live process works on it
    return {
        "job_id": job.id,
        "status": status,
        "runner": who.to_dict() if who is not None else None,
        "output": job.output,
        "duration_s": round(job.duration_s, 3) if job.duration_s is not None else None,
        "segments": [
            {"index": s.index, "status": display_segment_status(s, status), "seconds": s.seconds, "file": s.file}
            | shot_fields(job, s.index)
            for s in segments
        ],
        "cost_usd": round(job.cost_usd, 4),
        "estimated_cost_usd": round(job.estimated_cost_usd, 4),
        "model": job.model,
        "mode": str(job.mode),
        "error": job.error,
        "error_code": job.error_code,  # errors.Code of the failure, with its facts
        "error_context": job.error_context,
        "folder": job.folder,
        "seams": (job.seams or {}).get("seams", []),
        "seam_summary": seam_summary(job.seams),
    }


def seam_summary(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """The headline of a seam report: the worst seam and what the join re-encoded."""
    if not report:
        return None
    keys = ("method", "frames", "reencoded_frames", "reencoded_share", "audio", "worst", "options", "timings")
    return {k: report.get(k) for k in keys}


def print_seams(job: Job, out: Console) -> None:
    """The seam report as a table, with the command that re-renders a flagged seam."""
    from rich.table import Table
    from rich.text import Text

    report = job.seams or {}
    rows = report.get("seams") or []
    if not rows:
        return
    colours = {"clean": "green", "warn": "yellow", "bad": "red"}
    table = Table(title="Seams", title_justify="left")
    for col in ("seam", "at", "verdict", "PSNR", "SSIM", "ΔE before→after", "repeat", "motion", "sound", "notes"):
        table.add_column(col, overflow="fold")
    for r in rows:
        sound = "—" if r.get("sound_step_db") is None else f"{r['sound_step_db']:+.1f} dB"
        table.add_row(
            f"{r['index']}|{r['index'] + 1}",
            f"{r['time_s']:.2f} s",
            Text(r["verdict"], style=colours.get(r["verdict"], "")),
            f"{r['psnr_db']:.1f}",
            f"{r['ssim']:.3f}",
            f"{r['delta_e_before']:.1f}→{r['delta_e_after']:.1f}",
            "cut" if r["repeat_cut"] else "—",
            f"{r['motion_ratio']:.1f}×",
            sound,
            Text("; ".join(r["reasons"] + r["changes"])),
        )
    out.print(table)
    share = report.get("reencoded_share") or 0
    out.print(
        f"joined by {report.get('method')}: {report.get('reencoded_frames')} of {report.get('frames')} frames "
        f"re-encoded ({share:.0%}); sound {report.get('audio')}",
        markup=False,
    )
    for r in rows:
        if r["verdict"] != "clean":
            out.print(
                f"seam {r['index']}|{r['index'] + 1} is {r['verdict']}: re-render segment {r['index'] + 1} with "
                f"`sora-tui redo {job.id} --from {r['index'] + 1} --only`",
                markup=False,
            )


def print_plan(engine: Engine, plan: Plan, out: Console) -> None:
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from ..core.costs import quote

    spec = engine.catalog.get(plan.model)
    audio = spec.has_audio(plan.audio)
    prices = quote(plan, engine.catalog)
    table = Table(title=Text(f"Plan: {plan.prompt[:70]}"), title_justify="left", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("title")
    table.add_column("s", justify="right")
    table.add_column("prompt", ratio=1)
    table.add_column("cost", justify="right")
    for i, seg in enumerate(plan.segments, 1):
        cost = prices.segment(i)  # at its kind's price (t2v, i2v, extend), as the run charges it
        table.add_row(str(i), Text(seg.title), str(seg.seconds), Text(seg.prompt), f"${cost:.2f}")
    out.print(table)
    from .shots import print_shots, shows_shots

    if shows_shots(plan):
        print_shots(engine, plan, out)
    out.print(
        f"[b]{len(plan.segments)} segments, {plan.total_seconds} s[/b] on {spec.name} "
        f"({plan.resolution}, {plan.aspect}, {plan.mode} mode{', audio' if audio else ''}) — "
        f"estimated cost [b]${engine.estimate(plan):.2f}[/b]"
    )
    from ..core.finish.narration import check_plan

    for issue in check_plan(plan):
        out.print(f"[yellow]narration too long:[/yellow] {escape(str(issue))}", markup=True, highlight=False)


def _print_keyframes(engine: Engine, job: Job) -> None:
    out = _console()
    out.print(f"[b]keyframes of job {job.id}[/b] (review them before any video is paid for):")
    for kf in engine.store.keyframes(job.id):
        out.print(f"  {kf.index:>2}  {kf.status:<8} {_x(kf.file or '—')}  [dim]{kf.source}[/dim]", highlight=False)
    out.print(
        f"change one: `sora-tui keyframes {job.id} --regenerate K [--prompt TEXT]` or "
        f"`--replace K IMAGE`; render the videos: `sora-tui resume {job.id}`"
    )


def history_cells(job: Job) -> list[str]:
    """One job's history row: id, date, honest status, model, length, spent, prompt on one line."""
    import time

    from ..core.runner import live_status

    return [
        job.id,
        time.strftime("%Y-%m-%d %H:%M", time.localtime(job.created_at)),
        live_status(job),
        job.model,
        f"{job.duration_s:.1f} s" if job.duration_s else "",
        f"${job.cost_usd:.2f}",
        " ".join(job.prompt.split()),
    ]
