"""`sora-tui models`: kinds, audio, price per kind and modes of every model, as a table and as JSON."""

from __future__ import annotations

import json
import subprocess


def run(cmd: list[str], env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cmd, *args], env=env, capture_output=True, text=True, timeout=60)


def test_models_json_lists_kinds_prices_and_modes(sora_cmd: list[str], cli_env: dict[str, str]) -> None:
    res = run(sora_cmd, cli_env, "models", "--json")
    assert res.returncode == 0, res.stderr
    models = {m["id"]: m for m in json.loads(res.stdout)}
    ltx = models["ltx-2.3"]
    assert set(ltx["kinds"]) == {"t2v", "i2v", "flf2v", "extend"}
    assert ltx["kinds"]["t2v"]["usd_per_second"] == 0.08 and ltx["kinds"]["i2v"]["usd_per_second"] == 0.06
    assert ltx["kinds"]["t2v"]["aspects"] == ["16:9", "9:16"] and "auto" in ltx["kinds"]["i2v"]["aspects"]
    assert ltx["kinds"]["extend"]["price_confirmed"] is False
    assert ltx["modes"] == ["chain", "parallel", "keyframes", "extend"]
    assert models["kling-2.5-turbo"]["kinds"]["i2v"]["aspects"] is None  # follows the image
    assert models["wan-2.7"]["kinds"]["t2v"]["audio"] == "always"
    assert models["veo3.1"]["kinds"]["t2v"]["usd_per_second"] == 0.20
    assert models["pixverse-v6"]["modes"] == ["chain", "parallel", "extend"]
    assert models["sora-2"]["status"] == "retired" and models["sora-2"]["modes"] == []
    for new in (
        "veo3.1-lite",
        "kling-3-std",
        "kling-3-pro",
        "kling-o3-std",
        "kling-o3-pro",
        "seedance-2",
        "seedance-2-fast",
    ):
        assert models[new]["status"] == "current"
    for m in models.values():
        for k in m["kinds"].values():
            assert m["provider"] in ("preview", "local") or k["price_source"] and k["price_checked"]


def test_models_table(sora_cmd: list[str], cli_env: dict[str, str]) -> None:
    res = run(sora_cmd, {**cli_env, "COLUMNS": "160"}, "models")
    assert res.returncode == 0, res.stderr
    assert "extend" in res.stdout and "flf" in res.stdout and "estimate" in res.stdout
    assert "t2v $0.08/s" in res.stdout and "i2v $0.06/s" in res.stdout


def test_generate_offers_extend_mode(sora_cmd: list[str], cli_env: dict[str, str]) -> None:
    res = run(sora_cmd, cli_env, "generate", "--help")
    assert "extend" in res.stdout
    res = run(sora_cmd, cli_env, "generate", "a boat", "--mode", "extend", "--yes")
    assert res.returncode == 2
    assert "extend" in res.stderr and "veo3.1-fast" in res.stderr
