"""``sora-tui cast generate``: a member's reference sheet made with the image model, through the
real CLI entry (``main``): on the fal fake (every body validated against the recorded schema, the
price confirmed first, a failure after paying re-attached, never paid twice) and offline (the
preview draws the sheet; free, no key). The new member then renders in a shot: its picture is
measured in the decoded frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fakes import fal_schemas
from fakes.fal_server import FalFake, Recorded
from sora_tui.cli import main
from sora_tui.core import media
from sora_tui.core.cast import SHEET_DIR, SHEET_FILE, CastLibrary, library_for
from sora_tui.core.colour import psnr
from sora_tui.core.engine import Engine
from sora_tui.core.models import Job, JobStatus, Plan
from sora_tui.core.providers.preview import _fit_cover, _load_image, reference_box

T2I = "fal-ai/nano-banana-2"
FAST = {
    "SORA_TUI_RETRY_BASE_DELAY": "0.01",
    "SORA_TUI_RETRY_MAX_DELAY": "0.05",
    "SORA_TUI_POLL_INTERVAL": "0.05",
    "SORA_TUI_MAX_RETRIES": "2",
}


@pytest.fixture
def on_fake(fal_fake: FalFake, home: Path, monkeypatch: pytest.MonkeyPatch) -> FalFake:
    """``main`` talks to the fal fake (its key and hosts in the environment)."""
    for k, v in {**fal_fake.env(), **FAST}.items():
        monkeypatch.setenv(k, v)
    return fal_fake


def image_submits(fake: FalFake) -> list[Recorded]:
    return [s for s in fake.submits if s.path.strip("/") == T2I]


def library(home: Path) -> CastLibrary:
    return library_for(home / "data")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


# --- on the fal fake ---------------------------------------------------------------------------


def test_a_sheet_on_fal_is_priced_confirmed_validated_and_stored(
    on_fake: FalFake, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # not a terminal and no --yes: refused naming --yes, nothing asked of fal
    rc, _, err = run(capsys, "cast", "generate", "Mara", "--description", "a courier in a red coat")
    assert rc == 2 and "--yes" in err and "$0.16" in err
    assert on_fake.submits == [] and library(home).members() == []

    rc, out, err = run(capsys, "cast", "generate", "Mara", "-d", "a courier in a red coat", "--yes", "--json")
    assert rc == 0, err
    member = json.loads(out)
    assert member["name"] == "Mara" and member["kind"] == "character" and member["model"] == "nano-banana-2"
    assert member["cost_usd"] == pytest.approx(2 * 0.08)
    subs = image_submits(on_fake)
    assert len(subs) == 2 == len(on_fake.submits)  # a front and a three-quarter view, nothing else
    for s in subs:
        assert fal_schemas.errors(T2I, s.json) == []  # a body fal's type accepts
        assert "a courier in a red coat" in s.json["prompt"] and s.json["num_images"] == 1
    assert "Front view" in subs[0].json["prompt"] and "Three-quarter view" in subs[1].json["prompt"]
    # the pictures are the model's, copied into the library (decoded and compared)
    found = library(home).get("Mara")
    assert [Path(p).parent for p in found.member.images] == [home / "data" / "cast" / "mara"] * 2
    served = []
    for k, (name, (data, ctype)) in enumerate(sorted(on_fake.files.items())):
        if ctype == "image/png" and name.startswith("i/"):
            (home / f"served_{k}.png").write_bytes(data)
            served.append(media.read_image(home / f"served_{k}.png"))
    stored = [media.read_image(p) for p in found.member.images]
    assert len(served) == 2
    for pic in stored:
        assert max(psnr(pic, s) for s in served) > 60
    assert not (home / "data" / "cast" / SHEET_DIR / "mara").exists()  # the unfinished sheet is gone

    # an existing name: refused before paying
    rc, _, err = run(capsys, "cast", "generate", "Mara", "-d", "someone else", "--yes")
    assert rc == 2 and "'Mara' exists already" in err and "cast rm Mara" in err
    assert len(on_fake.submits) == 2


@pytest.mark.parametrize(
    "argv, words",
    [
        (["Kit", "-d", "  "], "--description: is empty"),
        (
            ["Kit", "-d", "a fox", "--kind", "animal"],
            "--kind: unknown kind 'animal' (allowed: character, object, place, style)",
        ),
        (
            ["Kit", "-d", "a fox", "--model", "dall-e"],
            "--model: unknown image model 'dall-e' (allowed: preview-image, nano-banana-2",
        ),
        (["K!t?", "-d", "a fox"], "name: 'K!t?' is not a usable member name"),
    ],
)
def test_bad_input_names_the_field_and_pays_nothing(
    on_fake: FalFake, home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    rc, _, err = run(capsys, "cast", "generate", *argv, "--yes")
    assert rc == 2 and words in err
    assert on_fake.records == [] and library(home).members() == []


def test_a_failure_after_paying_keeps_what_was_delivered_and_never_pays_twice(
    on_fake: FalFake, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    on_fake.fail_next("result", 500, count=20, submit_no=2)  # the second picture cannot be fetched
    rc, _, err = run(capsys, "cast", "generate", "Kit", "-d", "a lamp of green glass", "-k", "object", "--yes")
    assert (
        rc == 1
        and "1 of 2 picture(s) delivered and kept" in err
        and "run the same `sora-tui cast generate` again" in err
    )
    assert len(on_fake.submits) == 2 and library(home).members() == []
    sheet = json.loads((home / "data" / "cast" / SHEET_DIR / "kit" / SHEET_FILE).read_text())
    assert [bool(v["request"]) for v in sheet["views"]] == [True, True]  # both request ids stored
    assert Path(sheet["views"][0]["file"]).is_file() and sheet["views"][1]["file"] == ""

    # another description while paid pictures wait: refused, naming how to finish or drop it
    rc, _, err = run(capsys, "cast", "generate", "Kit", "-d", "a brass lamp", "-k", "object", "--yes")
    assert rc == 2 and "--description" in err and "unfinished sheet" in err and len(on_fake.submits) == 2

    on_fake._faults.clear()
    rc, _, err = run(capsys, "cast", "generate", "Kit", "-d", "a lamp of green glass", "-k", "object")
    # nothing left to pay: no question, no new submit; the stored request is fetched
    assert rc == 0, err
    assert "$0.00" in err and "2 already asked for or delivered" in err
    assert len(on_fake.submits) == 2
    assert len(library(home).get("Kit").member.images) == 2


def test_a_request_fal_reports_failed_is_asked_again_alone(
    on_fake: FalFake, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    on_fake.completed_error = 2  # fal says the second request failed (not billed)
    rc, _, err = run(capsys, "cast", "generate", "Kit", "-d", "a lamp of green glass", "-k", "object", "--yes")
    assert rc == 1 and "1 of 2" in err
    on_fake.completed_error = None
    rc, _, err = run(capsys, "cast", "generate", "Kit", "-d", "a lamp of green glass", "-k", "object", "--yes")
    assert rc == 0, err
    assert "$0.08" in err  # one picture to pay
    subs = image_submits(on_fake)
    assert len(subs) == 3 and "Three-quarter" in subs[2].json["prompt"]


def test_cast_rm_drops_an_unfinished_sheet(on_fake: FalFake, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    on_fake.fail_next("result", 500, count=20)
    rc, _, _ = run(capsys, "cast", "generate", "Town", "-d", "a harbour at dusk", "-k", "place", "--yes")
    assert rc == 1 and (home / "data" / "cast" / SHEET_DIR / "town").is_dir()
    rc, out, _ = run(capsys, "cast", "rm", "Town")
    assert rc == 0 and "dropped the unfinished reference sheet of Town" in out
    assert not (home / "data" / "cast" / SHEET_DIR / "town").exists()


def test_fal_without_a_key_names_the_key(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(capsys, "cast", "generate", "Kit", "-d", "a fox", "--model", "nano-banana-2", "--yes")
    assert rc == 2 and "no fal key is set" in err and "--model preview" in err


# --- offline ----------------------------------------------------------------------------------


def test_offline_sheet_is_free_deterministic_and_renders_in_a_shot(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rc, _, err = run(
        capsys, "cast", "generate", "Mara", "-d", "a courier in a red coat"
    )  # no key: preview, no question
    assert rc == 0, err
    assert "$0.00" in err
    found = library(home).get("Mara")
    assert found.member.description == "a courier in a red coat" and len(found.member.images) == 2
    first = [media.read_image(p) for p in found.member.images]
    assert first[0].shape == (512, 512, 3) and psnr(first[0], first[1]) < 30  # two different views

    # the same description in another home draws the same pictures
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv("SORA_TUI_HOME", str(other))
    rc, _, _ = run(capsys, "cast", "generate", "Mara", "-d", "a courier in a red coat", "--model", "preview")
    assert rc == 0
    again = [media.read_image(p) for p in library(other).get("Mara").member.images]
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))

    # Mara in a shot: the preview's reference-to-video draws her picture in its box
    monkeypatch.setenv("SORA_TUI_HOME", str(home))
    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    plan = Plan.from_dict(
        {
            "version": 2,
            "prompt": "a courier crosses a market",
            "model": "preview",
            "resolution": "360p",
            "aspect": "16:9",
            "audio": False,
            "cast": [{"name": "Mara"}],
            "segments": [{"seconds": 2, "prompt": "Mara walks through the market", "cast": ["Mara"]}],
        }
    )
    job = engine.create_job(plan)
    done = await_run(engine, job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    seg = engine.store.segments(job.id)[0]
    info = media.probe(seg.file or "")
    assert info.frames is not None
    media.frame_png(seg.file or "", info.frames // 2, tmp_path / "mid.png")
    frame = media.read_image(tmp_path / "mid.png")
    fh, fw = frame.shape[:2]
    x, y, w, h = reference_box(0, fw, fh)
    got = frame[y : y + h, x : x + w]

    def drawn(path: str) -> np.ndarray:  # a picture as the preview puts it in its box
        return _fit_cover(_load_image(Path(path), fw, fh), w, h)

    print(f"offline: the member's box {psnr(got, drawn(found.member.images[0])):.1f} dB to the front view")
    assert psnr(got, drawn(found.member.images[0])) > 25  # her front view, in the frame
    assert psnr(got, drawn(found.member.images[1])) < 20  # not the three-quarter view: the first picture


def await_run(engine: Engine, job_id: str) -> Job:
    import asyncio

    async def go() -> Job:
        try:
            return await engine.run(job_id)
        finally:
            await engine.aclose()

    return asyncio.run(go())


async def test_a_member_made_on_fal_renders_in_a_reference_shot(on_fake: FalFake, home: Path, tmp_path: Path) -> None:
    """The sheet made on the fal fake, then a Kling O3 reference-to-video shot naming the member:
    the member's front view is the frontal picture sent, and it shows in the decoded frames."""
    import asyncio

    rc = await asyncio.to_thread(main, ["cast", "generate", "Kit", "-d", "a fox with a blue scarf", "--yes"])
    assert rc == 0
    found = library(home).get("Kit")
    on_fake.render_modes = {"fal-ai/kling-video": ((320, 180), 12)}
    engine = Engine(env={"SORA_TUI_HOME": str(home), **on_fake.env(), **FAST})
    plan = Plan.from_dict(
        {
            "version": 2,
            "prompt": "a fox in the snow",
            "model": "kling-o3-std",
            "resolution": "1080p",
            "aspect": "16:9",
            "audio": False,
            "cast": [{"name": "Kit"}],
            "segments": [{"seconds": 3, "prompt": "Kit runs through the snow", "cast": ["Kit"]}],
        }
    )
    try:
        job = engine.create_job(plan)
        done = await engine.run(job.id)
    finally:
        await engine.aclose()
    assert done.status is JobStatus.COMPLETED, done.error
    (video,) = [s for s in on_fake.submits if "reference-to-video" in s.path]
    assert fal_schemas.errors(video.path.strip("/"), video.json) == []
    seg = engine.store.segments(job.id)[0]
    info = media.probe(seg.file or "")
    assert info.frames is not None
    frame = media.read_image(media.frame_png(seg.file or "", info.frames // 2, tmp_path / "mid.png"))
    fh, fw = frame.shape[:2]
    x, y, w, h = reference_box(0, fw, fh)
    got = frame[y : y + h, x : x + w]
    front, side = (_fit_cover(_load_image(Path(p), fw, fh), w, h) for p in found.member.images)
    print(f"fal: the member's box {psnr(got, front):.1f} dB to the front view, {psnr(got, side):.1f} dB to the side")
    assert psnr(got, front) > 25 and psnr(got, side) < psnr(got, front)


def test_a_picture_that_cannot_be_downloaded_is_fetched_again_not_paid_again(
    on_fake: FalFake, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    on_fake.fail_next("file", 404, count=1)  # the delivered picture's URL answers 404 once
    rc, _, err = run(capsys, "cast", "generate", "Town", "-d", "a harbour at dusk", "-k", "place", "--yes")
    assert rc == 1 and "0 of 1 picture(s) delivered" in err and len(on_fake.submits) == 1
    rc, _, err = run(capsys, "cast", "generate", "Town", "-d", "a harbour at dusk", "-k", "place")
    assert rc == 0, err
    assert len(on_fake.submits) == 1 and len(library(home).get("Town").member.images) == 1


def test_the_installed_command_asks_for_yes_off_a_terminal(
    fal_fake: FalFake, cli_env: dict[str, str], sora_cmd: list[str], home: Path
) -> None:
    """As a user's shell runs it (a subprocess, stdin not a terminal)."""
    import subprocess

    env = {**cli_env, **fal_fake.env(), **FAST}
    argv = [*sora_cmd, "cast", "generate", "Ana", "-d", "watercolour, soft paper grain", "-k", "style"]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert proc.returncode == 2 and "--yes" in proc.stderr and "$0.08" in proc.stderr and "Traceback" not in proc.stderr
    assert fal_fake.submits == []
    proc = subprocess.run([*argv, "--yes", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    member = json.loads(proc.stdout)
    assert member["kind"] == "style" and len(member["images"]) == 1 and Path(member["images"][0]).is_file()
    assert len(fal_fake.submits) == 1
