"""How a file reaches the user: place from the environment, scp/rsync lines, open, picture mode, files, copies."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path

import pytest

from sora_tui.core import reach
from sora_tui.core.reach import (
    Place,
    fetch_commands,
    job_files,
    locate,
    open_problem,
    picture_box,
    picture_mode,
    save_copy,
)

SSH = {"SSH_CONNECTION": "198.51.100.7 53122 145.40.1.5 22", "SSH_TTY": "/dev/pts/3", "USER": "ana"}


def here(
    env: Mapping[str, str], web: bool = False, opener: str | None = "/usr/bin/xdg-open", platform: str = "linux"
) -> Place:
    return locate(env, web=web, hostname="gpubox", opener=opener, platform=platform)


def test_ssh_with_public_server_address_uses_it() -> None:
    place = here(SSH)
    assert place.ssh and not place.web and place.host == "145.40.1.5" and not place.host_guessed
    assert fetch_commands(place, "/data/jobs/j1/final.mp4") == [
        "scp ana@145.40.1.5:/data/jobs/j1/final.mp4 .",
        "rsync -P ana@145.40.1.5:/data/jobs/j1/final.mp4 .",
    ]


def test_ssh_port_and_quoting() -> None:
    env = {"SSH_CONNECTION": "198.51.100.7 53122 145.40.1.5 2222", "LOGNAME": "bo"}
    place = here(env)
    scp, rsync = fetch_commands(place, "/data/my jobs/final.mp4")
    assert scp == "scp -P 2222 'bo@145.40.1.5:/data/my jobs/final.mp4' ."
    assert shlex.split(rsync) == ["rsync", "-P", "-e", "ssh -p 2222", "bo@145.40.1.5:/data/my jobs/final.mp4", "."]


def test_private_address_behind_nat_falls_back_to_hostname_and_says_so() -> None:
    env = {"SSH_CONNECTION": "198.51.100.7 53122 10.0.0.5 22", "USER": "ana"}
    place = here(env)
    assert place.host == "gpubox" and place.host_guessed
    assert fetch_commands(place, "/x/final.mp4")[0] == "scp ana@gpubox:/x/final.mp4 ."


def test_user_named_host_wins() -> None:
    env = {**SSH, reach.SSH_HOST_ENV: "gpu.example.org"}
    place = here(env)
    assert place.host == "gpu.example.org" and not place.host_guessed
    assert fetch_commands(place, "/x/a.mp4")[0] == "scp ana@gpu.example.org:/x/a.mp4 ."


def test_ipv6_host_in_brackets_and_no_user() -> None:
    env = {"SSH_CONNECTION": "2001:db8::1 5000 2a01:4f8::2 22"}
    assert fetch_commands(here(env), "/x/a.mp4")[0] == "scp '[2a01:4f8::2]:/x/a.mp4' ."


def test_ssh_client_only_gives_port() -> None:
    place = here({"SSH_CLIENT": "198.51.100.7 53122 2200", "USER": "ana"})
    assert place.ssh and place.port == 2200 and place.host == "gpubox"


def test_local_terminal_has_no_fetch_command() -> None:
    place = here({"DISPLAY": ":0", "USER": "ana"})
    assert not place.ssh and fetch_commands(place, "/x/a.mp4") == []
    assert open_problem(place) is None


def test_open_says_why_not() -> None:
    # over SSH without X forwarding
    msg = open_problem(here(SSH))
    assert msg and "SSH session" in msg and "no display" in msg and "scp" in msg
    # X forwarding: a player can show its window
    assert open_problem(here({**SSH, "DISPLAY": "localhost:10.0"})) is None
    # browser: never a system player
    msg = open_problem(here({"DISPLAY": ":0"}, web=True))
    assert msg and "browser" in msg and "download" in msg
    # local Linux console without a display
    msg = open_problem(here({}))
    assert msg and "No display" in msg
    # a display but no xdg-open
    msg = open_problem(here({"WAYLAND_DISPLAY": "wayland-0"}, opener=None))
    assert msg and "xdg-open" in msg
    # a Mac needs no DISPLAY
    assert open_problem(here({}, opener="/usr/bin/open", platform="darwin")) is None
    assert open_problem(here(SSH, opener="/usr/bin/open", platform="darwin")) is not None


@pytest.mark.parametrize(
    ("env", "reported", "mode"),
    [
        ({"TERM": "xterm-kitty"}, "kitty", "kitty"),
        ({"TERM": "xterm-256color"}, "sixel", "sixel"),
        ({"TERM": "xterm-256color"}, None, "halfblock"),
        ({"TERM": "xterm-256color", "SORA_TUI_GRAPHICS": "halfblock"}, "kitty", "halfblock"),
        ({"TERM": "xterm-256color", "SORA_TUI_GRAPHICS": "sixel"}, None, "sixel"),
        ({"TEXTUAL_DRIVER": "textual.drivers.web_driver:WebDriver", "TERM_PROGRAM": "textual"}, "kitty", "halfblock"),
        ({"TERM": "linux"}, "sixel", "halfblock"),
        ({"TERM": "tmux-256color", "TMUX": "/tmp/tmux-0/default,1,0"}, "sixel", "halfblock"),
        ({"TERM": "screen"}, "kitty", "halfblock"),
        ({"TMUX": "/tmp/t,1,0", "SORA_TUI_GRAPHICS": "kitty"}, None, "kitty"),
        ({"TERM": "xterm", "SORA_TUI_GRAPHICS": "nonsense"}, "kitty", "kitty"),
    ],
)
def test_picture_mode(env: dict[str, str], reported: str | None, mode: str) -> None:
    assert picture_mode(env, reported) == mode


def test_picture_box() -> None:
    assert picture_box("halfblock", 100, 30) == (100, 60)
    assert picture_box("kitty", 100, 30, (9, 18)) == (900, 540)
    assert picture_box("sixel", 300, 100, (10, 20)) == reach.MAX_PICTURE_PX


def test_job_files_and_names(tmp_path: Path) -> None:
    folder = tmp_path / "jobs" / "j1"
    folder.mkdir(parents=True)
    (folder / "final.mp4").write_bytes(b"x" * 2500)
    (folder / "seg_01.mp4").write_bytes(b"a" * 10)
    (folder / "seams.json").write_text("{}")
    files = job_files(
        "j1", str(folder / "final.mp4"), str(folder), [(1, str(folder / "seg_01.mp4")), (2, str(folder / "seg_02.mp4"))]
    )
    assert [(f.kind, f.label, f.download_name, f.size) for f in files] == [
        ("final", "final video", "sora-j1.mp4", 2500),
        ("segment", "segment 1", "sora-j1-seg01.mp4", 10),  # segment 2 has no file: not offered
        ("seams", "seam report", "sora-j1-seams.json", 2),
    ]
    assert [f.is_video for f in files] == [True, True, False]
    assert job_files("j2", None, None, [(1, None)]) == []


def test_save_copy_never_overwrites(tmp_path: Path) -> None:
    src = tmp_path / "final.mp4"
    data = bytes(range(256)) * 5000
    src.write_bytes(data)
    out = tmp_path / "Downloads"
    first = save_copy(src, out, "sora-j1.mp4")
    second = save_copy(src, out, "sora-j1.mp4")
    assert first == out / "sora-j1.mp4" and second == out / "sora-j1 (2).mp4"
    assert first.read_bytes() == data == second.read_bytes() == src.read_bytes()
    assert sorted(p.name for p in out.iterdir()) == ["sora-j1 (2).mp4", "sora-j1.mp4"]


def test_human_size() -> None:
    assert reach.human_size(999) == "999 B"
    assert reach.human_size(12_345_678) == "12.3 MB"
