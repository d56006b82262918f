"""A plan's shots and takes on the command line: ``--cast``, what ``--json`` tells of a shot, the shots table,
the takes waiting for a choice. The rules live in ``core.shots`` and ``core.takes``; this module only words them."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..core.engine import Engine
    from ..core.models import Plan


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
