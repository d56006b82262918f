"""The GPU lease (core/gpu.py) and the device rules of the local provider; no torch needed for the lease."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sora_tui.core.gpu import GpuLease, LeaseCancelled, device_key, ordinal, wait_message


def test_words_and_keys() -> None:
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st",
    ]  # fmt: skip
    assert wait_message(2, "JOB") == "waiting for the GPU (2nd in line, behind JOB)"
    assert device_key("cuda") == device_key("cuda:0") == "cuda-0" and device_key("CPU") == "cpu"


def test_waiters_queue_in_order_and_name_the_holder(tmp_path: Path) -> None:
    holder = GpuLease(tmp_path, "cuda:0", "job-a")
    assert holder.acquire() == 0.0 and holder.holder() == "job-a"
    seen: dict[str, list[tuple[int, str]]] = {"b": [], "c": []}
    got: dict[str, float] = {}
    leases = {"b": GpuLease(tmp_path, "cuda", "job-b"), "c": GpuLease(tmp_path, "cuda:0", "job-c")}

    def wait(name: str) -> None:
        got[name] = leases[name].acquire(lambda place, who: seen[name].append((place, who)), poll=0.02)

    tb = threading.Thread(target=wait, args=("b",), daemon=True)
    tb.start()
    while not seen["b"]:
        time.sleep(0.01)
    tc = threading.Thread(target=wait, args=("c",), daemon=True)
    tc.start()
    while not seen["c"]:
        time.sleep(0.01)
    assert seen["b"][0] == (2, "job-a") and seen["c"][0] == (3, "job-a")
    # another device is free meanwhile
    other = GpuLease(tmp_path, "cuda:1", "job-d")
    assert other.acquire() == 0.0
    other.release()
    holder.release()
    tb.join(5)
    assert got["b"] > 0 and leases["b"].held and tc.is_alive()
    deadline = time.monotonic() + 5
    while seen["c"][-1] != (2, "job-b") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen["c"][-1] == (2, "job-b")  # moved up, now behind job-b
    leases["b"].release()
    tc.join(5)
    assert leases["c"].held
    leases["c"].release()


def test_a_dead_holder_frees_the_device_and_a_wait_can_be_cancelled(tmp_path: Path) -> None:
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[1]);"
        "from sora_tui.core.gpu import GpuLease;"
        "l = GpuLease(__import__('pathlib').Path(sys.argv[2]), 'cuda:0', 'job-x'); l.acquire(); print('held', flush=True);"
        "time.sleep(60)"
    )
    src = str(Path(__file__).resolve().parents[1] / "src")
    proc = subprocess.Popen([sys.executable, "-c", code, src, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        cancel = threading.Event()
        waiter = GpuLease(tmp_path, "cuda:0", "job-y")
        timer = threading.Timer(0.2, cancel.set)
        timer.start()
        with pytest.raises(LeaseCancelled):
            waiter.acquire(cancel=cancel, poll=0.02)
        assert not list((tmp_path / "cuda-0.queue").iterdir())  # its place in line is given up
        proc.kill()
        proc.wait()
        assert waiter.acquire(poll=0.02) >= 0.0 and waiter.holder() == "job-y"
        waiter.release()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_device_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch") if os.environ.get("CI") != "true" else __import__("torch")
    from sora_tui.core.localmodels import LocalModelError
    from sora_tui.core.providers.local import resolve_device
    from sora_tui.core.settings import Settings

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    from sora_tui.cli.advice import cli_advice

    with pytest.raises(LocalModelError, match="no CUDA GPU") as err:
        resolve_device(Settings(local_device="cuda:1"))
    assert "--allow-cpu" in cli_advice(err.value)
    assert resolve_device(Settings(local_device="cuda:1", local_allow_cpu=True)) == "cpu"
    with pytest.raises(LocalModelError, match="local_device is cpu") as err:
        resolve_device(Settings(local_device="cpu"))
    assert "pass --allow-cpu" in cli_advice(err.value)
    with pytest.raises(LocalModelError, match="unknown device"):
        resolve_device(Settings(local_device="tpu"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device(Settings(local_device="cuda")) == "cuda:0"
    assert resolve_device(Settings(local_device="cuda:1")) == "cuda:1"
    with pytest.raises(LocalModelError, match="has 2 GPU"):
        resolve_device(Settings(local_device="cuda:2"))


def test_cli_device_flags_reach_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from sora_tui.cli import build_parser
    from sora_tui.cli.local import apply_device_args

    # apply_device_args sets the process's environment (for the runners it spawns): setenv first, so
    # that pytest takes both variables away again after this test (a bare delenv of an absent one would not)
    for name in ("SORA_TUI_LOCAL_DEVICE", "SORA_TUI_LOCAL_ALLOW_CPU"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    args = build_parser().parse_args(["generate", "a kite", "--device", "cuda:1", "--allow-cpu"])
    apply_device_args(args)
    from sora_tui.core.settings import load_settings

    settings = load_settings(env=dict(os.environ) | {"SORA_TUI_HOME": "/nonexistent-home"})
    assert (settings.local_device, settings.local_allow_cpu) == ("cuda:1", True)
