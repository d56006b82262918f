from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sora_tui.core.catalog import Catalog, frame_size, load_catalog, resolve_request
from sora_tui.core.costs import estimate_cost
from sora_tui.core.models import InputError, Kind, Mode, Plan, Request, SegmentPlan
from sora_tui.core.shots import validate_plan

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
def catalog() -> Catalog:
    return load_catalog()


def test_ships_the_models(catalog: Catalog) -> None:
    assert set(IDS) <= set(catalog.ids())
    assert catalog.get("sora-2").retired and catalog.get("sora-2-pro").retired
    assert not catalog.get("veo3.1-fast").retired
    assert catalog.default_model(has_fal_key=True) == "veo3.1-fast"
    assert catalog.default_model(has_fal_key=False) == "preview"


def test_field_mapping_lives_in_data(catalog: Catalog) -> None:
    veo = catalog.get("veo3.1-fast")
    assert veo.encode_duration(8) == "8s"
    assert veo.endpoint(Kind.I2V) == "fal-ai/veo3.1/fast/image-to-video"
    assert veo.fields["first_frame"] == "first_frame_url"
    kling = catalog.get("kling-2.5-turbo")
    assert kling.encode_duration(5) == "5"
    assert kling.fields["last_frame"] == "tail_image_url"
    assert catalog.get("wan-2.7").encode_duration(7) == 7
    assert catalog.get("ltx-2.3").fields["last_frame"] == "end_image_url"


def test_prices(catalog: Catalog) -> None:
    veo = catalog.get("veo3.1-fast")
    assert veo.segment_cost(8, "720p", audio=False) == pytest.approx(0.80)
    assert veo.segment_cost(8, "720p", audio=True) == pytest.approx(1.20)
    assert catalog.get("kling-2.5-turbo").segment_cost(10, "1080p", False) == pytest.approx(0.70)
    assert catalog.get("wan-2.7").segment_cost(5, "1080p", False) == pytest.approx(0.75)
    assert catalog.get("ltx-2.3").segment_cost(10, "2160p", True) == pytest.approx(2.40)
    assert catalog.get("preview").segment_cost(20, "1080p", True) == 0


def test_frame_size() -> None:
    assert frame_size("360p", "16:9") == (640, 360)
    assert frame_size("720p", "9:16") == (720, 1280)
    assert frame_size("180p", "1:1") == (180, 180)
    assert frame_size("1080p", "auto") == (1920, 1080)


def test_resolve_fills_defaults(catalog: Catalog) -> None:
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
def test_bad_requests_name_field_and_allowed(
    catalog: Catalog, changes: dict[str, Any], field: str, allowed_hint: str | None
) -> None:
    base: dict[str, Any] = {"prompt": "a paper boat", "model": "veo3.1-fast"}
    with pytest.raises(InputError) as info:
        resolve_request(Request(**(base | changes)), catalog)
    assert info.value.field == field
    if allowed_hint:
        assert allowed_hint in str(info.value)


def test_retired_model_message(catalog: Catalog) -> None:
    with pytest.raises(InputError, match="retired"):
        resolve_request(Request(prompt="x", model="sora-2"), catalog)


def test_plan_validation_and_cost(catalog: Catalog) -> None:
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


def test_user_catalog_extends_and_overrides(tmp_path: Path) -> None:
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


# --- the seven facts of the catalog issue, each against fal's recorded input types or pages ---------


def test_ltx_text_to_video_has_no_auto_aspect(catalog: Catalog, tmp_path: Path) -> None:
    picture = tmp_path / "start.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(32))  # resolve checks the signature (the CLI decodes it)
    for model in ("ltx-2.3", "ltx-2.3-fast"):
        spec = catalog.get(model)
        assert spec.for_kind(Kind.T2V).aspects == ["16:9", "9:16"]
        assert "auto" in spec.for_kind(Kind.I2V).aspects
        with pytest.raises(InputError) as info:
            resolve_request(Request(prompt="p", model=model, aspect="auto"), catalog)
        assert info.value.field == "aspect" and "start image" in str(info.value)
        resolve_request(Request(prompt="p", model=model, aspect="auto", start_image=str(picture)), catalog)


def test_ltx_fast_over_10_s_needs_1080p(catalog: Catalog) -> None:
    ks = catalog.get("ltx-2.3-fast").for_kind(Kind.T2V)
    assert ks.allowed_durations("1440p", "16:9") == [6, 8, 10]
    assert ks.allowed_durations("1080p", "16:9") == [6, 8, 10, 12, 14, 16, 18, 20]
    assert ks.fps_field == "fps" and ks.fps == 25
    with pytest.raises(InputError, match="14 s needs 1080p"):
        resolve_request(Request(prompt="p", model="ltx-2.3-fast", seconds=14, resolution="2160p"), catalog)


def test_veo_4k_and_ltx_text_to_video_prices(catalog: Catalog) -> None:
    veo = catalog.get("veo3.1")
    assert veo.segment_cost(8, "4k", False) == pytest.approx(3.20)
    assert veo.segment_cost(8, "4k", True) == pytest.approx(4.80)
    ltx = catalog.get("ltx-2.3")
    assert [ltx.segment_cost(1, r, True, Kind.T2V) for r in ("1080p", "1440p", "2160p")] == [0.08, 0.16, 0.32]
    assert [ltx.segment_cost(1, r, True, Kind.I2V) for r in ("1080p", "1440p", "2160p")] == [0.06, 0.12, 0.24]
    chain = Plan(prompt="p", model="ltx-2.3", resolution="1080p", aspect="16:9", segments=[SegmentPlan("a", 10)] * 3)
    assert estimate_cost(chain, catalog) == pytest.approx(0.8 + 0.6 + 0.6)  # segment 1 from text


def test_wan_text_to_video_makes_music(catalog: Catalog) -> None:
    wan = catalog.get("wan-2.7")
    assert wan.for_kind(Kind.T2V).audio == "always"
    assert wan.for_kind(Kind.T2V).audio_field is None  # no switch: music unless an audio_url is given


def test_extend_inputs(catalog: Catalog) -> None:
    veo = catalog.get("veo3.1-fast").for_kind(Kind.EXTEND)
    assert veo.durations == [7] and veo.encode_duration(7) == "7s"
    assert veo.resolutions == ["720p"] and veo.max_input_seconds == 8 and veo.fields["video"] == "video_url"
    ltx = catalog.get("ltx-2.3").for_kind(Kind.EXTEND)
    assert ltx.durations == list(range(2, 21)) and ltx.encode_duration(5) == 5
    assert ltx.extra == {"mode": "end"} and ltx.resolution_field is None and ltx.aspect_field is None


def test_every_price_names_its_source(catalog: Catalog) -> None:
    for spec in catalog:
        tables = [spec.price] + [o["price"] for o in spec.kind.values() if "price" in o]
        for table in tables:
            assert table.get("source"), spec.id
            assert spec.provider in ("preview", "local") or table.get("checked") == "2026-11-22", spec.id
    assert not catalog.get("ltx-2.3").price_confirmed() and catalog.get("veo3.1-fast").price_confirmed()
