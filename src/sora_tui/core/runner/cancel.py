"""What a cancel leaves paid: the requests in flight and what they cost (for a cancel dialog)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InFlight:
    """A provider request that was accepted (and counted as paid) but whose video has not arrived."""

    index: int  # segment
    request_id: str
    cost_usd: float
    status: str  # the segment's status: waiting / submitted / running / pending (cancelled, kept)
    cancelled: bool = False  # a cancel already asked the provider to stop it
    started: bool = False  # the provider was rendering it (a cancel may not stop it: billed)


@dataclass(frozen=True)
class CancelQuote:
    """For a cancel dialog: what the job has paid, and what requests in flight cost.

    A request's price is counted when the provider accepts it, so ``spent_usd`` already includes
    ``in_flight_usd``. Cancelling asks the provider to stop those requests: one still queued is
    dropped (not billed: a retry gives its cost back when it submits again), one that started may
    finish and be billed anyway (``at_risk_usd``). Their ids are kept, so a retry uses a finished
    request's video instead of paying again.
    """

    job_id: str
    spent_usd: float
    estimated_usd: float
    in_flight: list[InFlight]

    @property
    def in_flight_usd(self) -> float:
        return round(sum(r.cost_usd for r in self.in_flight), 4)

    @property
    def at_risk_usd(self) -> float:
        """What requests that were rendering may still cost although cancelled."""
        return round(sum(r.cost_usd for r in self.in_flight if r.started), 4)

    def summary(self) -> str:
        text = f"spent ${self.spent_usd:.2f} of an estimated ${self.estimated_usd:.2f}"
        if not self.in_flight:
            return text + "; no request is in flight"
        n = len(self.in_flight)
        segs = ", ".join(str(r.index) for r in self.in_flight)
        text += (
            f", including ${self.in_flight_usd:.2f} for {n} request{'s' if n > 1 else ''} in flight "
            f"(segment{'s' if n > 1 else ''} {segs})"
        )
        queued = [r for r in self.in_flight if not r.started]
        if queued:
            text += f"; the queued ones (${sum(r.cost_usd for r in queued):.2f}) are dropped and not billed"
        if self.at_risk_usd:
            text += (
                f"; the provider may finish those already rendering and bill them (${self.at_risk_usd:.2f}): "
                "their ids are kept, so a retry uses their videos instead of paying again"
            )
        return text
