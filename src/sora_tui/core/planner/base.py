"""The planner interface: a Request becomes an editable Plan of N segments."""

from __future__ import annotations

import abc
from typing import Any

from ..catalog import ModelSpec
from ..errors import Code
from ..models import Plan, Request, SegmentPlan
from ..plans import request_for


class PlannerError(Exception):
    """Planning failed; the message says why. Its ``code`` (default ``PLANNER_FAILED``: planning
    offline gets round it) and ``context`` let each front end word what to do (``--planner offline``,
    the offline planner in the form)."""

    def __init__(
        self, message: str, *, code: Code = Code.PLANNER_FAILED, context: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.context: dict[str, Any] = {"planner": "openai", **(context or {})}


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
