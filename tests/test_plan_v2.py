"""Plan version 2 (shots): cast, transition, per-shot model, camera, takes; version 1 still loads;
the planners fill the new fields; one rule chooses how each shot's cast reaches its model."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fakes.fal_server import FalFake
from fakes.openai_server import OpenAIFake
from sora_tui.cli import main
from sora_tui.core.catalog import load_catalog, resolve_request
from sora_tui.core.costs import estimate_cost
from sora_tui.core.models import PLAN_VERSION, CastMember, InputError, Kind, Plan, Request
from sora_tui.core.planner.offline import offline_plan
from sora_tui.core.planner.registry import get_planner
from sora_tui.core.settings import Settings
from sora_tui.core.shots import shot_route, shot_routes, validate_plan
from test_cast import picture

CATALOG = load_catalog()

V1 = {
    "version": 1,
    "prompt": "a paper boat",
    "model": "preview",
    "resolution": "180p",
    "aspect": "16:9",
    "mode": "chain",
    "audio": False,
    "start_image": None,
    "planner": "offline",
    "segments": [
        {"title": "A", "seconds": 2, "prompt": "boat one"},
        {"title": "B", "seconds": 2, "prompt": "boat two"},
    ],
    "keyframes": [],
}


def v2(**over: Any) -> dict[str, Any]:
    data = copy.deepcopy(V1) | {"version": 2}
    data["cast"] = [{"name": "Mara", "kind": "character", "description": "courier"}, {"name": "Lamp", "kind": "object"}]
    data["segments"] = [
        {"title": "A", "seconds": 2, "prompt": "one", "cast": ["Mara"], "camera": "wide, slow push-in"},
        {"title": "B", "seconds": 2, "prompt": "two", "cast": ["mara", "Lamp"], "transition": "cut", "takes": 3},
        {"title": "C", "seconds": 2, "prompt": "three", "model": "preview"},
    ]
    data.update(over)
    return data


def test_version_1_plans_load_with_the_old_defaults() -> None:
    plan = Plan.from_dict(V1)
    assert [(s.cast, s.transition, s.model, s.camera, s.takes) for s in plan.segments] == [
        ([], "continue", None, "", 1)
    ] * 2
    assert plan.cast == [] and plan.cut_indexes() == [] and plan.runs() == [[1, 2]]
    out = plan.to_dict()
    assert out["version"] == PLAN_VERSION == 2
    assert "cast" not in out and all(set(s) == {"title", "seconds", "prompt"} for s in out["segments"])
    validate_plan(plan, CATALOG)


def test_version_2_fields_round_trip() -> None:
    plan = Plan.from_dict(v2())
    a, b, c = plan.segments
    assert a.cast == ["Mara"] and a.camera == "wide, slow push-in" and a.transition == "continue"
    assert b.cast == ["Mara", "Lamp"] and b.transition == "cut" and b.takes == 3  # names take the cast's spelling
    assert c.model == "preview"
    assert plan.cut_indexes() == [2] and plan.runs() == [[1], [2, 3]]
    assert a.video_prompt() == "one Camera: wide, slow push-in."
    again = Plan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again == plan


@pytest.mark.parametrize(
    "edit, field, allowed",
    [
        (lambda d: d["segments"][2].update(cast=["Ghost"]), "plan.segments[3].cast", ["Mara", "Lamp"]),
        (lambda d: d["segments"][1].update(transition="fade"), "plan.segments[2].transition", ["continue", "cut"]),
        (lambda d: d["segments"][0].update(takes=9), "plan.segments[1].takes", ["1-4"]),
        (lambda d: d["segments"][0].update(takes=True), "plan.segments[1].takes", ["1-4"]),
        (lambda d: d["segments"][0].update(cast="Mara, Mara"), "plan.segments[1].cast", None),
        (lambda d: d["segments"][0].update(model=3), "plan.segments[1].model", None),
        (lambda d: d["cast"].append({"name": "mara"}), "plan.cast[3].name", None),
        (lambda d: d["cast"][1].update(kind="prop"), "plan.cast[2].kind", ["character", "object", "place", "style"]),
        (lambda d: d["cast"][1].update(images=["a.png"] * 5), "plan.cast[2].images", ["1-4"]),
        (lambda d: d.update(version=3), "plan.version", [1, 2]),
    ],
)
def test_bad_shot_fields_name_the_field_and_the_allowed_values(
    edit: Callable[[dict[str, Any]], None], field: str, allowed: list[object] | None
) -> None:
    data = v2()
    edit(data)
    with pytest.raises(InputError) as info:
        Plan.from_dict(data)
    assert info.value.field == field
    if allowed is not None:
        assert info.value.allowed == allowed


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"model": "veo3.1"}, "plan.segments[2].model", "cannot make the plan's resolution 180p"),
        ({"model": "sora-2"}, "plan.segments[2].model", "retired"),
        ({"model": "nope"}, "plan.segments[2].model", "unknown model"),
    ],
)
def test_a_per_shot_model_is_validated_per_shot(change: dict[str, str], field: str, words: str) -> None:
    data = v2()
    data["segments"][1].update(change)
    plan = Plan.from_dict(data)
    with pytest.raises(InputError) as info:
        validate_plan(plan, CATALOG)
    assert info.value.field == field and words in info.value.problem


def test_cuts_are_refused_where_every_shot_continues() -> None:
    data = v2(mode="keyframes")
    plan = Plan.from_dict(data)
    with pytest.raises(InputError) as info:
        validate_plan(plan, CATALOG)
    assert info.value.field == "plan.segments[2].transition" and info.value.allowed == ["continue"]


# --- planners -------------------------------------------------------------------------


def test_offline_planner_puts_the_named_cast_in_every_shot_and_continues() -> None:
    cast = [CastMember("Mara", "character", "a courier in a red coat"), CastMember("Lamp", "object")]
    req = resolve_request(Request(prompt="a night market", segments=4, model="preview"), CATALOG)
    req.cast, req.takes = cast, 2
    plan = offline_plan(req)
    assert [s.cast for s in plan.segments] == [["Mara", "Lamp"]] * 4
    assert [s.transition for s in plan.segments] == ["continue"] * 4 and [s.takes for s in plan.segments] == [2] * 4
    assert all("Mara (character: a courier in a red coat)" in s.prompt for s in plan.segments)
    assert [c.name for c in plan.cast] == ["Mara", "Lamp"] and all(not c.images for c in plan.cast)
    Plan.from_dict(plan.to_dict())  # what it writes reads back


async def test_openai_planner_fills_cast_and_transitions(openai_fake: OpenAIFake) -> None:
    req = resolve_request(
        Request(prompt="A courier crosses a market", segments=5, seconds=6, model="veo3.1-fast"), CATALOG
    )
    req.cast = [CastMember("Mara", "character", "red coat"), CastMember("Lamp", "object")]
    s = Settings(openai_base_url=openai_fake.url, openai_model="gpt-test", openai_max_retries=0)
    planner = get_planner("openai", settings=s, env={"OPENAI_API_KEY": openai_fake.key})
    plan = await planner.plan(req, CATALOG.get("veo3.1-fast"))
    assert [s.cast for s in plan.segments] == [["Mara", "Lamp"], ["Mara"], ["Mara", "Lamp"], ["Mara"], ["Mara", "Lamp"]]
    assert [s.transition for s in plan.segments] == ["continue", "continue", "cut", "continue", "continue"]
    assert all(s.camera for s in plan.segments)
    (rec,) = openai_fake.completions
    schema = rec.json["response_format"]["json_schema"]["schema"]
    seg = json.dumps(schema)
    assert '"transition"' in seg and '"cast"' in seg and '"cut"' in seg
    user = rec.json["messages"][1]["content"]
    assert "- Mara (character): red coat" in user and "PLAN CAST: Mara, Lamp" in user


# --- routes ---------------------------------------------------------------------------


def _shots_plan(model: str, resolution: str, seconds: int, transitions: list[str], cast: list[list[str]]) -> Plan:
    data = {
        "version": 2,
        "prompt": "p",
        "model": model,
        "resolution": resolution,
        "aspect": "16:9",
        "cast": [{"name": "Mara"}, {"name": "Lamp", "kind": "object"}],
        "segments": [
            {"title": str(i), "seconds": seconds, "prompt": f"shot {i}", "transition": t, "cast": c}
            for i, (t, c) in enumerate(zip(transitions, cast, strict=True), 1)
        ],
    }
    return Plan.from_dict(data)


def test_routes_references_keyframe_previous() -> None:
    # Veo 3.1: reference-to-video takes no start picture: cuts use references, continuations the previous picture
    plan = _shots_plan("veo3.1", "720p", 8, ["continue", "continue", "cut"], [["Mara"], ["Mara"], ["Mara", "Lamp"]])
    routes = shot_routes(plan, CATALOG)
    assert [(r.route, r.kind) for r in routes] == [
        ("references", Kind.R2V),
        ("previous", Kind.I2V),
        ("references", Kind.R2V),
    ]
    # Kling O3: references and the start picture in one call
    plan = _shots_plan("kling-o3-std", "1080p", 5, ["continue", "continue"], [["Mara"], ["Mara", "Lamp"]])
    r = shot_route(plan, CATALOG, 2)
    assert (r.route, r.kind, r.starts_from) == ("references", Kind.R2V, "previous+references")
    # Veo 3.1 Fast has no reference endpoint: a cut is made from a keyframe edited from the pictures
    plan = _shots_plan("veo3.1-fast", "720p", 8, ["continue", "cut"], [[], ["Mara"]])
    r1, r2 = shot_routes(plan, CATALOG)
    assert (r1.route, r1.kind) == ("none", Kind.T2V)
    assert (r2.route, r2.kind, r2.image_cost) == (
        "keyframe",
        Kind.I2V,
        CATALOG.image_models["nano-banana-2"].price_per_image,
    )
    # a 4-second cut cannot go to Veo's 8-second reference call: the keyframe way is priced instead
    plan = _shots_plan("veo3.1", "720p", 4, ["continue", "cut"], [[], ["Mara"]])
    assert shot_route(plan, CATALOG, 2).route == "keyframe"


def test_costs_count_each_take_once_and_the_cast_keyframe() -> None:
    plan = _shots_plan("veo3.1-fast", "720p", 8, ["continue", "cut"], [["Mara"], ["Mara"]])
    plan.segments[1].takes = 3
    spec = CATALOG.get("veo3.1-fast")
    video = spec.for_kind(Kind.I2V).cost(8, "720p", True)
    t2v = spec.for_kind(Kind.T2V).cost(8, "720p", True)
    image = CATALOG.image_models["nano-banana-2"].price_per_image
    routes = shot_routes(plan, CATALOG)
    assert routes[0].route == "keyframe"  # the first shot has no previous picture: a keyframe from the pictures
    assert routes[1].cost == pytest.approx(3 * video + image)
    assert estimate_cost(plan, CATALOG) == pytest.approx(video + image + 3 * video + image)
    plain = _shots_plan("veo3.1-fast", "720p", 8, ["continue", "continue"], [[], []])
    assert estimate_cost(plain, CATALOG) == pytest.approx(t2v + video)


def test_a_shot_that_cannot_carry_its_cast_is_refused_naming_shot_limit_and_models(tmp_path: Path) -> None:
    # four members of four pictures each: 16 pictures, more than any edit or reference call takes
    pics = [str(picture(tmp_path / f"p{k}.png", (10 * k, 50, 90))) for k in range(4)]
    data = {
        "version": 2,
        "prompt": "p",
        "model": "veo3.1",
        "resolution": "1080p",
        "aspect": "16:9",
        "cast": [{"name": f"M{k}", "images": pics} for k in range(4)],
        "segments": [
            {"seconds": 8, "prompt": "one"},
            {"seconds": 8, "prompt": "two", "transition": "cut", "cast": ["M0", "M1", "M2", "M3"]},
        ],
    }
    plan = Plan.from_dict(data)
    with pytest.raises(InputError) as info:
        shot_routes(plan, CATALOG, {f"M{k}": 4 for k in range(4)})
    err = info.value
    assert err.field == "plan.segments[2].cast"
    assert "shot 2 (a cut)" in err.problem and "16 picture(s)" in err.problem and "at most 3 pictures" in err.problem
    assert err.allowed and "kling-o3-std" in err.allowed and "veo3.1" not in err.allowed


def test_render_of_a_plan_that_cannot_carry_its_cast_exits_2_and_uploads_nothing(
    home: Path,
    tmp_path: Path,
    fal_fake: FalFake,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for k, v in fal_fake.env().items():
        monkeypatch.setenv(k, v)
    pics = [str(picture(tmp_path / f"p{k}.png", (10 * k, 50, 90))) for k in range(4)]
    data: dict[str, Any] = {
        "version": 2,
        "prompt": "p",
        "model": "veo3.1",
        "resolution": "1080p",
        "aspect": "16:9",
        "cast": [{"name": f"M{k}", "images": pics} for k in range(4)],
        "segments": [{"seconds": 8, "prompt": "one", "cast": ["M0", "M1", "M2", "M3"]}],
    }
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    assert main(["render", str(path), "--yes"]) == 2
    err = capsys.readouterr().err
    assert "plan.segments[1].cast" in err and "kling-o3" in err and "Traceback" not in err
    assert fal_fake.submits == [] and fal_fake.uploads == []
    data["segments"][0]["cast"] = ["Ghost"]
    path.write_text(json.dumps(data))
    assert main(["render", str(path), "--yes"]) == 2
    assert (
        "plan.segments[1].cast: 'Ghost' is not in the plan's cast (allowed: M0, M1, M2, M3)" in capsys.readouterr().err
    )


def test_generate_cast_offers_library_members(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    red = picture(tmp_path / "red.png", (220, 30, 30))
    assert main(["cast", "add", "Mara", str(red), "-d", "courier"]) == 0
    capsys.readouterr()
    assert main(["generate", "a market", "-n", "2", "-s", "2", "--cast", "mara", "--plan-only", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["plan"]["cast"] == [{"name": "Mara", "kind": "character", "description": "courier"}]
    assert [s["cast"] for s in out["plan"]["segments"]] == [["Mara"], ["Mara"]]
    assert main(["generate", "a market", "--cast", "Mara,Ghost", "--plan-only"]) == 2
    assert "cast: no member 'Ghost' in the cast library (allowed: Mara)" in capsys.readouterr().err
    assert main(["generate", "a market", "--takes", "7", "--plan-only"]) == 2
    assert "--takes: 7 is out of range (allowed: 1-4)" in capsys.readouterr().err


async def test_openai_planner_repairs_a_shot_naming_someone_outside_the_cast(
    openai_fake: OpenAIFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fakes.openai_server as server

    req = resolve_request(Request(prompt="A market", segments=3, seconds=6, model="veo3.1-fast"), CATALOG)
    req.cast = [CastMember("Mara")]
    answers = iter([["Mara", "Ghost"]])
    original = server.OpenAIFake.answer

    def answer(self: OpenAIFake, body: dict[str, Any]) -> tuple[str, str, str | None]:
        content, reason, refusal = original(self, body)
        data = json.loads(content)
        bad = next(answers, None)
        if bad is not None:
            data["segments"][1]["cast"] = bad
        return json.dumps(data), reason, refusal

    monkeypatch.setattr(server.OpenAIFake, "answer", answer)
    s = Settings(openai_base_url=openai_fake.url, openai_model="gpt-test", openai_max_retries=0)
    planner = get_planner("openai", settings=s, env={"OPENAI_API_KEY": openai_fake.key})
    plan = await planner.plan(req, CATALOG.get("veo3.1-fast"))
    assert all(set(seg.cast) <= {"Mara"} for seg in plan.segments)
    first, second = openai_fake.completions
    repair = second.json["messages"][-1]["content"]
    assert "segment 2 names 'Ghost', who is not in the cast (allowed: Mara)" in repair


def test_split_and_merge_keep_the_shot_fields() -> None:
    from sora_tui.core import plans

    plan = Plan.from_dict(v2())
    spec = CATALOG.get("preview")
    split, _ = plans.split_segment(plan, 2, spec)
    a, b = split.segments[1], split.segments[2]
    assert a.cast == b.cast == ["Mara", "Lamp"] and a.transition == "cut" and b.transition == "continue"
    assert a.takes == b.takes == 3
    merged, _ = plans.merge_segments(plan, 1, spec)
    m = merged.segments[0]
    assert m.cast == ["Mara", "Lamp"] and m.transition == "continue" and m.camera == "wide, slow push-in"
    assert m.takes == 3


def test_a_per_shot_model_length_is_checked_against_that_model_not_the_plans() -> None:
    """A 3 s Wan shot in a Veo plan (Veo makes 4, 6 or 8 s): Wan makes 3 s, so the plan is valid;
    a 3 s shot left on Veo is refused naming Veo's lengths."""
    segs = [{"prompt": "a wide harbour at dawn", "seconds": 4}, {"prompt": "a gull lands", "seconds": 3}]
    data = {"version": 2, "prompt": "a harbour", "model": "veo3.1-fast", "resolution": "720p", "aspect": "16:9",
            "mode": "chain", "segments": segs}  # fmt: skip
    segs[1].update(model="wan-2.7", transition="cut")
    assert validate_plan(Plan.from_dict(data), CATALOG).id == "veo3.1-fast"
    del segs[1]["model"]
    with pytest.raises(InputError) as info:
        validate_plan(Plan.from_dict(data), CATALOG)
    assert info.value.field == "plan.segments[2].seconds" and info.value.allowed == [4, 6, 8]
