"""The join of a run: segments into one video (seams, cuts, sound), the seam report, the output."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

from ..errors import Code, DiskFull, JobFailed
from ..jobfiles import write_json_atomic
from ..models import JobStatus, JoinProgress, SegmentStatus
from .handoff import HandoffSteps


class JoinStep(HandoffSteps):
    """The join step of a run."""

    async def join(self) -> None:
        from .. import media

        self.check_cancel()
        segments = self.store.segments(self.job.id)
        not_done = [s.index for s in segments if s.status is not SegmentStatus.DONE]
        if not_done:
            raise JobFailed(
                f"segments {not_done} are not done; resuming job {self.job.id} renders them",
                code=Code.SEGMENTS_NOT_DONE,
                context={"job": self.job.id, "indexes": not_done},
            )
        self.set_job_status(JobStatus.JOINING, "joining segments")
        final = self.dir / "final.mp4"
        loop = asyncio.get_running_loop()

        def progress(fraction: float) -> None:
            loop.call_soon_threadsafe(self.emit, JoinProgress(self.job.id, fraction))

        from .. import join as joiner

        inputs = [joiner.SeamInput(Path(s.file or ""), self.sent_image(s, segments)) for s in segments]
        opts = self.seam_options()
        try:
            cuts = self.plan.cut_indexes() if len(segments) == len(self.plan.segments) else []
            shots: dict[str, Any] = {"cuts": cuts} if cuts else {}  # hard cuts (a plan without cuts: as before)
            outcome = await asyncio.to_thread(joiner.join_segments, inputs, final, opts, progress, **shots)
        except media.MediaError as exc:
            if "No space left" in str(exc):
                raise DiskFull(final, detail=f"join failed: {exc}") from None
            message = f"join failed: {exc} The segments are kept; resuming job {self.job.id} joins again"
            raise JobFailed(message, code=Code.JOIN_FAILED, context={"job": self.job.id}) from None
        result = outcome.result
        report = outcome.report(opts)
        write_json_atomic(self.dir / "seams.json", report)
        self.store.update_job(self.job.id, seams=report)
        for seam in report["seams"]:
            for change in seam["changes"]:
                self.log(f"seam {seam['index']}|{seam['index'] + 1}: {change}")
            if seam["verdict"] != "clean":
                self.log(
                    f"seam {seam['index']}|{seam['index'] + 1} ({seam['time_s']:.2f} s) is {seam['verdict']}: "
                    + "; ".join(seam["reasons"]),
                    "warning",
                )
        self.log(
            f"seams: {report['reencoded_frames']} of {report['frames']} frames re-encoded "
            f"({report['reencoded_share']:.0%}), sound {report['audio']}, "
            f"{sum(1 for s in report['seams'] if s['verdict'] == 'clean')}/{len(report['seams'])} seams clean"
        )
        output = final
        if self.output is not None:
            try:
                tmp = self.output.with_name(f".{self.output.name}.tmp")
                await asyncio.to_thread(shutil.copyfile, final, tmp)
                os.replace(tmp, self.output)
                output = self.output
            except OSError as exc:
                raise JobFailed(
                    f"could not write {self.output}: {exc.strerror}; the video is at {final}",
                    code=Code.NOT_WRITABLE,
                    context={"path": str(self.output), "video": str(final), "job": self.job.id},
                ) from None
        self.log(f"joined {len(segments)} segments by {result.method} into {output} ({result.duration:.2f} s)")
        self.set_job_status(
            JobStatus.COMPLETED, str(output), output=str(output), duration_s=result.duration, error=None
        )
