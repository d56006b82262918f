"""The cast library (core.cast) and ``sora-tui cast …``: members, copied pictures, snapshots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sora_tui.cli import main
from sora_tui.core import media
from sora_tui.core.cast import CastLibrary, job_cast, resolve_cast, snapshot_cast
from sora_tui.core.models import CastMember, InputError, Plan, SegmentPlan


def picture(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (90, 120)) -> Path:
    """A flat picture of one colour (RGB) with a white disc, written as PNG (or JPEG by suffix)."""
    import cv2

    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = colour[::-1]
    cv2.circle(img, (w // 2, h // 2), min(w, h) // 5, (255, 255, 255), -1)
    cv2.imwrite(str(path), img)
    return path


@pytest.fixture
def pics(tmp_path: Path) -> dict[str, Path]:
    out = {
        "red": picture(tmp_path / "red.png", (220, 30, 30)),
        "green": picture(tmp_path / "green.jpg", (30, 200, 40)),
        "blue": picture(tmp_path / "blue.png", (20, 40, 230)),
    }
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n but not really a picture")
    out["bad"] = bad
    out["text"] = tmp_path / "notes.txt"
    out["text"].write_text("hello")
    return out


def test_add_copies_pictures_as_png_and_survives_the_original_moving(tmp_path: Path, pics: dict[str, Path]) -> None:
    lib = CastLibrary(tmp_path / "cast")
    m = lib.add("Mara", [pics["red"], pics["green"]], "character", " a courier in a red coat ")
    assert m.member.kind == "character" and m.member.description == "a courier in a red coat"
    assert [Path(p).name for p in m.member.images] == ["ref_1.png", "ref_2.png"]
    for p in m.member.images:
        assert Path(p).parent == tmp_path / "cast" / "mara"
    # the JPEG became a PNG with the same picture (decoded and measured)
    copy = media.read_image(m.member.images[1])
    assert copy.shape == (120, 90, 3)
    assert np.abs(copy[5, 5].astype(int) - [30, 200, 40]).max() <= 3
    pics["red"].unlink()  # the original moves away: the library keeps working
    again = lib.get("MARA")  # names match without case
    assert again.name == "Mara" and all(Path(p).is_file() for p in again.member.images)
    assert [x.name for x in lib.members()] == ["Mara"]


@pytest.mark.parametrize(
    "images, field, words",
    [
        ([], "images", "at least one"),
        (["red"] * 5, "images", "at most 4"),
        (["bad"], "images[1]", "cannot be decoded"),
        (["red", "text"], "images[2]", "is not a"),
        (["missing"], "images[1]", "does not exist"),
    ],
)
def test_add_refuses_what_is_not_one_to_four_pictures(
    tmp_path: Path, pics: dict[str, Path], images: list[str], field: str, words: str
) -> None:
    lib = CastLibrary(tmp_path / "cast")
    paths: list[str | Path] = [pics.get(i, tmp_path / "missing.png") for i in images]
    with pytest.raises(InputError) as info:
        lib.add("Kit", paths)
    assert info.value.field == field and words in info.value.problem
    assert lib.members() == [] and not (tmp_path / "cast" / "kit").exists()


def test_names_kinds_duplicates_replace_and_remove(tmp_path: Path, pics: dict[str, Path]) -> None:
    lib = CastLibrary(tmp_path / "cast")
    with pytest.raises(InputError, match="not a usable member name"):
        lib.add("../etc", [pics["red"]])
    with pytest.raises(InputError) as info:
        lib.add("Lamp", [pics["blue"]], kind="prop")
    assert info.value.field == "kind" and info.value.allowed == ["character", "object", "place", "style"]
    lib.add("Lamp", [pics["blue"]], kind="object")
    with pytest.raises(InputError, match="exists already"):
        lib.add("lamp", [pics["red"]])
    replaced = lib.add("Lamp", [pics["red"], pics["green"]], kind="object", replace=True)
    assert len(replaced.member.images) == 2
    assert media.read_image(replaced.member.images[0])[5, 5].tolist() == [220, 30, 30]
    lib.remove("LAMP")
    assert lib.members() == [] and lib.find("Lamp") is None
    with pytest.raises(InputError) as info:
        lib.remove("Lamp")
    assert "no member 'Lamp'" in info.value.problem


def _plan(cast: list[CastMember], shots: list[list[str]]) -> Plan:
    segs = [SegmentPlan(prompt=f"shot {i}", seconds=2, cast=c) for i, c in enumerate(shots, 1)]
    return Plan(prompt="p", model="preview", resolution="180p", aspect="16:9", segments=segs, cast=cast)


def test_resolve_library_and_inline_members_then_snapshot_into_the_job(tmp_path: Path, pics: dict[str, Path]) -> None:
    lib = CastLibrary(tmp_path / "cast")
    lib.add("Mara", [pics["red"], pics["green"]], description="courier")
    plan = _plan(
        [CastMember("Mara"), CastMember("Lamp", "object", "brass lamp", [str(pics["blue"])])], [["Mara", "Lamp"]]
    )
    members = resolve_cast(plan, lib)
    assert [(m.name, m.kind, m.description, len(m.images)) for m in members] == [
        ("Mara", "character", "courier", 2),
        ("Lamp", "object", "brass lamp", 1),
    ]
    job = tmp_path / "job"
    job.mkdir()
    kept = snapshot_cast(members, job)
    assert all(Path(p).is_relative_to(job / "cast") for m in kept for p in m.images)
    lib.remove("Mara")  # the library changes: the job keeps its members
    pics["blue"].unlink()
    again = job_cast(job)
    assert [(m.name, len(m.images)) for m in again] == [("Mara", 2), ("Lamp", 1)]
    assert media.read_image(again[1].images[0])[5, 5].tolist() == [20, 40, 230]
    data = json.loads((job / "cast.json").read_text())
    assert data["members"][0]["name"] == "Mara"


def test_resolve_names_the_bad_entry(tmp_path: Path, pics: dict[str, Path]) -> None:
    lib = CastLibrary(tmp_path / "cast")
    with pytest.raises(InputError) as info:
        resolve_cast(_plan([CastMember("Ghost")], [["Ghost"]]), lib)
    assert info.value.field == "plan.cast[1].name" and "no member 'Ghost'" in info.value.problem
    with pytest.raises(InputError) as info:
        resolve_cast(_plan([CastMember("Mara"), CastMember("Kit", images=[str(pics["bad"])])], [[]]), lib)
    assert info.value.field.startswith("plan.cast[")


# --- the CLI --------------------------------------------------------------------------


def test_cli_cast_add_list_show_rm(home: Path, pics: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cast", "add", "Mara", str(pics["red"]), str(pics["green"]), "-d", "a courier"]) == 0
    assert "added Mara (character) with 2 picture(s)" in capsys.readouterr().out
    assert main(["cast", "add", "Lamp", str(pics["blue"]), "--kind", "object"]) == 0
    capsys.readouterr()
    assert main(["cast", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(m["name"], m["kind"], len(m["images"])) for m in listed] == [
        ("Lamp", "object", 1),
        ("Mara", "character", 2),
    ]
    assert all(Path(p).is_file() and Path(p).is_relative_to(home) for m in listed for p in m["images"])
    assert main(["cast", "show", "mara"]) == 0
    out = capsys.readouterr().out
    assert "Mara (character)" in out and "a courier" in out and "ref_2.png" in out
    assert main(["cast", "rm", "Lamp"]) == 0
    capsys.readouterr()
    assert main(["cast", "list"]) == 0
    assert "Lamp" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, words",
    [
        (["cast", "add", "Kit", "{bad}"], "images[1]: bad.png cannot be decoded"),
        (["cast", "add", "Kit", "{text}"], "images[1]: notes.txt is not a"),
        (["cast", "show", "Nobody"], "no member 'Nobody'"),
        (["cast", "rm", "Nobody"], "no member 'Nobody'"),
        (["cast", "add", "a/b", "{red}"], "not a usable member name"),
    ],
)
def test_cli_cast_bad_input_exits_2_with_the_field(
    home: Path, pics: dict[str, Path], capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    argv = [a.format(**{k: str(v) for k, v in pics.items()}) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
