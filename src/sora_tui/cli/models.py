"""`sora-tui models`: the catalog's video models, their kinds, prices and modes."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from .common import EXIT_OK
from .render import _console

if TYPE_CHECKING:
    from ..core.catalog import ModelSpec
    from ..core.engine import Engine


KIND_SHORT = {"t2v": "t2v", "i2v": "i2v", "flf2v": "flf", "extend": "extend", "r2v": "r2v"}


def _model_row(spec: ModelSpec, default: str) -> dict[str, Any]:
    """One catalog model for `sora-tui models --json`: kinds, audio, price per kind, modes."""
    from ..core.catalog import model_modes

    res = spec.default_resolution or spec.resolutions[0]
    kinds = {}
    for kind in spec.kinds:
        ks = spec.for_kind(kind)
        kinds[str(kind)] = {
            "endpoint": ks.endpoint,
            "durations": ks.durations,
            "resolutions": ks.resolutions if ks.resolution_field else None,
            "aspects": ks.aspects if ks.aspect_field else None,
            "audio": ks.audio,
            "price": spec.price_label(res, kind),
            "usd_per_second": spec.price_per_second(res, False, kind),
            "usd_per_second_audio": spec.price_per_second(res, True, kind),
            "price_confirmed": bool(ks.price.get("confirmed", True)),
            "price_source": ks.price.get("source", ""),
            "price_checked": ks.price.get("checked", ""),
        }
    return {
        "id": spec.id,
        "name": spec.name,
        "provider": spec.provider,
        "status": spec.status,
        "default": spec.id == default,
        "durations": spec.durations,
        "resolutions": spec.resolutions,
        "aspects": spec.aspects,
        "audio": spec.audio,
        "kinds": kinds,
        "modes": model_modes(spec) if not spec.retired else [],
        "price": spec.price_label(),
        "price_confirmed": spec.price_confirmed(),
    }


def cmd_models(engine: Engine, args: argparse.Namespace) -> int:
    if getattr(args, "models_action", None) == "local":
        from .local import cmd_models_local

        return cmd_models_local(engine, args)
    default = engine.default_model()
    rows = [_model_row(s, default) for s in engine.catalog]
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Video models (prices per kind at the default resolution; * = estimate, not read on fal)")
    for col in ("id", "name", "status", "kinds", "audio", "price per kind", "modes"):
        table.add_column(col)
    for r in rows:
        status = (
            "[red]retired[/red]"
            if r["status"] == "retired"
            else ("[green]default[/green]" if r["default"] else "current")
        )
        kinds = r["kinds"]
        audios = {k["audio"] for k in kinds.values()}
        audio = (
            audios.pop() if len(audios) == 1 else " ".join(f"{KIND_SHORT[k]}:{v['audio']}" for k, v in kinds.items())
        )
        prices = "\n".join(
            f"{KIND_SHORT[k]} {v['price'].replace(' (estimate)', '').replace('/s with audio', '/s audio')}"
            + ("" if v["price_confirmed"] else " *")
            for k, v in kinds.items()
        )
        table.add_row(
            r["id"],
            escape(r["name"]),
            status,
            " ".join(KIND_SHORT[k] for k in kinds),
            audio,
            escape(prices),
            " ".join(r["modes"]) or "-",
        )
    _console().print(table)
    return EXIT_OK
