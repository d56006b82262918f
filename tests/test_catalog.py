from __future__ import annotations

from pathlib import Path

import pytest

from sora_tui.core.catalog import estimate_cost, frame_size, load_catalog, resolve_request, validate_plan
from sora_tui.core.models import InputError, Kind, Mode, Plan, Request, SegmentPlan

IDS = [
    "preview",
    "veo3.1-fast",
    "veo3.1",
    "ltx-2.3",
    "ltx-2.3-fast",
    "wan-2.7",
    "kling-2.5-turbo",
    "sora-2",
    "sora-2-pro",
]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_ships_the_models(catalog):
    assert set(IDS) <= set(catalog.ids())
    assert catalog.get("sora-2").retired and catalog.get("sora-2-pro").retired
    assert not catalog.get("veo3.1-fast").retired
    assert catalog.default_model(has_fal_key=True) == "veo3.1-fast"
    assert catalog.default_model(has_fal_key=False) == "preview"


def test_field_mapping_lives_in_data(catalog):
    veo = catalog.get("veo3.1-fast")
    assert veo.encode_duration(8) == "8s"
    assert veo.endpoint(Kind.I2V) == "fal-ai/veo3.1/fast/image-to-video"
    assert veo.fields["first_frame"] == "first_frame_url"
    kling = catalog.get("kling-2.5-turbo")
    assert kling.encode_duration(5) == "5"
    assert kling.fields["last_frame"] == "tail_image_url"
    assert catalog.get("wan-2.7").encode_duration(7) == 7
    assert catalog.get("ltx-2.3").fields["last_frame"] == "end_image_url"


def test_prices(catalog):
    veo = catalog.get("veo3.1-fast")
    assert veo.segment_cost(8, "720p", audio=False) == pytest.approx(0.80)
    assert veo.segment_cost(8, "720p", audio=True) == pytest.approx(1.20)
    assert catalog.get("kling-2.5-turbo").segment_cost(10, "1080p", False) == pytest.approx(0.70)
    assert catalog.get("wan-2.7").segment_cost(5, "1080p", False) == pytest.approx(0.75)
    assert catalog.get("ltx-2.3").segment_cost(10, "2160p", True) == pytest.approx(2.40)
    assert catalog.get("preview").segment_cost(20, "1080p", True) == 0


def test_frame_size():
    assert frame_size("360p", "16:9") == (640, 360)
    assert frame_size("720p", "9:16") == (720, 1280)
    assert frame_size("180p", "1:1") == (180, 180)
    assert frame_size("1080p", "auto") == (1920, 1080)


def test_resolve_fills_defaults(catalog):
    req = resolve_request(Request(prompt="  a boat  ", model="veo3.1-fast"), catalog)
    assert (req.prompt, req.seconds, req.resolution, req.aspect, req.audio) == ("a boat", 8, "720p", "16:9", True)


@pytest.mark.parametrize(
    "changes, field, allowed_hint",
    [
        ({"prompt": "   "}, "prompt", None),
        ({"prompt": "x" * 25000}, "prompt", None),
        ({"segments": 0}, "segments", "1-60"),
        ({"segments": 61}, "segments", "1-60"),
        ({"seconds": 7}, "seconds", "4, 6, 8"),
        ({"resolution": "480p"}, "resolution", "720p, 1080p, 4k"),
        ({"aspect": "4:3"}, "aspect", "16:9, 9:16"),
        ({"model": "sora-2"}, "model", "veo3.1-fast"),
        ({"model": "nope"}, "model", "preview"),
        ({"planner": "gpt"}, "planner", "offline, openai"),
        ({"start_image": "/nonexistent.png"}, "start_image", None),
        ({"model": "sora-2-pro", "mode": Mode.KEYFRAMES}, "model", None),
    ],
)
def test_bad_requests_name_field_and_allowed(catalog, changes, field, allowed_hint):
    base = {"prompt": "a paper boat", "model": "veo3.1-fast"}
    with pytest.raises(InputError) as info:
        resolve_request(Request(**(base | changes)), catalog)
    assert info.value.field == field
    if allowed_hint:
        assert allowed_hint in str(info.value)


def test_retired_model_message(catalog):
    with pytest.raises(InputError, match="retired"):
        resolve_request(Request(prompt="x", model="sora-2"), catalog)


def test_plan_validation_and_cost(catalog):
    plan = Plan(
        prompt="p",
        model="veo3.1-fast",
        resolution="720p",
        aspect="16:9",
        audio=False,
        segments=[SegmentPlan("a", 8), SegmentPlan("b", 4)],
    )
    validate_plan(plan, catalog)
    assert estimate_cost(plan, catalog) == pytest.approx(1.2)
    plan.segments[1].seconds = 5
    with pytest.raises(InputError) as info:
        validate_plan(plan, catalog)
    assert info.value.field == "plan.segments[2].seconds"


def test_user_catalog_extends_and_overrides(tmp_path: Path):
    user = tmp_path / "catalog.toml"
    user.write_text(
        '[models."veo3.1-fast".price]\nper_second = { default = 0.5 }\n'
        '[models.mine]\nname = "Mine"\nprovider = "fal"\nstatus = "current"\n'
        'durations = [5]\nresolutions = ["720p"]\naspects = ["16:9"]\nendpoints = { t2v = "me/t2v" }\n'
    )
    cat = load_catalog(user)
    assert cat.get("veo3.1-fast").segment_cost(4, "720p", False) == pytest.approx(2.0)
    assert cat.get("veo3.1-fast").endpoint(Kind.T2V) == "fal-ai/veo3.1/fast"
    assert cat.get("mine").endpoint(Kind.T2V) == "me/t2v"
