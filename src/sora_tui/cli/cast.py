"""``sora-tui cast …``: the cast library from the command line; and how a plan's shots carry it.

    sora-tui cast add NAME IMAGE [IMAGE…] [--kind K] [--description TEXT]
    sora-tui cast list [--json]
    sora-tui cast show NAME
    sora-tui cast rm NAME
    sora-tui cast generate NAME --description TEXT [--kind K] [--model M] [--yes] [--json]

The rules live in ``core.cast`` (the library) and ``core.shots`` (the route of each shot);
this module only words them.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..core.engine import Engine

from .common import EXIT_OK, _err


def add_parsers(sub: Any) -> None:
    from ..core.models import CAST_KINDS, MAX_CAST_PICTURES

    p = sub.add_parser("cast", help="the cast library: characters, objects, places and styles with pictures")
    cs = p.add_subparsers(dest="cast_command", metavar="ACTION", required=True)
    a = cs.add_parser("add", help=f"add a member with 1-{MAX_CAST_PICTURES} reference pictures (copied)")
    a.add_argument("name", help="the member's name, as shots name it")
    a.add_argument("images", nargs="+", metavar="IMAGE", help="reference pictures (PNG, JPEG, WebP, BMP)")
    a.add_argument("--kind", "-k", default="character", choices=list(CAST_KINDS), help="default: character")
    a.add_argument("--description", "-d", default="", help="what the member looks like (sent to the planner)")
    a.add_argument("--replace", action="store_true", help="replace a member of the same name")
    a.add_argument("--json", action="store_true")
    ls = cs.add_parser("list", help="list the members")
    ls.add_argument("--json", action="store_true")
    s = cs.add_parser("show", help="one member: kind, description and its pictures")
    s.add_argument("name")
    s.add_argument("--json", action="store_true")
    r = cs.add_parser("rm", help="remove a member from the library (jobs keep their own copies)")
    r.add_argument("name")
    add_generate_parser(cs)

    t = sub.add_parser("takes", help="the takes of one shot of a job: file, status, seed, cost, which is kept")
    t.add_argument("job", help="job id (or a unique prefix)")
    t.add_argument("shot", type=int, metavar="K", help="the shot (segment) number")
    t.add_argument("--json", action="store_true")
    k = sub.add_parser("pick", help="keep another take of a shot; the shots that continue from it render again")
    k.add_argument("job", help="job id (or a unique prefix)")
    k.add_argument("shot", type=int, metavar="K")
    k.add_argument("take", type=int, metavar="TAKE")
    k.add_argument("--yes", "-y", action="store_true", help="do not ask before paying for the re-render")
    k.add_argument("--json", action="store_true", help="print one JSON object with the result")


def _member_dict(found: Any) -> dict[str, Any]:
    m = found.member
    return {"name": m.name, "kind": m.kind, "description": m.description, "images": list(m.images)}


def cmd_cast(engine: Engine, args: argparse.Namespace) -> int:
    lib = engine.cast_library
    action = args.cast_command
    if action == "add":
        found = lib.add(args.name, list(args.images), args.kind, args.description, replace=args.replace)
        if args.json:
            print(json.dumps(_member_dict(found), indent=2))
        else:
            print(
                f"added {found.name} ({found.member.kind}) with {len(found.member.images)} picture(s) in {found.folder}"
            )
        return EXIT_OK
    if action == "list":
        members = lib.members()
        if args.json:
            print(json.dumps([_member_dict(m) for m in members], indent=2))
            return EXIT_OK
        if not members:
            print("the cast library is empty; add a member: sora-tui cast add NAME IMAGE…")
            return EXIT_OK
        for m in members:
            desc = f" — {m.member.description}" if m.member.description else ""
            print(f"{m.name:<20} {m.member.kind:<10} {len(m.member.images)} picture(s){desc}")
        return EXIT_OK
    if action == "show":
        found = lib.get(args.name, "name")
        if args.json:
            print(json.dumps(_member_dict(found), indent=2))
            return EXIT_OK
        print(f"{found.name} ({found.member.kind})")
        if found.member.description:
            print(f"  {found.member.description}")
        for p in found.member.images:
            print(f"  {p}")
        return EXIT_OK
    if action == "rm":
        found = lib.remove(args.name)
        print(f"removed {found.name} from the cast library (jobs that used it keep their copies)")
        return EXIT_OK
    raise AssertionError(action)  # pragma: no cover - argparse allows only the actions above


def cmd_takes(engine: Engine, args: argparse.Namespace) -> int:
    rows = engine.shot_takes(args.job, args.shot)
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    for r in rows:
        mark = "*" if r["kept"] else " "
        print(f"{mark} take {r['take']}  {r['status']:<9} seed {r['seed']:<11} ${r['cost_usd']:.2f}  {r['file'] or ''}")
    return EXIT_OK


async def cmd_pick(engine: Engine, args: argparse.Namespace) -> int:
    from .common import EXIT_INTERRUPTED, _confirm
    from .jobs import _render_job

    cost, redo = engine.pick_quote(args.job, args.shot, args.take)
    if redo and cost > 0 and not args.yes:
        shots = ", ".join(map(str, redo))
        if not _confirm(
            f"Keep take {args.take} of shot {args.shot}: shots {shots} render again for about ${cost:.2f}?"
        ):
            _err("nothing changed")
            return EXIT_INTERRUPTED
    job, redo = await engine.pick_take(args.job, args.shot, args.take)
    if not args.json:
        again = f"; shots {', '.join(map(str, redo))} render again" if redo else "; nothing else renders again"
        print(f"shot {args.shot} keeps take {args.take}{again}", file=sys.stderr)
    args.output, args.max_cost, args.detach = None, None, False
    return await _render_job(engine, job, args, ask=False)


# --- cast generate: a reference sheet made with the image model ------------------------------


def add_generate_parser(cs: Any) -> None:
    from ..core.models import CAST_KINDS

    g = cs.add_parser(
        "generate",
        help="make a member's reference sheet with the image model (price shown and confirmed first)",
        description="Make 1-2 reference pictures (a character or object: a front and a three-quarter view; "
        "a place or style: one picture) with the image model and add them as a new member. With no fal key, "
        "or --model preview, the offline preview draws them (free).",
    )
    g.add_argument("name", help="the new member's name, as shots name it")
    g.add_argument("--description", "-d", required=True, help="what the member looks like (the image model's prompt)")
    g.add_argument("--kind", "-k", default="character", help=f"one of {', '.join(CAST_KINDS)} (default: character)")
    g.add_argument(
        "--model", "-m", default=None, help="image model (default: nano-banana-2 with a fal key, else preview)"
    )
    g.add_argument("--yes", "-y", action="store_true", help="do not ask before paying")
    g.add_argument("--json", action="store_true", help="print the new member as JSON")


async def cmd_cast_async(engine: Engine, args: argparse.Namespace) -> int:
    """``sora-tui cast …``: ``generate`` (async: it calls the image model), the rest as ``cmd_cast``;
    ``rm`` of a name with only an unfinished sheet drops that sheet."""
    if args.cast_command == "generate":
        return await cmd_cast_generate(engine, args)
    if args.cast_command == "rm" and engine.cast_library.find(args.name) is None:
        from ..core.cast import drop_sheet

        if drop_sheet(engine.cast_library, args.name):
            print(f"dropped the unfinished reference sheet of {args.name}")
            return EXIT_OK
    return cmd_cast(engine, args)


async def cmd_cast_generate(engine: Engine, args: argparse.Namespace) -> int:
    from ..core.cast import make_sheet, plan_sheet
    from .common import EXIT_INTERRUPTED, _confirm

    sheet = plan_sheet(
        engine.cast_library,
        engine.catalog,
        args.name,
        args.description,
        args.kind,
        args.model,
        has_fal_key=engine.has_key("fal"),
    )
    provider = engine.image_provider(sheet.model)
    n, cost = len(sheet.views), sheet.cost
    kept = n - sheet.to_pay
    again = f" ({kept} already asked for or delivered, not paid again)" if kept else ""
    what = f"{n} picture(s) of {sheet.name} ({sheet.kind}) with {sheet.model.name}"
    price = f"${cost:.2f}" + ("" if sheet.price_each == 0 else f" (${sheet.price_each:.2f} a picture)")
    print(f"reference sheet: {what}: {price}{again}", file=sys.stderr)
    if cost > 0 and not args.yes:
        if not sys.stdin.isatty():
            from .common import CliError

            raise CliError(f"--yes: cannot ask to pay {price} without a terminal; pass --yes to make the sheet")
        if not _confirm(f"Make {what} for {price}?"):
            _err("nothing made, nothing paid")
            return EXIT_INTERRUPTED
    found = await make_sheet(sheet, provider, engine.cast_library)
    if args.json:
        print(json.dumps({**_member_dict(found), "cost_usd": cost, "model": sheet.model.id}, indent=2))
    else:
        print(f"added {found.name} ({found.member.kind}) with {len(found.member.images)} picture(s) in {found.folder}")
    return EXIT_OK
