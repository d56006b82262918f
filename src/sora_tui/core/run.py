"""One execution of a job (fresh, resumed or redone): ``JobRun`` puts together the parts in
``core/jobrun/`` (shared state and rules, provider requests, hand-offs, one segment, takes, the
plan's modes, the join) and runs them: preflight, the budget, the mode, the join, how it ends."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from . import runner
from .costs import over_cap, remaining_cost
from .errors import Code, DiskFull, FileProblem, JobCancelled, JobFailed, code_of, os_failure
from .jobrun.base import EventSink as EventSink
from .jobrun.base import RunControl as RunControl
from .jobrun.base import RunHost as RunHost
from .jobrun.base import settled as settled
from .jobrun.joining import JoinStep
from .jobrun.modes import ModeSteps
from .jobrun.requests import RequestCancelled as RequestCancelled
from .jobrun.takes import TakesToReview as TakesToReview
from .models import InputError, Job, JobStatus, JobStatusChanged, LogLine, Mode, SegmentStatus
from .providers.base import ProviderError
from .testhooks import kill_at


class JobRun(ModeSteps, JoinStep):
    """One execution of a job (fresh, resumed or redone)."""

    async def run(self) -> Job:
        job_id = self.job.id
        # cv2 and numpy load in a worker while the first segment renders, not on the hand-off
        asyncio.get_running_loop().run_in_executor(None, _import_media_libs)
        looping = self.note_start()
        if looping:  # its runner keeps dying: wait for the user instead of dying again
            self.record_failure(looping)
            return self.engine.find_job(job_id)
        try:
            kill_at(self.engine.env, "started", 0)
            await self.preflight()
            self.set_job_status(JobStatus.GENERATING, error=None)
            self.log(f"rendering {len(self.plan.segments)} segments on {self.spec.id} ({self.plan.mode} mode)")
            if self.plan.mode is Mode.CHAIN:
                await self.run_chain()
            elif self.plan.mode is Mode.EXTEND:
                await self.run_extend()
            elif self.plan.mode is Mode.KEYFRAMES:
                frames = await self.run_keyframes()
                if self.review_keyframes:
                    self.set_job_status(JobStatus.AWAITING_REVIEW, "keyframes ready for review")
                    self.log(
                        f"keyframes ready in {self.dir} (kf_00.png … kf_{len(frames) - 1:02d}.png); replace or "
                        f"regenerate any, then resuming job {job_id} renders the videos",
                    )
                    return self.engine.find_job(job_id)
                await self.run_parallel(lambda seg: (frames[seg.index - 1], frames[seg.index]))
            else:
                start = Path(self.plan.start_image) if self.plan.start_image else None
                await self.run_parallel(lambda seg: (start if seg.index == 1 else None, None))
            await self.join()
        except InputError as exc:
            # it cannot start (or go on) until the user fixes something: say so, never stay "generating"
            self.control.in_flight.clear()
            message = self.engine.redact(str(exc))
            self.set_job_status(
                JobStatus.FAILED,
                message,
                error=message,
                error_code=exc.code,
                error_context={**exc.context, "job": job_id},
            )
            self.log(message, "error")
            raise
        except TakesToReview as stop:
            # the requests of other runs stay stored (not cancelled): going on re-attaches to them
            self.control.in_flight.clear()
            self.set_job_status(JobStatus.AWAITING_REVIEW, str(stop))
            self.log(str(stop), "warning", stop.index)
        except JobCancelled:
            await self.cancel_in_flight()
            self.set_job_status(JobStatus.CANCELLED, "cancelled")
            self.log(f"job cancelled; resuming job {job_id} continues it", "warning")
        except (JobFailed, ProviderError, OSError) as exc:
            # Keep accepted requests stored (not cancelled): they are paid for, and a resume
            # re-attaches to them instead of submitting again.
            self.control.in_flight.clear()
            failure: Exception = os_failure(exc, exc.filename or self.dir) if isinstance(exc, OSError) else exc
            message = self.engine.redact(str(failure))
            if isinstance(failure, DiskFull | FileProblem):
                message += "; finished segments are kept"
            code, context = code_of(failure)
            self.record_failure(message, code, {**context, "job": job_id} if code else None)
            if isinstance(failure, DiskFull):  # the user must act (free space): bad input, exit 2
                raise InputError(
                    "disk",
                    message,
                    code=Code.DISK_FULL,
                    context={"path": str(failure.path), "free": failure.free, "job": job_id},
                ) from None
            if isinstance(failure, FileProblem):
                raise InputError(
                    "files", message, code=Code.NOT_WRITABLE, context={"path": str(failure.path), "job": job_id}
                ) from None
        except asyncio.CancelledError:
            # the task itself was cancelled (app quit, Ctrl-C): leave the job resumable
            self.store.update_job(job_id, status=JobStatus.CANCELLED, error="interrupted")
            raise
        finally:
            runner.note_end(self.dir)  # ended in order (a death never gets here)
            with contextlib.suppress(JobFailed, sqlite3.Error):  # a full disk: the failure is already said
                self.emit_cost()
        return self.engine.find_job(job_id)

    def note_start(self) -> str:
        """Count this run's start for crash loops (``runner.note_start``); the message that holds the
        job when its runner died ``settings.crash_limit`` times in a row without progress, else ""."""
        done = sum(1 for s in self.store.segments(self.job.id) if s.status is SegmentStatus.DONE)
        rec = runner.note_start(self.dir, done, self.last_error())
        limit = self.settings.crash_limit
        if not rec.looping(limit):
            return ""
        runner.note_end(self.dir, keep_count=True)
        last = f"; last error: {rec.last_error}" if rec.last_error else ""
        return (
            f"the runner of this job died {rec.deaths} time{'s' if rec.deaths != 1 else ''} in a row without finishing a segment (a crash "
            f"loop), so it is not restarted by itself{last}. Fix the cause, then resuming job {self.job.id} "
            "tries again"
        )

    def last_error(self) -> str:
        """What a runner that died last said: its last error or warning in the log, else its last line."""
        for rec in reversed(self.store.logs(self.job.id, tail=40)):
            if rec.level in ("error", "warning"):
                return rec.message
        return self.engine.redact(runner.last_words(self.dir))

    def record_failure(self, message: str, code: Code | None = None, context: dict[str, Any] | None = None) -> None:
        """The job ends ``failed`` with ``message`` in history, its log and the board. On a full disk
        the history may refuse the write: the event still reaches every follower that can hear it."""
        self.job.status = JobStatus.FAILED
        try:
            self.store_critical(
                lambda: self.store.update_job(
                    self.job.id, status=JobStatus.FAILED, error=message, error_code=code, error_context=context
                )
            )
        except (JobFailed, sqlite3.Error):
            pass
        self.emit(JobStatusChanged(self.job.id, JobStatus.FAILED, message))
        try:
            self.log(message, "error")
        except (JobFailed, sqlite3.Error):
            self.emit(LogLine(self.job.id, message, "error", None))

    async def preflight(self) -> None:
        """What must hold before anything is paid for: a writable output, a provider (its key), the
        budget, done segments whose files still play, and room on the disk for what the render
        writes (``disk.check_disk``). Raises InputError naming what to fix."""
        from .disk import check_disk, ensure_reserve
        from .jobfiles import check_output_path

        if self.output_arg:
            self.output = check_output_path(self.output_arg)
        for model in dict.fromkeys(
            [self.spec.id] + [self.plan.shot_model(i) for i in range(1, len(self.plan.segments) + 1)]
        ):
            self.engine.check_render_key(model)
            self.engine.provider(self.engine.catalog.get(model))
        if self.plan.cast or self.plan.cut_indexes():
            self.route(1)  # every shot's route, checked before anything is paid (the job's own cast)
        self.check_budget()
        await self.verify_done_segments()
        check_disk(self.plan, self.spec, self.dir, self.store.segments(self.job.id), self.settings.disk_margin_mb)
        ensure_reserve(self.store.path.parent)  # room for the last words if the disk fills anyway

    def check_budget(self) -> None:
        if self.max_cost is None:
            return
        # a resumed job: takes already stored are paid (fetched, not submitted again), the rest are not
        left = remaining_cost(
            self.plan,
            self.engine.catalog,
            self.store.segments(self.job.id),
            self.store.keyframes(self.job.id),
            job_dir=self.dir,
        )
        total = self.spent() + left.total
        if over_cap(total, self.max_cost):
            raise InputError(
                "max_cost",
                f"this job would cost ${total:.2f}, over the cap of ${self.max_cost:.2f}",
                code=Code.OVER_BUDGET,
                context={"total": round(total, 4), "cap": self.max_cost, "job": self.job.id},
            )

    async def verify_done_segments(self) -> None:
        """Segments marked done must still have a playable file (else: clear input error, nothing deleted)."""
        from . import media

        for seg in self.store.segments(self.job.id):
            if seg.status is not SegmentStatus.DONE:
                continue
            path = Path(seg.file or "")
            try:
                await asyncio.to_thread(media.probe, path)
            except (media.MediaError, OSError) as exc:
                raise InputError(
                    f"segment {seg.index}",
                    f"file {path} is missing or corrupt ({exc})",
                    code=Code.SEGMENT_FILE,
                    context={"job": self.job.id, "index": seg.index},
                ) from None


def _import_media_libs() -> None:
    try:
        import cv2  # noqa: F401
    except ImportError:  # pragma: no cover - declared dependency; media reports it where used
        pass
