"""`sora-tui finish | export | meta | clean`: the finishing stage on the command line.

Registered by :mod:`sora_tui.cli`; same exit codes (0 done, 1 failed, 2 bad input, 130 interrupted).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .advice import cli_advice

if TYPE_CHECKING:
    from ..core.engine import Engine
    from ..core.finish.stage import Finisher

from .common import EXIT_FAILED, EXIT_INPUT, EXIT_OK
from .render import _console
from .render import _x as _escape

PRESET_NAMES = ["web-720p", "web-1080p", "webm", "hls", "gif-preview", "source"]


DETACH_HELP = "run it in a background runner and return at once (follow: show --follow JOB)"


def detach(engine: Engine, job_ref: str, task: str, options: dict[str, Any], as_json: bool) -> int:
    """`finish|export --detach`: start a runner task on the job; print how to follow and stop it."""
    from ..core import runner

    job = engine.find_job(job_ref)
    pid = runner.spawn(engine.env, job.id, task=task, options=options)
    follow, stop = f"sora-tui show --follow {job.id}", f"sora-tui stop {job.id}"
    if as_json:
        print(json.dumps({"job_id": job.id, "task": task, "runner_pid": pid, "follow": follow, "stop": stop}))
    else:
        print(f"{task} of job {job.id} runs in process {pid}; follow it with `{follow}`, stop it with `{stop}`")
        print(f"its log: {job.job_dir / runner.LOG_FILE}")
    return EXIT_OK


def add_parsers(sub: Any, money: Any) -> None:
    p = sub.add_parser("finish", help="narration, subtitles, music bed and loudness: a new finished version")
    p.add_argument("job", help="job id, unique prefix, or `last`")
    p.add_argument("--music", help="audio file for the music bed (looped or trimmed, faded, ducked under speech)")
    p.add_argument("--tts", choices=["offline", "openai", "espeak", "placeholder"], help="speech provider")
    p.add_argument("--no-narration", action="store_true", help="do not speak the plan's narration")
    p.add_argument("--no-subtitles", action="store_true", help="no SRT/WebVTT files and no subtitle track")
    p.add_argument("--burn-subtitles", action="store_true", help="also draw the subtitles into the picture")
    p.add_argument("--lufs", type=float, help="target loudness (EBU R128), default -16")
    p.add_argument("--max-cost", type=money, help="refuse if speech would take the job over this many USD")
    p.add_argument("--detach", "-d", action="store_true", help=DETACH_HELP)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("export", help="export a finished job for delivery (web MP4, WebM, HLS, GIF, poster)")
    p.add_argument("job", help="job id, unique prefix, or `last`")
    p.add_argument("--preset", "-p", action="append", choices=PRESET_NAMES, required=True, help="repeatable")
    p.add_argument("--detach", "-d", action="store_true", help=DETACH_HELP + " (one preset)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("meta", help="show or edit a job's title, description and hashtags")
    p.add_argument("job", help="job id, unique prefix, or `last`")
    p.add_argument("--title")
    p.add_argument("--description")
    p.add_argument("--hashtags", help='space-separated, e.g. "#fox #snow"')
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("clean", help="remove intermediate files of finished jobs (never a final or an export)")
    p.add_argument("--older-than", default="7d", help="only jobs finished before this age (7d, 24h, 0)")
    p.add_argument("--keep", choices=["finals", "all"], default="finals", help="finals: only finished files stay")
    p.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    p.add_argument("--json", action="store_true")


class FinishView:
    """One progress bar (with ETA) per finishing stage on stderr, or plain lines without a terminal."""

    def __init__(self, quiet: bool = False) -> None:
        self.console = _console(stderr=True)
        self.live = self.console.is_terminal and not quiet
        self.quiet = quiet
        self.progress: Any = None
        self.tasks: dict[str, Any] = {}
        self._said: dict[str, int] = {}

    def __enter__(self) -> FinishView:
        if self.live:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("{task.description:<12}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, event: Any) -> None:
        from ..core import models as m

        if isinstance(event, m.FinishProgress):
            if self.progress is not None:
                if event.stage not in self.tasks:
                    self.tasks[event.stage] = self.progress.add_task(event.stage, total=1.0)
                self.progress.update(self.tasks[event.stage], completed=event.fraction)
            elif not self.quiet:
                step = int(event.fraction * 4)  # plain lines at 0/25/50/75/100 %
                if self._said.get(event.stage, -1) < step:
                    self._said[event.stage] = step
                    eta = f", about {event.eta_s:.0f} s left" if event.eta_s else ""
                    print(f"[{event.stage}] {event.fraction * 100:.0f}%{eta}", file=sys.stderr, flush=True)
        elif isinstance(event, m.LogLine) and not self.quiet:
            if self.progress is not None:
                self.progress.console.print(event.message, markup=False)
            else:
                print(f"[{event.level}] {event.message}", file=sys.stderr, flush=True)


async def _run(finisher: Finisher, coro: Any) -> Any:
    from ..core.finish.ffmpeg import Cancelled

    try:
        return await coro
    except (KeyboardInterrupt, Cancelled):
        finisher.cancel()
        raise KeyboardInterrupt from None


async def cmd_finish(engine: Engine, args: argparse.Namespace) -> int:
    from ..core.finish.stage import Finisher, FinishError, FinishOptions
    from ..core.finish.tts import PlaceholderTTS

    opts = FinishOptions(
        narration=not args.no_narration,
        tts=args.tts,
        music=Path(args.music) if args.music else None,
        subtitles=not args.no_subtitles,
        burn_subtitles=args.burn_subtitles,
        loudness=args.lufs,
        max_cost=args.max_cost,
    )
    if getattr(args, "detach", False):
        if opts.music is not None:
            opts.music = opts.music.expanduser().resolve()
        return detach(engine, args.job, "finish", opts.to_dict(), args.json)
    with FinishView(quiet=args.json) as view:
        finisher = Finisher(engine, view)
        try:
            result = await _run(finisher, finisher.finish(args.job, opts))
        except FinishError as exc:
            print(f"sora-tui: finish failed: {exc}{cli_advice(exc)}", file=sys.stderr)
            return EXIT_FAILED
    data = {
        "job_id": result.job_id,
        "output": str(result.path),
        "version": result.version,
        "duration_s": round(result.duration, 3),
        "srt": str(result.srt) if result.srt else None,
        "vtt": str(result.vtt) if result.vtt else None,
        "cues": len(result.cues),
        "voice": result.voice,
        "placeholder_voice": result.placeholder_voice,
        "speech_cost_usd": round(result.speech_cost_usd, 4),
        "loudness": {"method": result.mix.method, "gain_db": round(result.mix.gain_db, 2)},
    }
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        out = _console()
        if result.placeholder_voice:
            out.print(f"[yellow]note:[/yellow] {PlaceholderTTS.LABEL}")
        from rich.markup import escape

        out.print(f"[green]finished[/green] v{result.version}: {escape(str(result.path))}")
        if result.srt:
            out.print(
                f"subtitles: {result.srt} and {result.vtt} ({len(result.cues)} cues; also a soft track)", markup=False
            )
    return EXIT_OK


async def cmd_export(engine: Engine, args: argparse.Namespace) -> int:
    from ..core.finish.stage import Finisher, FinishError
    from ..core.reach import human_size

    if getattr(args, "detach", False):
        presets = list(dict.fromkeys(args.preset))
        if len(presets) > 1:
            print("sora-tui: --detach exports one preset at a time; run it once per preset", file=sys.stderr)
            return EXIT_INPUT
        return detach(engine, args.job, "export", {"preset": presets[0]}, args.json)
    rows = []
    with FinishView(quiet=args.json) as view:
        finisher = Finisher(engine, view)
        for preset in dict.fromkeys(args.preset):
            start = time.monotonic()
            try:
                result = await _run(finisher, finisher.export(args.job, preset))
            except FinishError as exc:
                print(f"sora-tui: export {preset} failed: {exc}", file=sys.stderr)
                return EXIT_FAILED
            rows.append(
                {
                    "preset": preset,
                    "path": str(result.path),
                    "files": len(result.files),
                    "size_bytes": result.size_bytes,
                    "duration_s": round(result.duration, 3),
                    "seconds": round(time.monotonic() - start, 2),
                }
            )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        out = _console()
        for r in rows:
            out.print(
                f"[green]{r['preset']}[/green]: {_escape(r['path'])} ({human_size(r['size_bytes'])}, {r['seconds']} s)"
            )
    return EXIT_OK


def cmd_meta(engine: Engine, args: argparse.Namespace) -> int:
    from ..core.finish.stage import Finisher

    finisher = Finisher(engine)
    if args.title is None and args.description is None and args.hashtags is None:
        job = engine.find_job(args.job)
        meta = job.plan.metadata if job.plan else None
    else:
        meta = finisher.set_metadata(
            args.job, args.title, args.description, args.hashtags.split() if args.hashtags is not None else None
        )
    data = meta.to_dict() if meta else {}
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(f"title:       {data.get('title', '')}")
        print(f"description: {data.get('description', '')}")
        print(f"hashtags:    {' '.join(data.get('hashtags', []))}")
    return EXIT_OK


def cmd_clean(engine: Engine, args: argparse.Namespace) -> int:
    from ..core.finish.clean import apply_clean, parse_age, plan_clean
    from ..core.reach import human_size

    report = plan_clean(engine, parse_age(args.older_than), args.keep)
    if not args.dry_run:
        report = apply_clean(engine, report)
    if args.json:
        print(
            json.dumps(
                {
                    "dry_run": args.dry_run,
                    "jobs_checked": report.jobs_checked,
                    "freed_bytes": report.freed_bytes,
                    "skipped_busy": report.skipped,
                    "files": [
                        {"job_id": i.job_id, "path": str(i.path), "size_bytes": i.size, "reason": i.reason}
                        for i in report.items
                    ],
                },
                indent=2,
            )
        )
        return EXIT_OK
    verb = "would remove" if args.dry_run else "removed"
    for job_id, items in report.by_job().items():
        print(f"{job_id}:")
        for i in items:
            print(f"  {verb} {i.path.name:<28} {human_size(i.size):>9}  {i.reason}")
    print(
        f"{verb} {len(report.items)} files from {len(report.by_job())} of {report.jobs_checked} finished jobs, "
        f"{human_size(report.freed_bytes)}" + (" freed" if not args.dry_run else "")
    )
    for job_id in report.skipped:
        print(f"skipped {job_id}: it is being finished or exported")
    return EXIT_OK


def check_music(path: str) -> None:
    """A --music file must exist and hold sound (checked before any video is paid for)."""
    from ..core.finish.ffmpeg import has_audio_stream
    from ..core.models import InputError

    music = Path(path).expanduser()
    if not music.is_file():
        raise InputError("music", f"{music} is not a file; give an audio file (wav, mp3, m4a, ogg, flac)")
    if not has_audio_stream(music):
        raise InputError("music", f"{music} holds no sound that ffmpeg can read")


async def finish_after_render(engine: Engine, job: Any, args: argparse.Namespace) -> int:
    """`generate --narration/--music`: the finishing stage right after the join."""
    finish_args = argparse.Namespace(
        job=job.id,
        music=getattr(args, "music", None),
        tts=None,
        no_narration=False,
        no_subtitles=False,
        burn_subtitles=False,
        lufs=None,
        max_cost=getattr(args, "max_cost", None),
        json=False,
    )
    if args.json:  # the job summary was the one JSON object; the finished file is in the history
        from ..core.finish.stage import Finisher, FinishError, FinishOptions

        try:
            await Finisher(engine).finish(job.id, FinishOptions(music=Path(args.music) if args.music else None))
        except FinishError as exc:
            print(f"sora-tui: finish failed: {exc}{cli_advice(exc)}", file=sys.stderr)
            return EXIT_FAILED
        return EXIT_OK
    return await cmd_finish(engine, finish_args)


ASYNC_HANDLERS = {"finish": cmd_finish, "export": cmd_export}
SYNC_HANDLERS = {"meta": cmd_meta, "clean": cmd_clean}
