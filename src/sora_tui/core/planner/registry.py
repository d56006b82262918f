"""The planners by name: ``get_planner`` builds the one called ``name`` (``PLANNERS`` lists them).

Above the planners themselves (they import ``base``, never this module), so that the interface
(``base``), the planners and the plan rules they use (``core.plans``) import one way only."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import InputError
from ..settings import Settings
from . import PLANNERS
from .base import Planner
from .offline import OfflinePlanner
from .openai import OpenAIPlanner


def get_planner(name: str, *, settings: Settings | None = None, env: Mapping[str, str] | None = None) -> Planner:
    """The planner called ``name``; ``settings`` and ``env`` (its key and endpoint) matter to "openai" only."""
    if name == "offline":
        return OfflinePlanner()
    if name == "openai":
        return OpenAIPlanner(settings=settings, env=env)
    raise InputError("planner", f"unknown planner {name!r}", list(PLANNERS))


def planner_for(name: str, settings: Settings, env: Mapping[str, str]) -> Planner:
    """The planner called ``name`` (the openai one reads its model, URL and key from settings and env)."""
    if name == "openai":
        return get_planner(name, settings=settings, env=env)
    return get_planner(name)
