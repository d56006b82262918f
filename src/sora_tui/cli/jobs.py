"""Job commands: plan, generate, render, resume, redo, keyframes; a render in the foreground or handed to the queue."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from .advice import cli_advice, job_error
from .common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CliError, _confirm, _err
from .progress import ProgressView
from .render import _console, _print_keyframes, _x, job_summary, print_plan

if TYPE_CHECKING:
    from ..core.engine import Engine
    from ..core.models import Job, Plan, Request


def _request(engine: Engine, args: argparse.Namespace) -> Request:
    from ..core.models import InputError, Mode, Request
    from .shots import request_cast

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
        from ..core.jobfiles import check_image_file

        check_image_file(args.start_image)  # decoded: random bytes named .png are refused here (exit 2)
    from ..core.plans import default_request

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
    from ..core.models import MAX_TAKES, InputError

    if not 1 <= value <= MAX_TAKES:
        raise InputError("--takes", f"{value} is out of range", [f"1-{MAX_TAKES}"])
    return value


async def _make_plan(engine: Engine, args: argparse.Namespace, render: bool = True) -> Plan:
    from ..core.planner.base import PlannerError

    req = _request(engine, args)
    if render:  # before planning: an openai plan costs money, and the render would be refused
        engine.check_render_key(req.model)
    try:
        return await engine.plan(req)
    except PlannerError as exc:
        raise CliError(f"planner: {exc}{cli_advice(exc)}") from None


async def cmd_plan(engine: Engine, args: argparse.Namespace) -> int:
    from ..core.models import InputError

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
    from ..core.jobfiles import check_output_path
    from ..core.models import JobStatus, Mode

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
            from .shots import print_takes_review

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
            from .finish import finish_after_render

            return await finish_after_render(engine, final, args)
        return EXIT_OK
    _err(f"job {final.id} {final.status}: {job_error(final.error, final.error_code, final.error_context)}")
    return EXIT_FAILED


def _detach(engine: Engine, job: Job, args: argparse.Namespace, review: bool) -> int:
    """Hand the job to a background runner; print how to follow and stop it."""
    from ..core.runner import LOG_FILE, spawn

    if not getattr(args, "now", False):
        from .queue import detach_to_queue

        return detach_to_queue(engine, job, args, review)
    engine.check_idle(job)
    if job.status.name == "DRAFT":
        from ..core.models import JobStatus

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
    from ..core.models import JobStatus

    if args.output:
        from ..core.jobfiles import check_output_path

        check_output_path(args.output)
    if args.music:
        from .finish import check_music

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
    from ..core.costs import over_cap
    from ..core.errors import Code

    if over_cap(cost, args.max_cost):
        from ..core.models import InputError

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
    from ..core.plans import ResumeStep, resume_step

    # the CLI's resume is how keyframes are accepted: it renders on unless --review-keyframes
    review = bool(getattr(args, "review_keyframes", False))
    step = resume_step(job, engine.store.segments(job.id), engine.store.keyframes(job.id), review=review)
    if step is ResumeStep.COMPLETE:
        if args.json:
            print(json.dumps(job_summary(engine, job), indent=2))
        else:
            _console().print(f"job {job.id} is already complete: {job.output}", markup=False)
        return EXIT_OK
    from ..core.runner import reset_crashes

    reset_crashes(job.job_dir)  # the user's resume: a job held after a crash loop runs again
    return await _render_job(engine, job, args, ask=False)


async def cmd_redo(engine: Engine, args: argparse.Namespace) -> int:
    job = engine.find_job(args.job)
    cost, indexes = engine.redo_cost(job.id, args.from_index, only=args.only)
    what = f"segment {indexes[0]}" if len(indexes) == 1 else f"segments {indexes[0]}..{indexes[-1]}"
    # the cost first, on stderr (also with --json)
    _console(stderr=True).print(f"redo {what} of job {job.id} with fresh seeds: estimated ${cost:.2f}", markup=False)
    from ..core.costs import over_cap
    from ..core.errors import Code

    if over_cap(cost, args.max_cost):
        from ..core.models import InputError

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
