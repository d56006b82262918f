"""`sora-tui` command line: the TUI by default, headless sub-commands for everything else.

Exit codes: 0 done, 1 job failed, 2 bad input, 130 interrupted.
Heavy modules (the engine's media stack, rich, textual, openai, fal_client) load
only inside the command that needs them, so ``sora-tui --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from .cli_words import job_error
from .core.planner import PLANNERS

if TYPE_CHECKING:
    from rich.progress import Progress

    from .core.engine import Engine
    from .core.models import Job, Plan

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class CliError(Exception):
    """Bad input found by the CLI itself (exit 2)."""


def _positive_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _money(text: str) -> float:
    try:
        return float(text.lstrip("$"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount in USD") from None


def _add_request_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompt", nargs="?", help="what the video shows (quote it)")
    p.add_argument("--segments", "-n", type=_positive_int, default=3, help="number of segments, 1-60 (default 3)")
    p.add_argument("--seconds", "-s", type=_positive_int, help="seconds per segment (the model's choices)")
    p.add_argument("--model", "-m", help="model id (see `sora-tui models`)")
    p.add_argument("--resolution", "-r", help="e.g. 360p, 720p, 1080p (the model's choices)")
    p.add_argument("--aspect", "-a", help="aspect ratio, e.g. 16:9 or 9:16")
    p.add_argument(
        "--mode",
        choices=["chain", "parallel", "keyframes", "extend"],
        help="how segments connect (default chain; extend: each segment extends the video before, "
        "on models with an extend endpoint)",
    )
    p.add_argument("--planner", choices=list(PLANNERS), help="who writes the segment prompts")
    p.add_argument("--start-image", help="image file the first segment starts on")
    p.add_argument("--no-audio", action="store_true", help="silent video (models with optional audio)")
    p.add_argument(
        "--seams",
        choices=["auto", "off"],
        help="auto (default): cut repeated conditioning frames, trim fades, hold colour, crossfade sound; "
        "off: join as rendered (sound stays in sync)",
    )
    p.add_argument(
        "--crossfade", type=float, metavar="MS", help="sound crossfade at each seam in ms (default 80, 0 = off)"
    )
    p.add_argument("--no-colour-anchor", action="store_true", help="do not hold colour to the first segment")
    p.add_argument("--colour-reference", metavar="IMAGE", help="hold colour to this picture instead of segment 1")
    p.add_argument("--narration", action="store_true", help="the planner also writes a narration line per segment")
    p.add_argument("--cast", metavar="NAME[,NAME…]", help="cast library members the planner puts in the shots")
    p.add_argument("--takes", type=_positive_int, default=1, help="takes of every shot, 1-4 (the best is kept)")


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-cost", type=_money, help="refuse to spend more than this many USD")
    p.add_argument(
        "--review-takes", action="store_true", help="stop after a shot's takes for a choice (`sora-tui pick`)"
    )
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument("--output", "-o", help="also copy the final video to this .mp4 path")
    p.add_argument("--json", action="store_true", help="print one JSON object with the result")
    p.add_argument(
        "--detach",
        "-d",
        action="store_true",
        help="hand it to the queue: a background runner that outlives this shell starts it when the limits "
        "allow (follow: `sora-tui show --follow JOB`; the queue: `sora-tui queue`)",
    )
    p.add_argument(
        "--now",
        action="store_true",
        help="with --detach: start its runner at once, outside the queue's limits (a foreground run always starts at once)",
    )
    from .cli_local import add_device_args

    add_device_args(p)


class _VersionAction(argparse.Action):
    """``--version``: the installed package's version (read only when asked: no cost to other commands)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from importlib.metadata import version

        print(f"sora-tui {version('sora-tui')}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sora-tui",
        description="Turn one prompt into one long, coherent AI video. Without a sub-command, starts the studio.",
    )
    parser.add_argument("--version", "-V", action=_VersionAction, help="print the version of sora-tui and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("generate", help="plan and render a video from a prompt")
    _add_request_args(p)
    _add_run_args(p)
    p.add_argument("--plan", dest="plan_file", help="render this plan file instead of planning")
    p.add_argument("--plan-only", action="store_true", help="show the plan and its cost, render nothing")
    p.add_argument(
        "--review-keyframes",
        action="store_true",
        help="keyframe mode: stop after the keyframe images, before any video is paid for",
    )
    p.add_argument("--music", help="finish with this music bed (and the narration) after the join")

    p = sub.add_parser("plan", help="write a plan file to review and edit before rendering")
    _add_request_args(p)
    p.add_argument("--out", "-o", dest="plan_out", default="plan.json", help="plan file to write (default plan.json)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON instead of a table")

    p = sub.add_parser("render", help="render a plan file")
    p.add_argument("plan_file", help="plan JSON written by `sora-tui plan` (and maybe edited)")
    _add_run_args(p)

    p = sub.add_parser("history", help="list jobs")
    p.add_argument("--json", action="store_true")
    p.add_argument("--status", help="only jobs with this status (also `interrupted`: their process is gone)")
    p.add_argument("--search", default="", help="only jobs whose prompt, id or model contains this")

    p = sub.add_parser("show", help="show one job: plan, segments, output, logs")
    p.add_argument("job", help="job id, unique prefix, or `last`")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--follow",
        "-f",
        action="store_true",
        help="stream the job's progress until it ends (also when another process runs it); exits with its outcome",
    )

    for name in ("stop", "cancel"):
        p = sub.add_parser(name, help="ask the process that renders a job to stop it (request ids are kept)")
        p.add_argument("job", help="job id, unique prefix, or `last`")
        p.add_argument("--wait", action="store_true", help="wait until the job has stopped")

    p = sub.add_parser("resume", help="continue an interrupted or failed job (nothing done is rendered again)")
    p.add_argument("job", help="job id, unique prefix, or `last`")
    _add_run_args(p)

    p = sub.add_parser("redo", help="render segments K..N again (after editing the job's plan.json)")
    p.add_argument("job", help="job id, unique prefix, or `last`")
    p.add_argument("--from", dest="from_index", type=_positive_int, required=True, help="first segment to redo")
    p.add_argument(
        "--only",
        action="store_true",
        help="re-render segment K alone (a flagged seam), keeping the segments after it",
    )
    _add_run_args(p)

    p = sub.add_parser("keyframes", help="list, regenerate or replace the keyframes of a keyframe-mode job")
    p.add_argument("job", help="job id, unique prefix, or `last`")
    p.add_argument("--regenerate", type=_positive_int, metavar="K", help="make keyframe K again")
    p.add_argument("--prompt", help="with --regenerate: a new description for keyframe K")
    p.add_argument("--replace", nargs=2, metavar=("K", "IMAGE"), help="use your own image as keyframe K")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("models", help="video models: kinds, audio, price per kind, modes (--json for scripts)")
    p.add_argument("--json", action="store_true")
    from .cli_local import add_models_local

    add_models_local(p)

    p = sub.add_parser("keys", help="API keys for fal and OpenAI (env var first, then the OS keyring, then a key file)")
    p.add_argument("action", choices=["status", "set", "delete"])
    p.add_argument("name", nargs="?", choices=["fal", "openai"])
    p.add_argument(
        "--file",
        action="store_true",
        help="set: store the key unencrypted in a file only you can read (for machines without a keyring)",
    )
    p.add_argument("--yes", "-y", action="store_true", help="set --file: do not ask before storing it unencrypted")

    from .cli_finish import add_parsers

    add_parsers(sub, _money)
    from . import cli_queue

    cli_queue.add_parsers(sub, _money)
    from .cli_cast import add_parsers as add_cast_parsers

    add_cast_parsers(sub)

    p = sub.add_parser("serve", help="serve the studio to a browser (textual-serve)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_positive_int, default=8000)
    p.add_argument(
        "--public", action="store_true", help="allow a non-loopback address (a token is then required to open the app)"
    )
    p.add_argument(
        "--public-url",
        metavar="URL",
        help="the address browsers use, when it is not host:port (reverse proxy, SSH port-forward on another port)",
    )
    p.add_argument(
        "--token",
        help="access token the browser must present (?token=…); generated and printed with --public when not given; "
        "also read from $SORA_TUI_SERVE_TOKEN",
    )
    return parser


# --- output helpers -------------------------------------------------------------------


def _x(value: object) -> str:
    """Outside text (paths, prompts, provider errors) made safe to put inside Rich markup."""
    from rich.markup import escape

    return escape(str(value))


def _err(message: str) -> None:
    print(f"sora-tui: {message}", file=sys.stderr)


def cli_advice(exc: BaseException) -> str:
    """What to do about an engine error, in the command line's words (flags and commands): ``cli_words``."""
    from .cli_words import cli_advice as words

    return words(exc)


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def job_summary(engine: Engine, job: Job) -> dict[str, Any]:
    from .cli_cast import shot_fields
    from .core.runner import display_segment_status, display_status, holder

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


def print_seams(job: Job, out) -> None:
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


def print_plan(engine: Engine, plan: Plan, out) -> None:
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from .core.costs import quote

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
    from .cli_cast import print_shots, shows_shots

    if shows_shots(plan):
        print_shots(engine, plan, out)
    out.print(
        f"[b]{len(plan.segments)} segments, {plan.total_seconds} s[/b] on {spec.name} "
        f"({plan.resolution}, {plan.aspect}, {plan.mode} mode{', audio' if audio else ''}) — "
        f"estimated cost [b]${engine.estimate(plan):.2f}[/b]"
    )
    from .core.finish.narration import check_plan

    for issue in check_plan(plan):
        out.print(f"[yellow]narration too long:[/yellow] {escape(str(issue))}", markup=True, highlight=False)


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise CliError("cannot ask for confirmation without a terminal; pass --yes to render")
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


class ProgressView:
    """Per-segment progress on stderr: rich bars on a terminal, plain lines otherwise."""

    def __init__(self, engine: Engine, job: Job, quiet: bool) -> None:
        self.engine = engine
        self.job = job
        self.quiet = quiet
        self.console = _console(stderr=True)
        self.live = self.console.is_terminal and not quiet
        self.progress: Progress | None = None
        self.tasks: dict[int, Any] = {}

    def __enter__(self) -> ProgressView:
        if self.live:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TextColumn("{task.fields[state]}"),
                TimeElapsedColumn(),
                console=self.console,
            )
            self.progress.start()
            for seg in self.engine.store.segments(self.job.id):
                done = seg.status == "done"
                self.tasks[seg.index] = self.progress.add_task(
                    f"segment {seg.index:>2}", total=1.0, completed=1 if done else 0, state=str(seg.status)
                )
            self.tasks[0] = self.progress.add_task("join      ", total=1.0, state="waiting")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, event: Any) -> None:
        from .core import models as m

        if self.progress is not None:
            if isinstance(event, m.SegmentProgress) and event.index in self.tasks:
                state = event.stage + (f" #{event.queue_position}" if event.queue_position is not None else "")
                if event.message and not event.message.startswith("queue position"):
                    state = event.message  # e.g. a local model's "denoising step 3 of 50, ETA 2 min 10 s"
                kwargs: dict[str, Any] = {"state": state}
                if event.fraction is not None and event.stage == "rendering":
                    kwargs["completed"] = min(0.95, event.fraction * 0.9)
                elif event.fraction is not None and event.stage == "downloading":
                    kwargs["completed"] = 0.9 + 0.1 * event.fraction
                self.progress.update(self.tasks[event.index], **kwargs)
            elif isinstance(event, m.SegmentStatusChanged) and event.index in self.tasks:
                done = event.status is m.SegmentStatus.DONE
                self.progress.update(self.tasks[event.index], state=str(event.status), completed=1.0 if done else None)
            elif isinstance(event, m.JoinProgress):
                self.progress.update(self.tasks[0], completed=event.fraction, state="joining")
            elif isinstance(event, m.LogLine) and event.level in ("warning", "error"):
                self.progress.console.print(event.message, style="yellow", markup=False)
            return
        if self.quiet:
            return
        if isinstance(event, m.LogLine):
            print(f"[{event.level}] {event.message}", file=sys.stderr, flush=True)
        elif isinstance(event, m.JobStatusChanged):
            print(f"[job] {event.status}", file=sys.stderr, flush=True)


# --- commands -------------------------------------------------------------------------


def _engine() -> Engine:
    from .core.engine import Engine

    return Engine()


def _request(engine: Engine, args: argparse.Namespace):
    from .cli_cast import request_cast
    from .core.models import InputError, Mode, Request

    if args.prompt is None or not args.prompt.strip():
        raise InputError("prompt", 'is empty; describe the video you want, e.g. sora-tui generate "a paper boat…"')
    seams = engine.default_seam_settings()
    if args.seams:
        seams.seams = args.seams
    if args.crossfade is not None:
        seams.crossfade_ms = args.crossfade
    if args.no_colour_anchor:
        seams.colour_anchor = False
    if args.colour_reference:
        seams.colour_reference = engine.check_reference_image(args.colour_reference)
    seams.validate("--")
    if args.start_image:
        from .core.jobfiles import check_image_file

        check_image_file(args.start_image)  # decoded: random bytes named .png are refused here (exit 2)
    from .core.plans import default_request

    base = default_request(engine.settings, args.model or engine.default_model())
    return engine.resolve(
        Request(
            prompt=args.prompt,
            segments=args.segments,
            seconds=args.seconds,
            model=base.model,
            resolution=args.resolution or base.resolution,
            aspect=args.aspect,
            mode=Mode(args.mode) if args.mode else base.mode,
            planner=args.planner or base.planner,
            start_image=args.start_image,
            audio=False if args.no_audio else None,
            seams=seams,
            narration=bool(getattr(args, "narration", False)),
            cast=request_cast(engine, getattr(args, "cast", None)),
            takes=_takes(getattr(args, "takes", 1)),
        )
    )


def _takes(value: int) -> int:
    from .core.models import MAX_TAKES, InputError

    if not 1 <= value <= MAX_TAKES:
        raise InputError("--takes", f"{value} is out of range", [f"1-{MAX_TAKES}"])
    return value


async def _make_plan(engine: Engine, args: argparse.Namespace, render: bool = True) -> Plan:
    from .core.planner.base import PlannerError

    req = _request(engine, args)
    if render:  # before planning: an openai plan costs money, and the render would be refused
        engine.check_render_key(req.model)
    try:
        return await engine.plan(req)
    except PlannerError as exc:
        raise CliError(f"planner: {exc}{cli_advice(exc)}") from None


async def cmd_plan(engine: Engine, args: argparse.Namespace) -> int:
    from .core.models import InputError

    plan = await _make_plan(engine, args, render=False)  # planning and estimates need no render key
    path = engine.save_plan_file(plan, args.plan_out)
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2))
    else:
        out = _console()
        print_plan(engine, plan, out)
        out.print(f"plan written to {path}; edit it, then `sora-tui render {path}`", markup=False, highlight=False)
    try:
        engine.check_render_key(plan.model)
    except InputError as exc:
        _err(f"note: rendering it needs a key — {exc.problem}{cli_advice(exc)}")
    return EXIT_OK


async def _render_job(engine: Engine, job: Job, args: argparse.Namespace, *, ask: bool) -> int:
    from .core.jobfiles import check_output_path
    from .core.models import JobStatus, Mode

    output = check_output_path(args.output) if args.output else None
    if ask and not args.yes and job.estimated_cost_usd > 0:  # a free (preview) render asks nothing
        assert job.plan is not None
        if not _confirm(f"Render {len(job.plan.segments)} segments for about ${job.estimated_cost_usd:.2f}?"):
            _err(f"not rendered; the job is saved as a draft: `sora-tui resume {job.id}` renders it")
            return EXIT_INTERRUPTED
    review = bool(getattr(args, "review_keyframes", False))
    review_takes = bool(getattr(args, "review_takes", False))
    if review_takes and getattr(args, "detach", False):
        raise CliError("--review-takes stops for a choice in the foreground; leave out --detach")
    if getattr(args, "detach", False):
        return _detach(engine, job, args, review)
    with ProgressView(engine, job, quiet=False) as view:
        final = await engine.run(
            job.id,
            on_event=view,
            output=output,
            max_cost=args.max_cost,
            review_keyframes=review,
            review_takes=review_takes,
        )
    summary = job_summary(engine, final)
    if args.json:
        print(json.dumps(summary, indent=2))
    if final.status is JobStatus.AWAITING_REVIEW:
        if not args.json and final.mode is not Mode.KEYFRAMES:
            from .cli_cast import print_takes_review

            print_takes_review(engine, final)
        elif not args.json:
            _print_keyframes(engine, final)
        return EXIT_OK
    if final.status is JobStatus.COMPLETED:
        if not args.json:
            _console().print(
                f"[green]done[/green]: {_x(final.output)} ({final.duration_s:.1f} s, ${final.cost_usd:.2f}) — job {final.id}"
            )
        if getattr(args, "music", None) or (final.plan is not None and final.plan.has_narration):
            from .cli_finish import finish_after_render

            return await finish_after_render(engine, final, args)
        return EXIT_OK
    _err(f"job {final.id} {final.status}: {job_error(final.error, final.error_code, final.error_context)}")
    return EXIT_FAILED


def _detach(engine: Engine, job: Job, args: argparse.Namespace, review: bool) -> int:
    """Hand the job to a background runner; print how to follow and stop it."""
    from .core.runner import LOG_FILE, spawn

    if not getattr(args, "now", False):
        from .cli_queue import detach_to_queue

        return detach_to_queue(engine, job, args, review)
    engine.check_idle(job)
    if job.status.name == "DRAFT":
        from .core.models import JobStatus

        engine.store.update_job(job.id, status=JobStatus.QUEUED)
    pid = spawn(None, job.id, max_cost=args.max_cost, review_keyframes=review, output=args.output)
    follow, stop = f"sora-tui show --follow {job.id}", f"sora-tui stop {job.id}"
    if args.json:
        print(json.dumps({"job_id": job.id, "status": "running", "runner_pid": pid, "follow": follow, "stop": stop}))
    else:
        # plain lines (no wrapping): the commands are for copying
        print(f"job {job.id} is rendering in the background (runner process {pid})")
        print(f"  follow it: {follow}\n  stop it:   {stop}\n  its log:   {job.job_dir / LOG_FILE}", flush=True)
    return EXIT_OK


async def cmd_generate(engine: Engine, args: argparse.Namespace) -> int:
    from .core.models import JobStatus

    if args.output:
        from .core.jobfiles import check_output_path

        check_output_path(args.output)
    if args.music:
        from .cli_finish import check_music

        check_music(args.music)
        if args.detach:
            raise CliError(
                "--music runs the finishing stage in the foreground; leave out --detach, or run "
                "`sora-tui finish JOB --music FILE` once the detached job has completed"
            )
    if args.plan_file:
        plan = engine.load_plan_file(args.plan_file)
        if not args.plan_only:
            engine.check_render_key(plan.model)
    else:
        plan = await _make_plan(engine, args, render=not args.plan_only)
    cost = engine.estimate(plan)
    from .core.costs import over_cap
    from .core.errors import Code

    if over_cap(cost, args.max_cost):
        from .core.models import InputError

        raise InputError(
            "max_cost",
            f"the plan would cost ${cost:.2f}, over the cap of ${args.max_cost:.2f}",
            code=Code.OVER_BUDGET,
            context={"total": cost, "cap": args.max_cost},
        )
    if not args.json or args.plan_only:
        out = _console(stderr=args.json)
        print_plan(engine, plan, out)
    if args.plan_only:
        if args.json:
            print(json.dumps({"plan": plan.to_dict(), "estimated_cost_usd": cost}, indent=2))
        return EXIT_OK
    job = engine.create_job(plan, status=JobStatus.QUEUED if args.yes or cost <= 0 else JobStatus.DRAFT)
    return await _render_job(engine, job, args, ask=True)


async def cmd_render(engine: Engine, args: argparse.Namespace) -> int:
    plan = engine.load_plan_file(args.plan_file)
    engine.check_render_key(plan.model)
    if not args.json:
        print_plan(engine, plan, _console())
    job = engine.create_job(plan)
    return await _render_job(engine, job, args, ask=True)


async def cmd_resume(engine: Engine, args: argparse.Namespace) -> int:
    job = engine.find_job(args.job)
    engine.check_idle(job)  # a live runner has it: follow or stop it instead of running it twice
    from .core.plans import ResumeStep, resume_step

    # the CLI's resume is how keyframes are accepted: it renders on unless --review-keyframes
    review = bool(getattr(args, "review_keyframes", False))
    step = resume_step(job, engine.store.segments(job.id), engine.store.keyframes(job.id), review=review)
    if step is ResumeStep.COMPLETE:
        if args.json:
            print(json.dumps(job_summary(engine, job), indent=2))
        else:
            _console().print(f"job {job.id} is already complete: {job.output}", markup=False)
        return EXIT_OK
    from .core.runner import reset_crashes

    reset_crashes(job.job_dir)  # the user's resume: a job held after a crash loop runs again
    return await _render_job(engine, job, args, ask=False)


async def cmd_redo(engine: Engine, args: argparse.Namespace) -> int:
    job = engine.find_job(args.job)
    cost, indexes = engine.redo_cost(job.id, args.from_index, only=args.only)
    what = f"segment {indexes[0]}" if len(indexes) == 1 else f"segments {indexes[0]}..{indexes[-1]}"
    # the cost first, on stderr (also with --json)
    _console(stderr=True).print(f"redo {what} of job {job.id} with fresh seeds: estimated ${cost:.2f}", markup=False)
    from .core.costs import over_cap
    from .core.errors import Code

    if over_cap(cost, args.max_cost):
        from .core.models import InputError

        raise InputError(
            "max_cost",
            f"re-rendering {what} would cost ${cost:.2f}, over the cap of ${args.max_cost:.2f}",
            code=Code.OVER_BUDGET,
            context={"total": cost, "cap": args.max_cost, "job": job.id},
        )
    if cost > 0 and not args.yes and not _confirm(f"Re-render {what} for about ${cost:.2f}?"):
        _err("nothing re-rendered")
        return EXIT_INTERRUPTED
    job = engine.prepare_redo(job.id, args.from_index, only=args.only)
    return await _render_job(engine, job, args, ask=False)


def _print_keyframes(engine: Engine, job: Job) -> None:
    out = _console()
    out.print(f"[b]keyframes of job {job.id}[/b] (review them before any video is paid for):")
    for kf in engine.store.keyframes(job.id):
        out.print(f"  {kf.index:>2}  {kf.status:<8} {_x(kf.file or '—')}  [dim]{kf.source}[/dim]", highlight=False)
    out.print(
        f"change one: `sora-tui keyframes {job.id} --regenerate K [--prompt TEXT]` or "
        f"`--replace K IMAGE`; render the videos: `sora-tui resume {job.id}`"
    )


async def cmd_keyframes(engine: Engine, args: argparse.Namespace) -> int:
    job = engine.find_job(args.job)
    if args.replace:
        k_text, image = args.replace
        try:
            k = int(k_text)
        except ValueError:
            raise CliError(f"keyframes --replace: {k_text!r} is not a keyframe number") from None
        engine.replace_keyframe(job.id, k, image)
    if args.regenerate is not None:
        await engine.regenerate_keyframe(job.id, args.regenerate, args.prompt)
    elif args.prompt:
        raise CliError("keyframes --prompt needs --regenerate K")
    if not engine.store.keyframes(job.id):
        raise CliError(f"job {job.id} has no keyframes (it is in {job.mode} mode)")
    if args.json:
        rows = [
            {"index": k.index, "status": k.status, "file": k.file, "source": k.source, "prompt": k.prompt}
            for k in engine.store.keyframes(job.id)
        ]
        print(json.dumps(rows, indent=2))
    else:
        _print_keyframes(engine, job)
    return EXIT_OK


def history_cells(job: Job) -> list[str]:
    """One job's history row: id, date, honest status, model, length, spent, prompt on one line."""
    import time

    from .core.runner import live_status

    return [
        job.id,
        time.strftime("%Y-%m-%d %H:%M", time.localtime(job.created_at)),
        live_status(job),
        job.model,
        f"{job.duration_s:.1f} s" if job.duration_s else "",
        f"${job.cost_usd:.2f}",
        " ".join(job.prompt.split()),
    ]


def cmd_history(engine: Engine, args: argparse.Namespace) -> int:

    from .core.models import InputError, JobStatus
    from .core.runner import live_status

    statuses = [str(s) for s in JobStatus] + ["interrupted"]
    if args.status and args.status not in statuses:
        raise InputError("--status", f"unknown status {args.status!r}", statuses)
    if args.status == "interrupted":  # not a stored status: working jobs that nothing holds
        jobs = [j for j in engine.store.list_jobs(search=args.search) if live_status(j) == "interrupted"]
    else:
        jobs = engine.store.list_jobs(search=args.search, status=args.status)
    if args.json:
        print(
            json.dumps(
                [job_summary(engine, j) | {"prompt": j.prompt, "created_at": j.created_at} for j in jobs], indent=2
            )
        )
        return EXIT_OK
    if not jobs:
        if args.search or args.status:
            print(
                "no job matches "
                + " and ".join(
                    f
                    for f in (f"{args.search!r}" if args.search else "", f"status {args.status}" if args.status else "")
                    if f
                )
            )
        else:
            print('no jobs yet: `sora-tui generate "..."` makes one')
        return EXIT_OK
    if not sys.stdout.isatty():  # piped: one tab-separated line per job, nothing cut
        print("job\tdate\tstatus\tmodel\tduration\tcost\tprompt")
        for j in jobs:
            print("\t".join(history_cells(j)))
        return EXIT_OK
    from rich.table import Table
    from rich.text import Text

    table = Table(title="History")
    table.add_column("job", no_wrap=True, min_width=max(len(j.id) for j in jobs))
    for col in ("date", "status", "model", "duration", "cost"):
        table.add_column(col, no_wrap=True)
    table.add_column("prompt", overflow="ellipsis", no_wrap=True, ratio=1)
    for j in jobs:
        table.add_row(*(Text(c) for c in history_cells(j)))  # outside text: never parsed as markup
    _console().print(table)
    return EXIT_OK


def cmd_show(engine: Engine, args: argparse.Namespace) -> int:
    job = engine.find_job(args.job)
    if args.follow:
        return follow_job(engine, job, args)
    summary = job_summary(engine, job)
    summary["plan"] = job.plan.to_dict() if job.plan else None
    summary["outputs"] = [
        {
            "kind": o.kind,
            "name": o.name,
            "path": o.path,
            "size_bytes": o.size_bytes,
            "removed": o.removed_at is not None,
        }
        for o in engine.store.outputs(job.id, include_removed=True)
    ]
    summary["logs"] = [
        {"ts": r.ts, "level": r.level, "segment": r.index, "message": r.message} for r in engine.store.logs(job.id)
    ]
    if args.json:
        print(json.dumps(summary, indent=2))
        return EXIT_OK
    out = _console()
    runner = summary["runner"]
    held = f" (process {runner['pid']} on {runner['host']})" if runner else ""
    out.print(f"[b]job {job.id}[/b] — {summary['status']}{held} — {job.model}, {job.mode} mode")
    out.print(f"prompt: {job.prompt}", markup=False)
    if job.plan:
        print_plan(engine, job.plan, out)
    for s in summary["segments"]:
        seg = engine.store.segment(job.id, s["index"])
        out.print(
            f"  segment {seg.index:>2}: {s['status']:<11} {seg.file or ''} {('— ' + seg.error) if seg.error else ''}",
            markup=False,
        )
    out.print(f"output: {job.output or '—'}   cost: ${job.cost_usd:.2f}   folder: {job.folder}", markup=False)
    print_seams(job, out)
    from .core.finish.stage import describe_outputs

    if job.plan is not None and job.plan.metadata:
        meta = job.plan.metadata
        out.print(f"title: {meta.title}   {' '.join(meta.hashtags)}", markup=False)
    for line in describe_outputs(engine.store.outputs(job.id, include_removed=True)):
        out.print(f"  {line}", markup=False)
    if job.error:
        out.print(f"[red]error:[/red] {_x(job_error(job.error, job.error_code, job.error_context))}")
    out.print("[b]log[/b]")
    for r in engine.store.logs(job.id, tail=30):
        out.print(f"  {r.level:<7} {r.message}", markup=False)
    return EXIT_OK


FOLLOW_POLL = 0.2  # seconds between looks at the store and the event log
INTERRUPT_GRACE = (
    3.0  # seconds an active job may show no holder (a foreground run taking its lease) before it counts as interrupted
)


def follow_job(engine: Engine, job: Job, args: argparse.Namespace) -> int:
    """`show --follow`: the job's progress from the store and its runner's event log, until it ends."""
    import time

    from .core.models import JobStatus
    from .core.runner import EventLog, display_status, exit_code, holder

    log = EventLog(job.job_dir)
    offset = log.end()  # the store says where the job is; the log says what happens from now on
    who = holder(job.job_dir)
    where = f" in {who.describe()}" if who else ""
    _err(f"following job {job.id} ({display_status(job, who)}{where}); Ctrl-C stops following, not the job")
    lost_at: float | None = None
    try:
        with ProgressView(engine, job, quiet=args.json) as view:
            while True:
                events, offset = log.read(offset)
                for event in events:
                    view(event)
                current = engine.store.get_job(job.id) or job
                who = holder(job.job_dir)
                if who is not None:
                    lost_at = None
                elif current.status.finished or current.status in (JobStatus.DRAFT, JobStatus.AWAITING_REVIEW):
                    break
                else:
                    lost_at = lost_at or time.monotonic()
                    if time.monotonic() - lost_at >= INTERRUPT_GRACE:
                        break
                time.sleep(FOLLOW_POLL)
            events, offset = log.read(offset)
            for event in events:
                view(event)
    except KeyboardInterrupt:
        _err(f"stopped following; job {job.id} goes on (`sora-tui stop {job.id}` stops it)")
        return EXIT_INTERRUPTED
    final = engine.store.get_job(job.id) or job
    status = display_status(final, holder(job.job_dir))
    if args.json:
        print(json.dumps(job_summary(engine, final), indent=2))
    elif final.status is JobStatus.COMPLETED:
        _console().print(
            f"[green]done[/green]: {final.output} ({(final.duration_s or 0):.1f} s, ${final.cost_usd:.2f}) — job {final.id}"
        )
    if status == "interrupted":
        _err(f"job {final.id} was interrupted (its runner is gone); `sora-tui resume {final.id}` continues it")
        return EXIT_FAILED
    if final.status is not JobStatus.COMPLETED:
        error = job_error(final.error, final.error_code, final.error_context)
        _err(f"job {final.id} {final.status}" + (f": {error}" if error else ""))
    return exit_code(final.status)


def cmd_stop(engine: Engine, args: argparse.Namespace) -> int:
    """`stop` / `cancel`: a request to the process that holds the job (it cancels; request ids are kept)."""
    import time

    from .core.runner import holder, live_status, request_stop

    job = engine.find_job(args.job)
    who = holder(job.job_dir)
    quote = engine.cancel_quote(job.id)
    if who is None or not request_stop(job.job_dir):
        state = live_status(job)
        if state == "queued":
            raise CliError(f"job {job.id} waits in the queue; `sora-tui queue rm {job.id}` takes it out")
        raise CliError(f"job {job.id} is not running ({state}); there is nothing to stop")
    _console().print(f"asked {who.describe()} to stop job {job.id}; {quote.summary()}", markup=False)
    if not args.wait:
        return EXIT_OK
    while holder(job.job_dir) is not None:
        time.sleep(FOLLOW_POLL)
    final = engine.store.get_job(job.id) or job
    _console().print(f"job {job.id} {live_status(final)}", markup=False)
    return EXIT_OK


KIND_SHORT = {"t2v": "t2v", "i2v": "i2v", "flf2v": "flf", "extend": "extend", "r2v": "r2v"}


def _model_row(spec, default: str) -> dict:
    """One catalog model for `sora-tui models --json`: kinds, audio, price per kind, modes."""
    from .core.catalog import model_modes

    res = spec.default_resolution or spec.resolutions[0]
    kinds = {}
    for kind in spec.kinds:
        ks = spec.for_kind(kind)
        kinds[str(kind)] = {
            "endpoint": ks.endpoint,
            "durations": ks.durations,
            "resolutions": ks.resolutions if ks.resolution_field else None,
            "aspects": ks.aspects if ks.aspect_field else None,
            "audio": ks.audio,
            "price": spec.price_label(res, kind),
            "usd_per_second": spec.price_per_second(res, False, kind),
            "usd_per_second_audio": spec.price_per_second(res, True, kind),
            "price_confirmed": bool(ks.price.get("confirmed", True)),
            "price_source": ks.price.get("source", ""),
            "price_checked": ks.price.get("checked", ""),
        }
    return {
        "id": spec.id,
        "name": spec.name,
        "provider": spec.provider,
        "status": spec.status,
        "default": spec.id == default,
        "durations": spec.durations,
        "resolutions": spec.resolutions,
        "aspects": spec.aspects,
        "audio": spec.audio,
        "kinds": kinds,
        "modes": model_modes(spec) if not spec.retired else [],
        "price": spec.price_label(),
        "price_confirmed": spec.price_confirmed(),
    }


def cmd_models(engine: Engine, args: argparse.Namespace) -> int:
    if getattr(args, "models_action", None) == "local":
        from .cli_local import cmd_models_local

        return cmd_models_local(engine, args)
    default = engine.default_model()
    rows = [_model_row(s, default) for s in engine.catalog]
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Video models (prices per kind at the default resolution; * = estimate, not read on fal)")
    for col in ("id", "name", "status", "kinds", "audio", "price per kind", "modes"):
        table.add_column(col)
    for r in rows:
        status = (
            "[red]retired[/red]"
            if r["status"] == "retired"
            else ("[green]default[/green]" if r["default"] else "current")
        )
        kinds = r["kinds"]
        audios = {k["audio"] for k in kinds.values()}
        audio = (
            audios.pop() if len(audios) == 1 else " ".join(f"{KIND_SHORT[k]}:{v['audio']}" for k, v in kinds.items())
        )
        prices = "\n".join(
            f"{KIND_SHORT[k]} {v['price'].replace(' (estimate)', '').replace('/s with audio', '/s audio')}"
            + ("" if v["price_confirmed"] else " *")
            for k, v in kinds.items()
        )
        table.add_row(
            r["id"],
            escape(r["name"]),
            status,
            " ".join(KIND_SHORT[k] for k in kinds),
            audio,
            escape(prices),
            " ".join(r["modes"]) or "-",
        )
    _console().print(table)
    return EXIT_OK


def cmd_keys(args: argparse.Namespace) -> int:
    from .core import keys

    if args.action == "status":
        for name in keys.NAMES:
            print(keys.get_key(name).describe(how=f"`sora-tui keys set {name}`"))
        if not keys.keyring_available():
            print(
                "note: no OS keyring is available here; keys come from the environment variables or from "
                f"key files in {keys.key_dir()} (`sora-tui keys set NAME --file`)"
            )
        return EXIT_OK
    if not args.name:
        raise CliError(f"keys {args.action}: name the key (fal or openai)")
    if args.action == "set":
        import getpass

        if not args.file and not keys.keyring_available():
            refused = keys.KeyringUnavailable(args.name)
            raise CliError(str(refused) + cli_advice(refused))
        if args.file:
            _err("warning: " + keys.file_warning(args.name))
            if not args.yes:
                if not sys.stdin.isatty():
                    raise CliError("keys set --file: add --yes to store the key unencrypted (stdin is not a terminal)")
                if input("Store it there? [y/N] ").strip().lower() not in ("y", "yes"):
                    print("not stored")
                    return EXIT_INPUT
        # the key comes from a hidden prompt or stdin, never from the command line (the process list)
        if sys.stdin.isatty():
            value = getpass.getpass(f"{args.name} key (input hidden): ")
        else:
            value = sys.stdin.readline()
        try:
            path = keys.set_key(args.name, value, to_file=args.file)
        except keys.KeyringUnavailable as exc:
            raise CliError(str(exc) + cli_advice(exc)) from None
        print(f"{args.name} key stored in {path} (mode 0600)" if path else f"{args.name} key stored in the OS keyring")
        info = keys.get_key(args.name)
        if info.source == "env":
            print(f"note: ${info.env_var} is set and takes precedence")
        elif args.file and info.source == "keyring":
            print("note: the OS keyring also holds this key and takes precedence over the file")
        return EXIT_OK
    try:
        removed = keys.remove_key(args.name)
    except keys.KeyringUnavailable as exc:
        raise CliError(str(exc)) from None
    places = {"keyring": "the OS keyring", "file": f"the key file {keys.key_file(args.name)}"}
    if removed:
        print(f"{args.name} key deleted from " + " and ".join(places[p] for p in removed))
    else:
        print(f"{args.name} key was not stored in the OS keyring or a key file")
    info = keys.get_key(args.name)
    if info.source == "env":
        print(f"note: ${info.env_var} is still set in this shell's environment and stays in effect")
    return EXIT_OK


def cmd_tui() -> int:
    from .tui.app import run_app

    return run_app()


def cmd_serve(args: argparse.Namespace) -> int:
    from .tui.serve import serve

    return serve(host=args.host, port=args.port, public=args.public, public_url=args.public_url, token=args.token)


async def _dispatch(args: argparse.Namespace) -> int:
    engine = _engine()
    try:
        from . import cli_queue
        from .cli_cast import cmd_cast, cmd_pick, cmd_takes
        from .cli_finish import ASYNC_HANDLERS, SYNC_HANDLERS

        handler = {
            "generate": cmd_generate,
            "plan": cmd_plan,
            "render": cmd_render,
            "resume": cmd_resume,
            "redo": cmd_redo,
            "keyframes": cmd_keyframes,
            "pick": cmd_pick,
            **ASYNC_HANDLERS,
            **cli_queue.ASYNC_HANDLERS,
        }.get(args.command)
        if handler is not None:
            return await handler(engine, args)
        sync = {
            "history": cmd_history,
            "show": cmd_show,
            "stop": cmd_stop,
            "cancel": cmd_stop,
            "models": cmd_models,
            "cast": cmd_cast,
            "takes": cmd_takes,
            **SYNC_HANDLERS,
            **cli_queue.SYNC_HANDLERS,
        }[args.command]
        return sync(engine, args)
    finally:
        await engine.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .cli_local import apply_device_args
    from .core.models import InputError

    apply_device_args(args)

    try:
        if args.command is None:
            return cmd_tui()
        if args.command == "keys":
            return cmd_keys(args)
        if args.command == "serve":
            return cmd_serve(args)
        import asyncio

        return asyncio.run(_dispatch(args))
    except (InputError, CliError) as exc:
        _err(str(exc) + cli_advice(exc))
        return EXIT_INPUT
    except KeyboardInterrupt:
        _err("interrupted; finished segments are kept — `sora-tui resume last` continues")
        return EXIT_INTERRUPTED
    except Exception as exc:  # last resort: a clear line, never a traceback for users
        from .core.errors import JobFailed, describe_os_error
        from .core.store import StoreError

        if isinstance(exc, OSError):  # a full, read-only or missing disk: which, where, what is free
            _err(describe_os_error(exc))
            return EXIT_FAILED
        if isinstance(exc, StoreError | JobFailed):
            _err(str(exc))
            return EXIT_FAILED
        raise


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
