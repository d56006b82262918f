"""The `sora-tui` argument parser: every command group adds its sub-commands here."""

from __future__ import annotations

import argparse
from typing import Any

from ..core.planner import PLANNERS
from .common import _money, _positive_int


def _add_request_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompt", nargs="?", help="what the video shows (quote it)")
    p.add_argument("--segments", "-n", type=_positive_int, default=3, help="number of segments, 1-60 (default 3)")
    p.add_argument("--seconds", "-s", type=_positive_int, help="seconds per segment (the model's choices)")
    p.add_argument("--model", "-m", help="model id (see `sora-tui models`)")
    p.add_argument("--resolution", "-r", help="e.g. 360p, 720p, 1080p (the model's choices)")
    p.add_argument("--aspect", "-a", help="aspect ratio, e.g. 16:9 or 9:16")
    p.add_argument(
        "--mode",
        choices=["chain", "parallel", "keyframes", "extend"],
        help="how segments connect (default chain; extend: each segment extends the video before, "
        "on models with an extend endpoint)",
    )
    p.add_argument("--planner", choices=list(PLANNERS), help="who writes the segment prompts")
    p.add_argument("--start-image", help="image file the first segment starts on")
    p.add_argument("--no-audio", action="store_true", help="silent video (models with optional audio)")
    p.add_argument(
        "--seams",
        choices=["auto", "off"],
        help="auto (default): cut repeated conditioning frames, trim fades, hold colour, crossfade sound; "
        "off: join as rendered (sound stays in sync)",
    )
    p.add_argument(
        "--crossfade", type=float, metavar="MS", help="sound crossfade at each seam in ms (default 80, 0 = off)"
    )
    p.add_argument("--no-colour-anchor", action="store_true", help="do not hold colour to the first segment")
    p.add_argument("--colour-reference", metavar="IMAGE", help="hold colour to this picture instead of segment 1")
    p.add_argument("--narration", action="store_true", help="the planner also writes a narration line per segment")
    p.add_argument("--cast", metavar="NAME[,NAME…]", help="cast library members the planner puts in the shots")
    p.add_argument("--takes", type=_positive_int, default=1, help="takes of every shot, 1-4 (the best is kept)")


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-cost", type=_money, help="refuse to spend more than this many USD")
    p.add_argument(
        "--review-takes", action="store_true", help="stop after a shot's takes for a choice (`sora-tui pick`)"
    )
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument("--output", "-o", help="also copy the final video to this .mp4 path")
    p.add_argument("--json", action="store_true", help="print one JSON object with the result")
    p.add_argument(
        "--detach",
        "-d",
        action="store_true",
        help="hand it to the queue: a background runner that outlives this shell starts it when the limits "
        "allow (follow: `sora-tui show --follow JOB`; the queue: `sora-tui queue`)",
    )
    p.add_argument(
        "--now",
        action="store_true",
        help="with --detach: start its runner at once, outside the queue's limits (a foreground run always starts at once)",
    )
    from .local import add_device_args

    add_device_args(p)


class _VersionAction(argparse.Action):
    """``--version``: the installed package's version (read only when asked: no cost to other commands)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from importlib.metadata import version

        print(f"sora-tui {version('sora-tui')}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sora-tui",
        description="Turn one prompt into one long, coherent AI video. Without a sub-command, starts the studio.",
    )
    parser.add_argument("--version", "-V", action=_VersionAction, help="print the version of sora-tui and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("generate", help="plan and render a video from a prompt")
    _add_request_args(p)
    _add_run_args(p)
    p.add_argument("--plan", dest="plan_file", help="render this plan file instead of planning")
    p.add_argument("--plan-only", action="store_true", help="show the plan and its cost, render nothing")
    p.add_argument(
        "--review-keyframes",
        action="store_true",
        help="keyframe mode: stop after the keyframe images, before any video is paid for",
    )
    p.add_argument("--music", help="finish with this music bed (and the narration) after the join")

    p = sub.add_parser("plan", help="write a plan file to review and edit before rendering")
    _add_request_args(p)
    p.add_argument("--out", "-o", dest="plan_out", default="plan.json", help="plan file to write (default plan.json)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON instead of a table")

    p = sub.add_parser("render", help="render a plan file")
    p.add_argument("plan_file", help="plan JSON written by `sora-tui plan` (and maybe edited)")
    _add_run_args(p)

    p = sub.add_parser("history", help="list jobs")
    p.add_argument("--json", action="store_true")
    p.add_argument("--status", help="only jobs with this status (also `interrupted`: their process is gone)")
    p.add_argument("--search", default="", help="only jobs whose prompt, id or model contains this")

    p = sub.add_parser("show", help="show one job: plan, segments, output, logs")
    p.add_argument("job", help="job id, unique prefix, or `last`")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--follow",
        "-f",
        action="store_true",
        help="stream the job's progress until it ends (also when another process runs it); exits with its outcome",
    )

    for name in ("stop", "cancel"):
        p = sub.add_parser(name, help="ask the process that renders a job to stop it (request ids are kept)")
        p.add_argument("job", help="job id, unique prefix, or `last`")
        p.add_argument("--wait", action="store_true", help="wait until the job has stopped")

    p = sub.add_parser("resume", help="continue an interrupted or failed job (nothing done is rendered again)")
    p.add_argument("job", help="job id, unique prefix, or `last`")
    _add_run_args(p)

    p = sub.add_parser("redo", help="render segments K..N again (after editing the job's plan.json)")
    p.add_argument("job", help="job id, unique prefix, or `last`")
    p.add_argument("--from", dest="from_index", type=_positive_int, required=True, help="first segment to redo")
    p.add_argument(
        "--only",
        action="store_true",
        help="re-render segment K alone (a flagged seam), keeping the segments after it",
    )
    _add_run_args(p)

    p = sub.add_parser("keyframes", help="list, regenerate or replace the keyframes of a keyframe-mode job")
    p.add_argument("job", help="job id, unique prefix, or `last`")
    p.add_argument("--regenerate", type=_positive_int, metavar="K", help="make keyframe K again")
    p.add_argument("--prompt", help="with --regenerate: a new description for keyframe K")
    p.add_argument("--replace", nargs=2, metavar=("K", "IMAGE"), help="use your own image as keyframe K")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("models", help="video models: kinds, audio, price per kind, modes (--json for scripts)")
    p.add_argument("--json", action="store_true")
    from .local import add_models_local

    add_models_local(p)

    p = sub.add_parser("keys", help="API keys for fal and OpenAI (env var first, then the OS keyring, then a key file)")
    p.add_argument("action", choices=["status", "set", "delete"])
    p.add_argument("name", nargs="?", choices=["fal", "openai"])
    p.add_argument(
        "--file",
        action="store_true",
        help="set: store the key unencrypted in a file only you can read (for machines without a keyring)",
    )
    p.add_argument("--yes", "-y", action="store_true", help="set --file: do not ask before storing it unencrypted")

    from .finish import add_parsers

    add_parsers(sub, _money)
    from . import queue as cli_queue

    cli_queue.add_parsers(sub, _money)
    from .cast import add_parsers as add_cast_parsers

    add_cast_parsers(sub)

    p = sub.add_parser("serve", help="serve the studio to a browser (textual-serve)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_positive_int, default=8000)
    p.add_argument(
        "--public", action="store_true", help="allow a non-loopback address (a token is then required to open the app)"
    )
    p.add_argument(
        "--public-url",
        metavar="URL",
        help="the address browsers use, when it is not host:port (reverse proxy, SSH port-forward on another port)",
    )
    p.add_argument(
        "--token",
        help="access token the browser must present (?token=…); generated and printed with --public when not given; "
        "also read from $SORA_TUI_SERVE_TOKEN",
    )
    return parser
