"""The planner interface: a Request becomes an editable Plan of N segments."""

from __future__ import annotations

import abc
from collections.abc import Mapping

from ..catalog import ModelSpec
from ..models import Plan, Request, SegmentPlan
from ..settings import Settings
from . import PLANNERS


class PlannerError(Exception):
    """Planning failed; the message says why and what to do (e.g. use --planner offline)."""


class Planner(abc.ABC):
    name = "planner"

    @abc.abstractmethod
    async def plan(self, req: Request, spec: ModelSpec) -> Plan:
        """Plan ``req.segments`` segments of ``req.seconds`` each (req is already resolved)."""

    async def replan_segment(self, plan: Plan, index: int, spec: ModelSpec) -> SegmentPlan:
        """A new version of segment ``index`` (1-based) that fits between its neighbours."""
        from ..plans import request_for

        req = request_for(plan, index)
        fresh = await self.plan(req, spec)
        new = fresh.segments[index - 1]
        new.seconds = plan.segments[index - 1].seconds
        return new


def get_planner(name: str, *, settings: Settings | None = None, env: Mapping[str, str] | None = None) -> Planner:
    """The planner called ``name``; ``settings`` and ``env`` (its key and endpoint) matter to "openai" only."""
    if name == "offline":
        from .offline import OfflinePlanner

        return OfflinePlanner()
    if name == "openai":
        from .openai import OpenAIPlanner

        return OpenAIPlanner(settings=settings, env=env)
    from ..models import InputError

    raise InputError("planner", f"unknown planner {name!r}", list(PLANNERS))
