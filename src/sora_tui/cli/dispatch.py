"""The entry point: parse, dispatch to a command group, turn errors into one clear line and an exit code."""

from __future__ import annotations

import argparse
import sys

from .advice import cli_advice, interrupted
from .common import EXIT_FAILED, EXIT_INPUT, EXIT_INTERRUPTED, CliError, _engine, _err
from .jobs import cmd_generate, cmd_keyframes, cmd_plan, cmd_redo, cmd_render, cmd_resume
from .keys import cmd_keys
from .models import cmd_models
from .parser import build_parser
from .watch import cmd_history, cmd_show, cmd_stop


def cmd_tui() -> int:
    from ..tui.app import run_app

    return run_app()


def cmd_serve(args: argparse.Namespace) -> int:
    from ..tui.serve import serve

    return serve(host=args.host, port=args.port, public=args.public, public_url=args.public_url, token=args.token)


async def _dispatch(args: argparse.Namespace) -> int:
    engine = _engine()
    try:
        from . import queue as cli_queue
        from .cast import cmd_cast_async, cmd_pick, cmd_takes
        from .finish import ASYNC_HANDLERS, SYNC_HANDLERS

        handler = {
            "generate": cmd_generate,
            "plan": cmd_plan,
            "render": cmd_render,
            "resume": cmd_resume,
            "redo": cmd_redo,
            "keyframes": cmd_keyframes,
            "pick": cmd_pick,
            "cast": cmd_cast_async,
            **ASYNC_HANDLERS,
            **cli_queue.ASYNC_HANDLERS,
        }.get(args.command)
        if handler is not None:
            return await handler(engine, args)
        sync = {
            "history": cmd_history,
            "show": cmd_show,
            "stop": cmd_stop,
            "cancel": cmd_stop,
            "models": cmd_models,
            "takes": cmd_takes,
            **SYNC_HANDLERS,
            **cli_queue.SYNC_HANDLERS,
        }[args.command]
        return sync(engine, args)
    finally:
        await engine.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from ..core.models import InputError
    from .local import apply_device_args

    apply_device_args(args)

    try:
        if args.command is None:
            return cmd_tui()
        if args.command == "keys":
            return cmd_keys(args)
        if args.command == "serve":
            return cmd_serve(args)
        import asyncio

        return asyncio.run(_dispatch(args))
    except (InputError, CliError) as exc:
        _err(str(exc) + cli_advice(exc))
        return EXIT_INPUT
    except KeyboardInterrupt:
        _err(interrupted(args))
        return EXIT_INTERRUPTED
    except Exception as exc:  # last resort: a clear line, never a traceback for users
        from ..core.errors import JobFailed, describe_os_error
        from ..core.store import StoreError

        if isinstance(exc, OSError):  # a full, read-only or missing disk: which, where, what is free
            _err(describe_os_error(exc))
            return EXIT_FAILED
        if isinstance(exc, StoreError | JobFailed):
            _err(str(exc) + cli_advice(exc))
            return EXIT_FAILED
        raise


def entry() -> None:
    sys.exit(main())
