"""`sora-tui models local add|list|rm` and the `--device` / `--allow-cpu` options (local models).

The rules live in core (core/localmodels.py, core/providers/local.py); this only words them.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..core.engine import Engine


def add_models_local(models: argparse.ArgumentParser) -> None:
    """`models local add ID PATH | list | rm ID` under the `models` parser (plain `models` still lists)."""
    sub = models.add_subparsers(dest="models_action", metavar="local")
    p = sub.add_parser("local", help="local model folders: add ID PATH, list, rm ID")
    actions = p.add_subparsers(dest="local_action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="check a model's diffusers folder and record it")
    add.add_argument("model", help="a local model id (see `sora-tui models`)")
    add.add_argument("path", help="the folder that holds the model's model_index.json")
    actions.add_parser("list", help="the local models, their folders and whether each is whole")
    rm = actions.add_parser("rm", help="forget a model's folder (the files are kept)")
    rm.add_argument("model")


def add_device_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", help="local models: the GPU to render on, e.g. cuda:1 (default: setting local_device)")
    p.add_argument(
        "--allow-cpu", action="store_true", help="local models: render on the CPU where there is no GPU (small models)"
    )


def apply_device_args(args: argparse.Namespace) -> None:
    """Hand --device / --allow-cpu to the engine (and to a detached runner) as setting overrides."""
    if getattr(args, "device", None):
        os.environ["SORA_TUI_LOCAL_DEVICE"] = args.device
    if getattr(args, "allow_cpu", False):
        os.environ["SORA_TUI_LOCAL_ALLOW_CPU"] = "1"


def cmd_models_local(engine: Engine, args: argparse.Namespace) -> int:
    from ..core.localmodels import LocalModelError, add_folder, check_folder, load_folders, remove_folder

    if args.local_action == "add":
        path = add_folder(engine.paths, engine.catalog, args.model, args.path)
        print(f"{args.model}: {path} is whole and recorded; render with `--model {args.model}`")
        return 0
    if args.local_action == "rm":
        path = remove_folder(engine.paths, args.model)
        print(f"{args.model}: forgot {path} (its files are kept)")
        return 0
    folders = load_folders(engine.paths)
    for spec in engine.catalog:
        if spec.provider != "local":
            continue
        folder = folders.get(spec.id)
        if folder is None and engine.settings.local_models_dir:
            folder = Path(engine.settings.local_models_dir).expanduser() / spec.id
        if folder is None:
            print(f"{spec.id}\tnot recorded\t`sora-tui models local add {spec.id} DIR`")
            continue
        try:
            check_folder(spec, folder)
            state = "ok"
        except LocalModelError as exc:
            state = "not usable: " + exc.problem
        print(f"{spec.id}\t{folder}\t{state}")
    return 0
