"""OpenAIPlanner against the wire-level OpenAI fake, through the real openai SDK."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fakes.openai_server import OpenAIFake
from sora_tui.cli.advice import cli_advice
from sora_tui.core.catalog import ModelSpec, load_catalog, resolve_request
from sora_tui.core.errors import Code
from sora_tui.core.models import Mode, Request
from sora_tui.core.planner.base import PlannerError
from sora_tui.core.planner.openai import OpenAIPlanner
from sora_tui.core.planner.registry import get_planner
from sora_tui.core.settings import Settings


def _setup(
    fake: OpenAIFake, mode: Mode = Mode.CHAIN, segments: int = 3, **settings: Any
) -> tuple[OpenAIPlanner, Request, ModelSpec]:
    catalog = load_catalog()
    req = resolve_request(
        Request(
            prompt="A red fox crosses a snowy forest", segments=segments, seconds=6, model="veo3.1-fast", mode=mode
        ),
        catalog,
    )
    s = Settings(openai_base_url=fake.url, openai_model="gpt-test", openai_max_retries=0, **settings)
    planner = get_planner("openai", settings=s, env={"OPENAI_API_KEY": fake.key})
    assert isinstance(planner, OpenAIPlanner)
    return planner, req, catalog.get("veo3.1-fast")


async def test_plan_has_n_segments_and_the_request_is_structured(openai_fake: OpenAIFake) -> None:
    planner, req, spec = _setup(openai_fake, segments=4)
    plan = await planner.plan(req, spec)
    assert len(plan.segments) == 4
    assert all(s.seconds == 6 and s.prompt for s in plan.segments)
    assert plan.planner == "openai" and plan.model == "veo3.1-fast" and plan.keyframes == []
    (rec,) = openai_fake.completions
    assert rec.headers["authorization"] == f"Bearer {openai_fake.key}"
    assert rec.json["model"] == "gpt-test"
    rf = rec.json["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["strict"] is True
    assert "segments" in rf["json_schema"]["schema"]["properties"]
    user = rec.json["messages"][1]["content"]
    assert "exactly 4 segments of exactly 6 seconds" in user and "PLAN SPEC: segments=4; seconds=6" in user
    assert "self-contained" in rec.json["messages"][0]["content"]


async def test_keyframe_mode_asks_for_n_plus_one_keyframes(openai_fake: OpenAIFake) -> None:
    planner, req, spec = _setup(openai_fake, mode=Mode.KEYFRAMES, segments=3)
    plan = await planner.plan(req, spec)
    assert len(plan.segments) == 3 and len(plan.keyframes) == 4
    assert plan.mode is Mode.KEYFRAMES


async def test_wrong_count_is_repaired_once(openai_fake: OpenAIFake) -> None:
    openai_fake.wrong_count = 1
    planner, req, spec = _setup(openai_fake)
    plan = await planner.plan(req, spec)
    assert len(plan.segments) == 3
    assert len(openai_fake.completions) == 2
    repair = openai_fake.completions[1].json["messages"]
    assert repair[-2]["role"] == "assistant"
    assert "there are 2 segments; exactly 3 are needed" in repair[-1]["content"]


async def test_wrong_twice_is_a_planner_error(openai_fake: OpenAIFake) -> None:
    openai_fake.wrong_seconds = 2
    planner, req, spec = _setup(openai_fake)
    with pytest.raises(PlannerError, match=r"unusable plan twice.*must last exactly 6 s") as err:
        await planner.plan(req, spec)
    assert cli_advice(err.value) == "; or plan without it: --planner offline"
    assert "--" not in str(err.value) and err.value.code is Code.PLANNER_FAILED
    assert len(openai_fake.completions) == 2


async def test_no_key_names_the_command_and_variable(openai_fake: OpenAIFake) -> None:
    planner, req, spec = _setup(openai_fake)
    planner.env = {}
    with pytest.raises(PlannerError) as err:
        await planner.plan(req, spec)
    text = str(err.value)
    said = text + cli_advice(err.value)  # the core names the facts; the CLI words what to do
    assert "sora-tui keys set openai" in said and "OPENAI_API_KEY" in said and "--planner offline" in said
    assert err.value.code is Code.KEY_MISSING and "--" not in text and "sora-tui" not in text
    assert openai_fake.records == []


async def test_401_is_clear_and_never_shows_the_key(openai_fake: OpenAIFake) -> None:
    planner, req, spec = _setup(openai_fake)
    planner.env = {"OPENAI_API_KEY": "sk-wrong-key-1234567890"}
    with pytest.raises(PlannerError) as err:
        await planner.plan(req, spec)
    text = str(err.value)
    said = text + cli_advice(err.value)
    assert "401" in text and "sora-tui keys set openai" in said and "--planner offline" in said
    assert err.value.code is Code.KEY_REJECTED and "sora-tui" not in text
    assert "sk-wrong-key-1234567890" not in text


async def test_429_after_the_sdk_retries(openai_fake: OpenAIFake) -> None:
    openai_fake.fail_next(429, 5)
    planner, req, spec = _setup(openai_fake)
    planner.settings.openai_max_retries = 2
    with pytest.raises(PlannerError, match=r"429 after 2 retries") as err:
        await planner.plan(req, spec)
    assert cli_advice(err.value) == "; or plan without it: --planner offline"
    assert "--" not in str(err.value) and err.value.code is Code.PLANNER_FAILED
    assert len(openai_fake.completions) == 3  # 1 + 2 SDK retries


async def test_a_short_429_burst_is_absorbed_by_the_sdk(openai_fake: OpenAIFake) -> None:
    openai_fake.fail_next(429, 2)
    planner, req, spec = _setup(openai_fake)
    planner.settings.openai_max_retries = 2
    plan = await planner.plan(req, spec)
    assert len(plan.segments) == 3


async def test_refusal(openai_fake: OpenAIFake) -> None:
    openai_fake.refusal = "I can't help with that."
    planner, req, spec = _setup(openai_fake)
    with pytest.raises(PlannerError, match=r"refused to plan this video: I can't help with that\.") as err:
        await planner.plan(req, spec)
    assert cli_advice(err.value) == "; or plan without it: --planner offline"
    assert "--" not in str(err.value) and err.value.code is Code.PLANNER_FAILED


@pytest.mark.parametrize(("reason", "words"), [("length", "cut off"), ("content_filter", "content filter")])
async def test_finish_reasons(openai_fake: OpenAIFake, reason: str, words: str) -> None:
    openai_fake.finish_reason = reason
    planner, req, spec = _setup(openai_fake)
    with pytest.raises(PlannerError, match=words) as err:
        await planner.plan(req, spec)
    assert "--planner offline" in cli_advice(err.value) and "--" not in str(err.value)


async def test_malformed_json_once_is_repaired(openai_fake: OpenAIFake) -> None:
    openai_fake.malformed = 1
    planner, req, spec = _setup(openai_fake)
    plan = await planner.plan(req, spec)
    assert len(plan.segments) == 3 and len(openai_fake.completions) == 2


async def test_malformed_json_twice_is_a_planner_error(openai_fake: OpenAIFake) -> None:
    openai_fake.malformed = 2
    planner, req, spec = _setup(openai_fake)
    with pytest.raises(PlannerError, match=r"not return valid JSON") as err:
        await planner.plan(req, spec)
    assert cli_advice(err.value) == "; or plan without it: --planner offline"
    assert "--" not in str(err.value) and err.value.code is Code.PLANNER_FAILED


async def test_unreachable_server(openai_fake: OpenAIFake) -> None:
    planner, req, spec = _setup(openai_fake)
    url = openai_fake.url
    openai_fake.stop()
    planner.settings.openai_base_url = url
    with pytest.raises(PlannerError, match=r"cannot reach the planner at http://127\.0\.0\.1") as err:
        await planner.plan(req, spec)
    assert cli_advice(err.value) == "; or plan without it: --planner offline"
    assert "--" not in str(err.value) and err.value.code is Code.PLANNER_FAILED


async def test_engine_plan_uses_settings_and_env(openai_fake: OpenAIFake, tmp_path: Path) -> None:
    from sora_tui.core.engine import Engine

    env = {"SORA_TUI_HOME": str(tmp_path), **openai_fake.env(), "SORA_TUI_OPENAI_MAX_RETRIES": "0"}
    engine = Engine(env=env)
    req = engine.resolve(Request(prompt="A lighthouse at dusk", segments=2, planner="openai", model="preview"))
    plan = await engine.plan(req)
    assert plan.planner == "openai" and len(plan.segments) == 2
    assert openai_fake.completions[0].json["model"] == engine.settings.openai_model


def test_planned_from_the_users_cast_through_the_cli(
    openai_fake: OpenAIFake,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``sora-tui plan --planner openai --cast Mara,Lamp``: the members offered are the library's (with
    their descriptions), and the plan comes back version 2 with every shot's cast and transition
    filled from the answer; a member not offered is not in the plan."""
    import json

    from sora_tui.cli import main
    from sora_tui.core.cast import library_for
    from test_cast import picture

    lib = library_for(home / "data")
    lib.add("Mara", [picture(tmp_path / "m.png", (220, 30, 30))], description="a courier in a red coat")
    lib.add("Lamp", [picture(tmp_path / "l.png", (20, 40, 230))], kind="object", description="green glass")
    lib.add("Kit", [picture(tmp_path / "k.png", (30, 200, 40))], description="a fox")
    for k, v in {"OPENAI_API_KEY": openai_fake.key, "OPENAI_BASE_URL": openai_fake.url}.items():
        monkeypatch.setenv(k, v)
    argv = ["plan", "A courier crosses a market", "-n", "4", "-s", "6", "-m", "veo3.1-fast", "--planner", "openai"]
    rc = main([*argv, "--cast", "Mara,Lamp", "--json", "--out", str(tmp_path / "plan.json")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    plan = json.loads(out)
    assert plan["version"] == 2 and plan["planner"] == "openai"
    assert [(m["name"], m["kind"]) for m in plan["cast"]] == [("Mara", "character"), ("Lamp", "object")]
    segs = plan["segments"]
    assert [s["cast"] for s in segs] == [["Mara", "Lamp"], ["Mara"], ["Mara", "Lamp"], ["Mara"]]
    assert [s.get("transition", "continue") for s in segs] == ["continue", "continue", "cut", "continue"]
    (rec,) = openai_fake.completions
    user = rec.json["messages"][1]["content"]
    assert "- Mara (character): a courier in a red coat" in user and "- Lamp (object): green glass" in user
    assert "Kit" not in user
    # an unknown name is refused before the planner is asked
    rc = main([*argv, "--cast", "Mara,Nobody", "--out", str(tmp_path / "p2.json")])
    _, err = capsys.readouterr()
    assert rc == 2 and "Nobody" in err and len(openai_fake.completions) == 1
