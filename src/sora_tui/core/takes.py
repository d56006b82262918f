"""Takes: several renders of one shot, each with its own seed, paid once each; one is kept.

Take 1 of shot K is the segment's own render (``seg_KK.mp4``, the store's row); takes 2..N are
extra calls kept in the job's ``takes.json`` (request ids written before waiting, so a resume
re-attaches instead of paying again) with files ``seg_KK_tT.mp4``. The kept take is the one the
store's row points at; ``best_take`` is the one measured rule that picks it by default.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError
from .jobfiles import seg_name, write_json_atomic

TAKES_FILE = "takes.json"
SEED_STEP = 7919  # take t of a shot draws seed + (t - 1) * SEED_STEP: distinct for every take


@dataclass
class Take:
    take: int  # 1-based
    seed: int
    status: str = "pending"  # pending | submitted | running | done | failed
    file: str | None = None
    first_frame: str | None = None
    last_frame: str | None = None
    cost_usd: float = 0.0
    request_id: str | None = None
    endpoint: str | None = None
    status_url: str | None = None
    response_url: str | None = None
    cancel_url: str | None = None
    score: list[float] = field(default_factory=list)  # the seam figures best_take compares
    cancelled_while: str | None = None  # a stop asked the provider to cancel it: "queued" | "running"
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Take:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


def take_seed(seed: int, take: int) -> int:
    return (int(seed) + (take - 1) * SEED_STEP) % (2**31 - 1) or 1


def take_file(job_dir: Path, index: int, take: int, suffix: str = ".mp4") -> Path:
    if take == 1:
        return Path(job_dir) / seg_name(index, suffix)
    return Path(job_dir) / seg_name(index, f"_t{take}{suffix}")


class TakeBook:
    """The takes of a job's shots (``takes.json``) and which one each shot keeps."""

    def __init__(self, job_dir: Path) -> None:
        self.path = Path(job_dir) / TAKES_FILE
        self.shots: dict[int, list[Take]] = {}
        self.kept: dict[int, int] = {}
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text("utf-8"))
            except (OSError, ValueError) as exc:
                raise InputError("takes", f"{self.path} cannot be read ({exc})") from None
            self.shots = {int(k): [Take.from_dict(t) for t in v] for k, v in data.get("shots", {}).items()}
            self.kept = {int(k): int(v) for k, v in data.get("kept", {}).items()}

    def save(self) -> None:
        write_json_atomic(
            self.path,
            {
                "shots": {str(k): [t.to_dict() for t in v] for k, v in sorted(self.shots.items())},
                "kept": {str(k): v for k, v in sorted(self.kept.items())},
            },
        )

    def takes(self, index: int) -> list[Take]:
        return self.shots.get(index, [])

    def get(self, index: int, take: int) -> Take | None:
        return next((t for t in self.takes(index) if t.take == take), None)

    def put(self, index: int, take: Take) -> None:
        rows = [t for t in self.takes(index) if t.take != take.take] + [take]
        self.shots[index] = sorted(rows, key=lambda t: t.take)

    def forget(self, index: int) -> None:
        self.shots.pop(index, None)
        self.kept.pop(index, None)


def take_score(fade_frames: int, drift_de: float, repeat_left: bool) -> list[float]:
    """The seam figures of a take, worst first: a doubled conditioning frame, a faded tail (the
    next shot would start on it), then how far its colour drifts from its first to its last
    picture (what the next hand-off inherits). Lower is better."""
    return [1.0 if repeat_left else 0.0, float(fade_frames), round(float(drift_de), 3)]


def best_take(takes: list[Take]) -> Take:
    """The take kept by default: the best seam figures (ties: the earliest take)."""
    done = [t for t in takes if t.status == "done" and t.file]
    if not done:
        raise ValueError("no finished take to choose from")
    return min(done, key=lambda t: (t.score or [float("inf")], t.take))
