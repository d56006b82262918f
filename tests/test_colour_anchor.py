"""Colour anchoring never makes a picture worse (issue 17), judged by decoding what the join writes.

Every clip is made here (tests/seamclips.py) with its true picture known frame by frame, so the
joined video can be measured against the truth with anchoring on and off. In every case:

* no frame ends further from its true colour with anchoring on than off (by more than 0.5 ΔE);
* the hand-off picture a chain would send stays >= 30 dB PSNR to the frame it stands for unless
  its correction measurably helped (closer to the true colour by at least 0.5 ΔE);
* no seam report is worse with anchoring on than off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from fakes.fal_server import FalFake
from seamclips import FPS, Chain, chain, decode_video, footage, lab_mean, pan, psnr
from sora_tui.core import colour, join, seams
from sora_tui.core.providers.base import RenderRequest
from sora_tui.core.providers.preview import ProgressCallback
from sora_tui.core.seams import VERDICT_ORDER, SeamOptions

# seamclips.chain's ``look``: frame i's true picture, made from the footage frame
Look = Callable[[int, np.ndarray], np.ndarray]

DE_PER_DRIFT = 4.0  # seamclips.drift(frame, 1.0) moves the mean colour about 4 ΔE


def _de(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(lab_mean(a) - lab_mean(b)))


@dataclass
class Judged:
    on: join.JoinOutcome
    off: join.JoinOutcome
    de_on: list[float]  # every joined frame vs its true picture
    de_off: list[float]
    handoffs: list[tuple[float, float, float, bool]]  # (PSNR dB, ΔE true before, after, corrected)


def _judge(c: Chain, tmp: Path, cuts: frozenset[int] = frozenset(), reference: str | None = None) -> Judged:
    inputs = [join.SeamInput(f, s) for f, s in zip(c.files, c.sent, strict=True)]
    on = join.join_segments(inputs, tmp / "on.mp4", SeamOptions(cuts=cuts, reference_image=reference))
    off = join.join_segments(inputs, tmp / "off.mp4", SeamOptions(cuts=cuts, colour=False))
    f_on, f_off = decode_video(tmp / "on.mp4"), decode_video(tmp / "off.mp4")
    assert len(f_on) == len(f_off) == len(c.footage)  # nothing frozen, nothing lost
    de_on = [_de(f, t) for f, t in zip(f_on, c.footage, strict=True)]
    de_off = [_de(f, t) for f, t in zip(f_off, c.footage, strict=True)]
    for i, (a, b) in enumerate(zip(de_on, de_off, strict=True)):
        assert a <= b + 0.5, f"frame {i}: ΔE to its true colour {b:.2f} without anchoring, {a:.2f} with it"
    # no seam reads worse with anchoring on
    for g, u in zip(on.seams, off.seams, strict=True):
        assert VERDICT_ORDER[g.verdict] <= VERDICT_ORDER[u.verdict], (g, u)
        assert g.delta_e_after <= u.delta_e_after + 0.5, (g, u)
    # the hand-off a chain would send after each segment (not before a cut)
    opts = SeamOptions(cuts=cuts, reference_image=reference)
    handoffs = []
    for k in range(len(c.files) - 1):
        if (k + 2) in cuts:
            continue
        decision = seams.handoff_decision(on.analyses[: k + 1], opts)
        seg = on.analyses[k]
        frames = decode_video(c.files[k])
        last = frames[seg.last_good]
        sent = decision.grade.apply_rgb(last, seg.matrix_obj)
        truth = c.footage[round(on.spans[k][1] * FPS) - 1]
        db = psnr(sent, last)
        before, after = _de(last, truth), _de(sent, truth)
        corrected = not decision.grade.identity
        if corrected:  # kept only because it helped: it must bring the picture closer to the truth too
            assert decision.de_after <= decision.de_before - 0.5
            assert after <= before + 0.5, (k, before, after)
        if db < 30:
            assert corrected and after <= before - 0.5, f"hand-off {k + 1}: {db:.1f} dB, ΔE {before:.1f} → {after:.1f}"
        handoffs.append((db, before, after, corrected))
    return Judged(on, off, de_on, de_off, handoffs)


def _span(j: Judged, k: int) -> range:
    a, b = j.on.spans[k]
    return range(round(a * FPS), round(b * FPS))


# --- the clips -------------------------------------------------------------------------------


def _flat(i: int, f: np.ndarray) -> np.ndarray:
    """A flat red field with a small moving box (what the server of the issue answered text-to-video with)."""
    out = np.empty_like(f)
    out[...] = (190, 30, 40)
    x = 20 + (i * 3) % 240
    out[70:110, x : x + 40] = (230, 230, 230)
    return out


def test_a_flat_field_opening_is_never_graded_into_another_colour(tmp_path: Path) -> None:
    c = chain(tmp_path / "c", n=3, frames=24, look=_flat)
    j = _judge(c, tmp_path)
    assert max(j.de_on) <= 2.0, max(j.de_on)  # the finished video keeps the opening colour
    assert all(db >= 30 for db, *_ in j.handoffs), j.handoffs
    assert all(s.verdict != "bad" for s in j.on.seams), j.on.seams
    ref = seams.anchor_stats(j.on.analyses, SeamOptions())
    assert ref is not None and colour.flat_or_dark(ref) == "flat"


def _fade_in(frames: int) -> Look:
    def look(i: int, f: np.ndarray) -> np.ndarray:
        k = min(1.0, i / frames)
        return (f.astype(np.float32) * k).astype(np.uint8)

    return look


def test_a_fade_in_from_black_is_skipped_by_the_reference(tmp_path: Path) -> None:
    c = chain(tmp_path / "c", n=4, frames=36, look=_fade_in(8), drift_per_segment=0.5)
    j = _judge(c, tmp_path)
    a1 = j.on.analyses[0]
    assert a1.fade_in_frames >= 6, a1.fade_in_frames
    # the reference is the picture after the fade, not black
    truth = colour.stats_of_rgb(c.footage[20], a1.matrix_obj)
    assert a1.ref_stats is not None and a1.ref_stats.lab_mean[0] > 30
    assert a1.ref_stats.delta_e(truth) < 3
    assert a1.first_stats is not None and a1.first_stats.lab_mean[0] < 10  # segment 1 opens black
    last = _span(j, 3)
    assert max(j.de_on[i] for i in last) <= 3.0
    assert max(j.de_on[i] for i in last) < max(j.de_off[i] for i in last) - 1.0  # the drift was taken out


def _night(i: int, f: np.ndarray) -> np.ndarray:
    return (f.astype(np.float32) * 0.16 + 2).astype(np.uint8)


def test_a_dark_night_shot_is_graded_in_its_mean_colour_only_and_never_worse(tmp_path: Path) -> None:
    c = chain(tmp_path / "c", n=4, frames=24, look=_night, drift_per_segment=0.3)
    j = _judge(c, tmp_path)
    ref = seams.anchor_stats(j.on.analyses, SeamOptions())
    assert ref is not None and colour.flat_or_dark(ref) == "dark"
    for p in j.on.parts:  # mean colour only: no gain, offsets only
        for g in (p.grade_start, p.grade_end):
            assert g.gain == (1.0, 1.0, 1.0), g
    assert max(j.de_on) <= max(j.de_off) + 0.1


def _sunset(total: int) -> Look:
    """The light dims and turns orange over the whole chain, by itself."""

    def look(i: int, f: np.ndarray) -> np.ndarray:
        t = i / total
        x = f.astype(np.float32) * (1.0 - 0.55 * t)
        x += np.array([18.0, 4.0, -16.0], np.float32) * t
        out: np.ndarray = np.clip(x, 0, 255).astype(np.uint8)
        return out

    return look


def test_a_sunset_that_changes_by_itself_is_left_alone(tmp_path: Path) -> None:
    c = chain(tmp_path / "c", n=5, frames=24, look=_sunset(5 * 24))
    j = _judge(c, tmp_path)
    assert _de(c.footage[-1], c.footage[0]) > 15  # the light really changed
    assert max(j.de_on) <= 2.0, max(j.de_on)
    assert not any(p.graded for p in j.on.parts), [p.notes for p in j.on.parts]


def _clouds(start: int, total: int) -> Look:
    """The footage's own light: from frame ``start`` a cloud passes (the picture dims by up to 20 % and
    turns cooler in its shade) and is gone again by frame ``total``."""

    def look(i: int, f: np.ndarray) -> np.ndarray:
        shade = np.sin(np.pi * min(1.0, max(0.0, (i - start) / (total - start)))) ** 2
        x = f.astype(np.float32) * (1.0 - 0.2 * shade) + np.array([-4.0, 0.0, 4.0], np.float32) * shade
        out: np.ndarray = np.clip(x, 0, 255).astype(np.uint8)
        return out

    return look


def test_footage_whose_own_light_changes_while_every_continuation_drifts_warmer(tmp_path: Path) -> None:
    n, frames = 5, 48
    per = 2.0 / DE_PER_DRIFT  # 2 ΔE warmer per continuation
    c = chain(tmp_path / "c", n=n, frames=frames, look=pan(_clouds(frames, n * frames)), drift_per_segment=per)
    assert max(_de(f, c.footage[0]) for f in c.footage) > 5.0  # the light of the footage itself changes
    j = _judge(c, tmp_path)
    # without anchoring the chain ends far from the true colour; the check below can fail
    assert j.de_off[-1] > 6.0, j.de_off[-1]
    assert j.de_on[-1] <= 3.0, j.de_on[-1]
    assert max(j.de_on) <= 4.0, max(j.de_on)


def _worlds(cut_frame: int) -> Look:
    """Day footage until the cut, then a blue night world."""

    def look(i: int, f: np.ndarray) -> np.ndarray:
        if i < cut_frame:
            return f
        x = f.astype(np.float32) * np.array([0.35, 0.45, 0.8], np.float32) + np.array([0, 5, 25], np.float32)
        return np.clip(x, 0, 255).astype(np.uint8)

    return look


def test_a_cut_starts_a_new_run_that_is_not_pulled_toward_the_first(tmp_path: Path) -> None:
    frames = 24
    cuts = frozenset({3})
    per = 2.0 / DE_PER_DRIFT
    c = chain(tmp_path / "c", n=4, frames=frames, look=_worlds(2 * frames - 1), drift_per_segment=per, cuts=cuts)
    assert c.sent[2] is None  # the shot after the cut was not conditioned on the one before
    j = _judge(c, tmp_path, cuts=cuts)
    assert [p.run for p in j.on.parts] == [1, 1, 2, 2]
    run2 = [i for k in (2, 3) for i in _span(j, k)]
    assert max(j.de_on[i] for i in run2) <= 2.5, [round(j.de_on[i], 1) for i in run2]
    # the night world is kept: far from the day reference
    day = seams.anchor_stats(j.on.analyses, SeamOptions(cuts=cuts))
    night = j.on.analyses[2].ref_stats
    assert day is not None and night is not None and night.delta_e(day) > 15
    # planned as one run (no cut known), segment 3 would be matched to the day picture before it: the runs matter
    plans = seams.plan_colour(j.on.analyses, SeamOptions(), cuts=())
    first3 = j.on.analyses[2].first_stats
    assert plans[2].run == 1 and plans[2].target_start is not None and first3 is not None
    assert plans[2].target_start.delta_e(first3) > 15
    assert seams.plan_colour(j.on.analyses, SeamOptions(), cuts=cuts)[2].target_start is first3


def test_runs_of_splits_at_cuts() -> None:
    assert seams.runs_of(4) == [[0, 1, 2, 3]]
    assert seams.runs_of(4, {3}) == [[0, 1], [2, 3]]
    assert seams.runs_of(3, {1, 2, 3}) == [[0], [1], [2]]


def test_a_grade_that_would_not_help_is_refused_and_says_why() -> None:
    f = footage(1)[0]
    m = colour.Matrix()
    small = colour.rgb_to_ycc(f, m).round().astype(np.uint8)
    target = colour.stats_of_ycc(small, m)
    wild = colour.Grade((0.5, 0.5, 0.5), (-80.0, 60.0, -60.0))
    chk = colour.check_grade([small], [target], [wild], m)
    assert not chk.kept and "would move luma" in chk.reason
    nudge = colour.Grade((1.0, 1.0, 1.0), (0.0, 1.5, 0.0))
    chk = colour.check_grade([small], [target], [nudge], m)
    assert not chk.kept and chk.reason.startswith("would not help (ΔE 0.0 → ")


@pytest.mark.parametrize("flat", [True, False])
def test_fit_grade_on_a_flat_or_dark_target_fits_the_mean_only(flat: bool) -> None:
    m = colour.Matrix()
    f = footage(1)[0]
    if flat:
        f = np.full_like(f, (190, 30, 40))
    small = colour.rgb_to_ycc(f, m).round().astype(np.uint8)
    s = colour.stats_of_ycc(small, m)
    target = colour.ColorStats([s.lab_mean[0], s.lab_mean[1] + 3, s.lab_mean[2] - 2], list(s.lab_std))
    g = colour.fit_grade(small, target, m, spread=False)
    assert g.gain == (1.0, 1.0, 1.0)
    chk = colour.check_grade([small], [target], [g], m)
    assert chk.kept and chk.after < 1.0, chk


# --- the run of the issue, end to end on the fal fake ------------------------------------------


def _flat_server_render(
    req: RenderRequest, dest: Path, progress: ProgressCallback | None = None, drift: float = 0.0
) -> None:
    """What the server of the issue answered: text-to-video a flat red field with a moving box,
    image-to-video its start picture, held."""
    import cv2

    from seamclips import ff
    from sora_tui.core import media

    w, h, fps = int(req.width), int(req.height), int(req.fps)
    n = int(round(req.seconds * fps))
    if req.start_image is None:
        frames = np.empty((n, h, w, 3), np.uint8)
        frames[...] = (190, 30, 40)
        for i in range(n):  # the box slides in from the left: the last frame is about 2 ΔE off the first
            x = min(w - 16, i) - 16
            frames[i, h // 3 : h // 3 + 16, max(0, x) : max(0, x + 16)] = (230, 230, 230)
    else:
        still = cv2.resize(media.read_image(req.start_image), (w, h), interpolation=cv2.INTER_AREA)
        frames = np.repeat(still[None], n, axis=0)
    args = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "pipe:0"]
    args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "16", "-pix_fmt", "yuv420p", "-g", str(fps)]
    ff(*args, "-movflags", "+faststart", str(dest), stdin=frames.tobytes())


async def test_the_flat_field_run_of_the_issue_end_to_end_on_the_fal_fake(
    fal_fake: FalFake, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from sora_tui.core import media
    from sora_tui.core.engine import Engine
    from sora_tui.core.models import JobStatus, Mode, Request
    from sora_tui.core.providers import preview

    monkeypatch.setattr(preview, "render_video", _flat_server_render)
    env = {"SORA_TUI_HOME": str(home), **fal_fake.env(), "SORA_TUI_POLL_INTERVAL": "0.05"}
    engine = Engine(env=env)
    req = engine.resolve(
        Request(prompt="a red field", segments=3, seconds=8, model="veo3.1-fast", mode=Mode.CHAIN, audio=False)
    )
    job = engine.create_job(await engine.plan(req))
    done = await engine.run(job.id)
    await engine.aclose()
    assert done.status is JobStatus.COMPLETED, done.error
    assert len(fal_fake.submits) == 3
    folder = done.job_dir
    # the picture sent for segments 2 and 3 matches the frame it stands for
    for k, sent in enumerate(fal_fake.uploads, 1):
        (folder / f"sent_{k}.png").write_bytes(sent)
        assert media.psnr(folder / f"sent_{k}.png", folder / f"seg_{k:02d}_last.png") >= 30
    logs = [r.message for r in engine.store.logs(job.id)]
    for line in logs:  # no correction announced that made a picture worse
        if "corrected to" in line:
            before, after = line.split(" ends ")[1].split(" ")[0], line.split("corrected to ")[1].split(" ")[0]
            assert float(after) < float(before), line
    report = json.loads((folder / "seams.json").read_text())
    assert all(s["verdict"] != "bad" for s in report["seams"]), report["seams"]
    # the finished video keeps the opening colour, measured by decoding it
    finished = engine.store.get_job(job.id)
    assert finished is not None and finished.output is not None
    frames = decode_video(Path(finished.output))
    opening = frames[0]
    worst = max(_de(f, opening) for f in frames)
    assert worst <= 3.0, worst


def test_footage_whose_content_swings_more_than_the_drift_is_never_made_worse(tmp_path: Path) -> None:
    # testsrc2's own mean colour swings by ±3 ΔE within a second: a 2 ΔE drift per continuation cannot be
    # told from it by frame statistics, so whatever is done must not make any frame or seam worse
    c = chain(tmp_path / "c", n=4, frames=48, drift_per_segment=2.0 / DE_PER_DRIFT)
    j = _judge(c, tmp_path)
    assert j.de_on[-1] <= j.de_off[-1] + 0.5


def test_a_reference_picture_holds_the_first_run_and_never_makes_it_worse(tmp_path: Path) -> None:
    import cv2

    # repeat=False: with a 1 px-per-frame pan, frame 1 can be as close to the picture sent as frame 0
    # (seams.REPEAT_MARGIN_DB), so the repeat is not always found; that check is not what this test is about
    c = chain(tmp_path / "c", n=4, frames=36, look=pan(), drift_per_segment=2.0 / DE_PER_DRIFT, repeat=False)
    ref = tmp_path / "reference.png"
    cv2.imwrite(str(ref), cv2.cvtColor(c.footage[0], cv2.COLOR_RGB2BGR))
    j = _judge(c, tmp_path, reference=str(ref))
    assert j.de_on[-1] <= 3.0 and j.de_off[-1] > 5.0, (j.de_on[-1], j.de_off[-1])
