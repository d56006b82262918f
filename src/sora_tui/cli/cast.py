"""``sora-tui cast …``: the cast library from the command line; and how a plan's shots carry it.

    sora-tui cast add NAME IMAGE [IMAGE…] [--kind K] [--description TEXT]
    sora-tui cast list [--json]
    sora-tui cast show NAME
    sora-tui cast rm NAME

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
    from ..core.models import Plan

EXIT_OK = 0


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
    from . import EXIT_INTERRUPTED, _confirm, _render_job

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


def shot_fields(job: Any, index: int) -> dict[str, Any]:
    """What ``--json`` tells of a shot: its take (the kept one), takes, transition, model and cast."""
    from ..core.takes import TakeBook

    plan = job.plan
    if plan is None or index > len(plan.segments):
        return {}
    seg = plan.segments[index - 1]
    kept = TakeBook(job.job_dir).kept.get(index, 1) if job.folder else 1
    return {
        "take": kept,
        "takes": seg.takes,
        "transition": "cut" if index > 1 and seg.is_cut else "continue",
        "model": plan.shot_model(index),
        "cast": list(seg.cast),
    }


def print_takes_review(engine: Engine, job: Any) -> None:
    """A run stopped for a choice of takes (``--review-takes``): the takes and what to do next."""
    from ..core.takes import TakeBook

    book = TakeBook(job.job_dir)
    for index in sorted(book.shots):
        print(f"the takes of shot {index} are ready:", file=sys.stderr)
        for row in engine.shot_takes(job.id, index):
            mark = "*" if row["kept"] else " "
            print(f"{mark} shot {index} take {row['take']}  seed {row['seed']}  ${row['cost_usd']:.2f}  {row['file']}")
    print(f"keep another: sora-tui pick {job.id} K TAKE · go on: sora-tui resume {job.id}", file=sys.stderr)


def request_cast(engine: Engine, value: str | None) -> list[Any]:
    """``--cast Mara,Kit`` → library members as plan entries (InputError names an unknown one)."""
    if not value:
        return []
    names = [n.strip() for n in value.split(",") if n.strip()]
    return engine.cast_members(names)


def shows_shots(plan: Plan) -> bool:
    return bool(plan.cast) or any(s.model or s.is_cut or s.takes > 1 or s.cast for s in plan.segments)


def print_shots(engine: Engine, plan: Plan, out: Any) -> None:
    """Per shot: how it starts, how each member reaches its model, takes and cost (before paying)."""
    from rich.table import Table
    from rich.text import Text

    from ..core.shots import shot_routes

    members = engine.check_plan(plan)
    routes = shot_routes(plan, engine.catalog, {m.name: len(m.images) for m in members})
    table = Table(title=Text("Shots: how the cast reaches the model"), title_justify="left")
    for name in ("#", "start", "model / call", "cast", "through", "takes", "cost"):
        table.add_column(name, justify="right" if name in ("#", "takes", "cost") else "left")
    for r in routes:
        seg = plan.segments[r.index - 1]
        start = "cut" if r.index > 1 and seg.is_cut else "continue" if r.index > 1 else "first"
        through = {
            "none": "-",
            "references": f"{r.pictures} reference picture(s)",
            "keyframe": f"keyframe from {r.pictures} picture(s)",
            "previous": "previous picture only",
        }[r.route]
        table.add_row(
            str(r.index),
            start,
            Text(f"{r.model} {r.kind}"),
            Text(", ".join(r.members) or "-"),
            through,
            str(r.takes),
            f"${r.cost:.2f}",
        )
    out.print(table)


def _err(message: str) -> None:
    print(f"sora-tui: {message}", file=sys.stderr)
