"""The planner interface: a Request becomes an editable Plan of N segments."""

from __future__ import annotations

import abc

from ..catalog import ModelSpec
from ..models import Plan, Request, SegmentPlan
from ..plans import request_for


class PlannerError(Exception):
    """Planning failed; the message says why and what to do."""


class Planner(abc.ABC):
    name = "planner"

    @abc.abstractmethod
    async def plan(self, req: Request, spec: ModelSpec) -> Plan:
        """Plan ``req.segments`` segments of ``req.seconds`` each (req is already resolved)."""

    async def replan_segment(self, plan: Plan, index: int, spec: ModelSpec) -> SegmentPlan:
        """A new version of segment ``index`` (1-based) that fits between its neighbours."""
        req = request_for(plan, index)
        fresh = await self.plan(req, spec)
        new = fresh.segments[index - 1]
        new.seconds = plan.segments[index - 1].seconds
        return new
