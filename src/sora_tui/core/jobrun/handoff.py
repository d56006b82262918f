"""Hand-offs: the picture each chained segment starts from (the fade guard and the colour
correction of that frame), and the picture each segment was conditioned on."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ..jobfiles import seg_name
from ..models import Kind, Mode, Segment, SegmentStatus
from .base import RunContext


class HandoffSteps(RunContext):
    """The hand-off frames of chain mode and the picture each segment was conditioned on."""

    def handoff_path(self, index: int) -> Path:
        return self.dir / seg_name(index, "_handoff.png")

    def handoff_for(self, seg: Segment) -> Path | None:
        """The picture the next chained segment starts from: the corrected hand-off frame, else the last frame."""
        handoff = self.handoff_path(seg.index)
        if handoff.is_file():
            return handoff
        return Path(seg.last_frame) if seg.last_frame else None

    def sent_image(self, seg: Segment, segments: list[Segment]) -> Path | None:
        """The picture segment ``seg`` was conditioned on (None for text-to-video)."""
        if self.plan.mode is Mode.KEYFRAMES:
            kf = self.engine.keyframe_path(self.job, seg.index - 1)
            return kf if kf.is_file() else None
        if self.plan.mode is Mode.EXTEND and seg.index > 1:
            last = segments[seg.index - 2].last_frame
            return Path(last) if last else None
        if seg.index == 1 or self.plan.mode is Mode.PARALLEL or self.is_cut(seg.index):
            start = Path(self.plan.start_image) if (seg.index == 1 and self.plan.start_image) else None
        else:
            start = self.handoff_for(segments[seg.index - 2])
        if self.plan.cast and self.cast_keyframe_path(seg.index).is_file():
            return self.cast_keyframe_path(seg.index)  # the shot began on its cast keyframe
        spec = self.shot_spec(seg.index)
        if self.plan.cast and self.route(seg.index).kind is Kind.R2V:
            return start if start is not None and spec.for_kind(Kind.R2V).takes_start else None
        if start is None or not spec.supports(Kind.I2V):
            return None
        return start

    def seam_options(self) -> Any:
        from .. import seams

        s = self.plan.seams
        # a shot planned as a cut (SegmentPlan.transition == "cut") starts a new run of continued shots
        # with its own colour reference
        cuts = frozenset(self.plan.cut_indexes())
        return seams.SeamOptions(
            enabled=s.seams == "auto",
            crossfade_ms=float(s.crossfade_ms),
            colour=s.colour_anchor,
            reference_image=s.colour_reference,
            cuts=cuts,
        )

    async def prepare_handoff(self, index: int, video: Path, last_png: Path, analysis: Any) -> None:
        """Fade guard and colour anchoring for the frame the next chained segment starts from."""
        from .. import colour, media

        handoff = self.handoff_path(index)
        opts = self.seam_options()
        if (
            self.plan.mode is not Mode.CHAIN
            or index == len(self.plan.segments)
            or not opts.enabled
            or self.is_cut(index + 1)  # the next shot is a cut: nothing starts from this one
        ):
            handoff.unlink(missing_ok=True)
            return
        src = last_png
        changed = False
        if analysis.fade_frames:
            await asyncio.to_thread(media.frame_png, video, analysis.last_good, handoff)
            src, changed = handoff, True
            self.log(
                f"segment {index} fades ({analysis.fade_kind}) in its last {analysis.fade_frames} frames; "
                f"the next segment starts from frame {analysis.last_good + 1} instead",
                "warning",
                index,
            )
        if opts.colour:
            decision = await asyncio.to_thread(self.handoff_decision, index, analysis)
            if not decision.grade.identity:
                m = analysis.matrix_obj
                grade = decision.grade

                def correct() -> float:
                    original = media.read_image(src)
                    rgb = grade.apply_rgb(original, m)
                    media.write_png(rgb, handoff)
                    return colour.psnr(rgb, original)

                db = await asyncio.to_thread(correct)
                changed = True
                self.log(
                    f"segment {index} ends {decision.de_before:.1f} ΔE off its colour without the model's drift; "
                    f"the hand-off frame is corrected to {decision.de_after:.1f} ΔE ({db:.1f} dB to the frame it "
                    f"stands for) before it conditions segment {index + 1}",
                    index=index,
                )
            elif decision.note:
                self.log(f"{decision.note}; the hand-off frame is sent as it is", index=index)
        if not changed:
            handoff.unlink(missing_ok=True)

    def handoff_decision(self, index: int, like: Any) -> Any:
        """The colour correction of segment ``index``'s hand-off frame (``like``: its analysis): its end grade
        as the join will show it, planned over the segments so far (each measured once, then cached)."""
        from .. import seams

        opts = self.seam_options()
        segments = self.store.segments(self.job.id)
        analyses: list[Any] = []
        first_no = 1
        for seg in segments:
            if seg.index >= index:
                break
            if seg.status is not SegmentStatus.DONE or not seg.file:
                analyses, first_no = [], seg.index + 1  # a gap: what comes after it is held to itself
                continue
            analyses.append(seams.analyze_segment(seg.file, self.sent_image(seg, segments)))
        analyses.append(like)
        cuts = {c - first_no + 1 for c in opts.cuts if c > first_no}
        return seams.handoff_decision(analyses, opts, cuts)
