"""One queue per box: the rules of who runs next, and the store rows they read and write.

Every job handed to the background (``generate --detach``, the studio, ``batch``) is a row of the
``queue`` table (store migration 6) with a position. The scheduler (core/scheduler.py) starts a
runner for the first waiting rows while the limits allow:

* jobs at once: ``settings.queue_max_jobs`` (default 5) render runners live at the same time;
* a batch's cap: a job of a batch with ``max_cost`` starts only when the batch's committed money
  (spent by its finished jobs, the estimate of its running ones) plus this job's quote stays under
  the cap; otherwise it waits as ``held: batch cap`` and later rows may pass it;
* pause: the whole queue (``queue pause``) or one job; a paused queue starts nothing, and runners
  start no new provider request (``run.JobRun`` asks ``gate`` before each submit) but finish the
  ones in flight.

Hosted requests in flight are limited per provider across every job by ``slots.py`` (a runner
waits there, and says so: "waiting for a fal slot").

A row whose runner started is kept while the runner lives (it counts against the limits) and is
dropped once the runner is gone. ``JOB_DIR/queued`` marks a job that waits in the queue, so that
``runner.display_status`` calls it ``queued`` and not ``interrupted``. Everything here is a pure
function of the store's rows and the live leases: a scheduler killed at any point and started
again takes up where it was (nothing lost, no job started twice: the job lease refuses a second
runner and a job that ran is never waiting again).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .costs import over_cap
from .errors import Code
from .models import InputError, Job, JobStatus
from .runner.files import QUEUED_FILE, RENDER
from .runner.lease import holder
from .services import EngineServices
from .store import Store

PAUSED_FLAG = "paused"

# states of a row, as the queue shows them
RUNNING, WAITING, NEXT, PAUSED, HELD = "running", "queued", "next", "paused", "held"
# what a paused row waits for (each front end says how to resume: a command, a key)
QUEUE_PAUSED, JOB_PAUSED = "the queue to resume", "the job to resume"


@dataclass
class Entry:
    """One row of the queue."""

    job_id: str
    position: float
    paused: bool = False
    batch_id: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # run options: max_cost, review_keyframes, output
    queued_at: float = 0.0
    started_at: float | None = None
    runner_pid: int | None = None
    waiting: str | None = None  # what its runner waits for now ("a fal slot", "the queue to resume")


@dataclass
class Batch:
    id: str
    name: str
    max_cost: float | None
    created_at: float
    jobs: list[str]


@dataclass(frozen=True)
class Limits:
    max_jobs: int = 5


@dataclass
class Row:
    """What the queue shows for one entry, and what the scheduler does with it."""

    entry: Entry
    job: Job
    position: int  # 1-based among the rows not running (0 for a running one)
    state: str  # running | next | queued | paused | held
    waits_for: str  # "" when nothing
    estimate: float

    @property
    def job_id(self) -> str:
        return self.entry.job_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "position": self.position or None,
            "state": self.state,
            "waits_for": self.waits_for or None,
            "estimated_cost_usd": round(self.estimate, 4),
            "cost_usd": round(self.job.cost_usd, 4),
            "batch": self.entry.batch_id,
            "paused": self.entry.paused,
            "prompt": self.job.prompt,
            "model": self.job.model,
        }


# --- rows -----------------------------------------------------------------------------------


def _entry(row: Any) -> Entry:
    try:
        options = json.loads(row["options"] or "{}")
    except ValueError:
        options = {}
    return Entry(
        job_id=row["job_id"],
        position=float(row["position"]),
        paused=bool(row["paused"]),
        batch_id=row["batch_id"],
        options=options if isinstance(options, dict) else {},
        queued_at=float(row["queued_at"]),
        started_at=row["started_at"],
        runner_pid=row["runner_pid"],
        waiting=row["waiting"],
    )


def entries(store: Store) -> list[Entry]:
    """Every row, in queue order (the first starts first)."""
    return [_entry(r) for r in store.query("SELECT * FROM queue ORDER BY position, queued_at")]


def entry(store: Store, job_id: str) -> Entry | None:
    rows = store.query("SELECT * FROM queue WHERE job_id=?", (job_id,))
    return _entry(rows[0]) if rows else None


def _mark(job: Job, queued: bool) -> None:
    if not job.folder:
        return
    path = job.job_dir / QUEUED_FILE
    if queued:
        with contextlib.suppress(OSError):
            path.write_text(f"{time.time()}\n", "utf-8")
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def is_marked(job_dir: Path) -> bool:
    return (Path(job_dir) / QUEUED_FILE).exists()


def add(
    store: Store,
    job: Job,
    *,
    options: dict[str, Any] | None = None,
    batch_id: str | None = None,
    paused: bool = False,
) -> Entry:
    """Put ``job`` at the end of the queue (its status becomes ``queued``). A job already queued
    keeps its place. The caller checks that no process runs the job (``Engine.check_idle``)."""
    if job.status is JobStatus.COMPLETED and job.output and Path(job.output).exists():
        raise InputError("job", f"job {job.id} is already complete: {job.output}")
    existing = entry(store, job.id)
    if existing is not None and existing.started_at is None:
        return existing
    with store.transaction() as db:
        top = db.execute("SELECT COALESCE(MAX(position), 0) FROM queue").fetchone()[0]
        db.execute("DELETE FROM queue WHERE job_id=?", (job.id,))  # a row left by an earlier run
        db.execute(
            "INSERT INTO queue (job_id, position, paused, batch_id, options, queued_at) VALUES (?,?,?,?,?,?)",
            (job.id, float(top) + 1, int(paused), batch_id, json.dumps(options or {}), time.time()),
        )
        db.execute(
            "UPDATE jobs SET status=?, error=NULL, updated_at=? WHERE id=?",
            (str(JobStatus.QUEUED), time.time(), job.id),
        )
    _mark(job, True)
    store.log(job.id, "queued" + (f" in batch {batch_id}" if batch_id else ""))
    found = entry(store, job.id)
    assert found is not None
    return found


def drop(store: Store, job: Job) -> None:
    """Take ``job``'s row out of the queue (the job itself stays in the history)."""
    with store.transaction() as db:
        db.execute("DELETE FROM queue WHERE job_id=?", (job.id,))
    _mark(job, False)


def mark_started(store: Store, job: Job, pid: int) -> None:
    with store.transaction() as db:
        db.execute(
            "UPDATE queue SET started_at=?, runner_pid=?, waiting=NULL WHERE job_id=?", (time.time(), pid, job.id)
        )
    _mark(job, False)


def note_waiting(store: Store, job_id: str, what: str | None) -> None:
    """What a running job waits for now (a runner's gate); no-op for a job outside the queue."""
    with store.transaction() as db:
        db.execute("UPDATE queue SET waiting=? WHERE job_id=?", (what, job_id))


# --- pause ---------------------------------------------------------------------------------


def paused_all(store: Store) -> bool:
    rows = store.query("SELECT value FROM queue_flags WHERE name=?", (PAUSED_FLAG,))
    return bool(rows) and rows[0]["value"] == "1"


def set_paused(store: Store, paused: bool, job_id: str | None = None) -> None:
    """Pause or resume the whole queue (``job_id`` None) or one queued job."""
    with store.transaction() as db:
        if job_id is None:
            db.execute(
                "INSERT INTO queue_flags (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value=excluded.value",
                (PAUSED_FLAG, "1" if paused else "0"),
            )
            return
        cur = db.execute("UPDATE queue SET paused=? WHERE job_id=?", (int(paused), job_id))
        if cur.rowcount == 0:
            raise _not_queued(job_id)


def _not_queued(job_id: str) -> InputError:
    return InputError("job", f"job {job_id} is not in the queue", code=Code.NOT_QUEUED, context={"job": job_id})


def job_paused(store: Store, job_id: str) -> str | None:
    """Why a running job must not start a new provider request now (None: it may)."""
    if paused_all(store):
        return QUEUE_PAUSED
    rows = store.query("SELECT paused FROM queue WHERE job_id=?", (job_id,))
    if rows and rows[0]["paused"]:
        return JOB_PAUSED
    return None


# --- order ---------------------------------------------------------------------------------


def move(store: Store, job_id: str, where: str) -> int:
    """Move a waiting job ``up``, ``down``, to the ``top``, ``bottom`` or to position N (1-based,
    among the rows not yet started). Returns its new position."""
    waiting = [e for e in entries(store) if e.started_at is None]
    ids = [e.job_id for e in waiting]
    if job_id not in ids:
        if entry(store, job_id) is not None:
            raise InputError("job", f"job {job_id} has started; only waiting jobs can be moved")
        raise _not_queued(job_id)
    i = ids.index(job_id)
    n = len(ids)
    where = where.strip().lower()
    if where == "up":
        target = max(0, i - 1)
    elif where == "down":
        target = min(n - 1, i + 1)
    elif where == "top":
        target = 0
    elif where == "bottom":
        target = n - 1
    else:
        try:
            k = int(where)
        except ValueError:
            raise InputError("position", f"{where!r} is not up, down, top, bottom or a position 1-{n}") from None
        if not 1 <= k <= n:
            raise InputError("position", f"{k} is outside the queue's positions 1-{n}")
        target = k - 1
    ids.insert(target, ids.pop(i))
    with store.transaction() as db:
        for pos, jid in enumerate(ids, 1):
            db.execute("UPDATE queue SET position=? WHERE job_id=?", (float(pos), jid))
    return target + 1


# --- batches ---------------------------------------------------------------------------------


def new_batch_id() -> str:
    import uuid

    return "b" + time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:4]


def create_batch(store: Store, name: str, max_cost: float | None, job_ids: Iterable[str], batch_id: str = "") -> Batch:
    batch = Batch(batch_id or new_batch_id(), name, max_cost, time.time(), list(job_ids))
    with store.transaction() as db:
        db.execute(
            "INSERT INTO batches (id, name, max_cost, created_at, jobs) VALUES (?,?,?,?,?)",
            (batch.id, batch.name, batch.max_cost, batch.created_at, json.dumps(batch.jobs)),
        )
    return batch


def _batch(row: Any) -> Batch:
    return Batch(row["id"], row["name"], row["max_cost"], row["created_at"], list(json.loads(row["jobs"] or "[]")))


def batches(store: Store) -> list[Batch]:
    return [_batch(r) for r in store.query("SELECT * FROM batches ORDER BY created_at")]


def find_batch(store: Store, ref: str) -> Batch:
    rows = store.query("SELECT * FROM batches WHERE id=?", (ref,))
    if not rows:
        rows = store.query("SELECT * FROM batches WHERE id LIKE ? ORDER BY created_at", (ref + "%",))
        if ref == "last":
            rows = store.query("SELECT * FROM batches ORDER BY created_at DESC LIMIT 1")
    if len(rows) != 1:
        what = "matches several batches; give more of the id" if rows else "is not a batch"
        problem = "ambiguous" if rows else "unknown"
        raise InputError(
            "batch", f"{ref!r} {what}", code=Code.BATCH_NOT_FOUND, context={"ref": ref, "problem": problem}
        )
    return _batch(rows[0])


@dataclass(frozen=True)
class BatchSpend:
    """A batch's money: what its jobs spent, what its running jobs may still spend, against its cap."""

    spent: float  # paid so far by every job of the batch (a request counts when accepted)
    committed: float  # spent + what running jobs may still spend (their estimates)
    cap: float | None

    def allows(self, quote: float) -> bool:
        return not over_cap(quote, self.cap, self.committed)


def batch_spend(batch: Batch, jobs: dict[str, Job], running: set[str]) -> BatchSpend:
    spent = committed = 0.0
    for jid in batch.jobs:
        job = jobs.get(jid)
        if job is None:
            continue
        spent += job.cost_usd
        committed += max(job.cost_usd, job.estimated_cost_usd) if jid in running else job.cost_usd
    return BatchSpend(round(spent, 4), round(committed, 4), batch.max_cost)


# --- the rule -------------------------------------------------------------------------------


def assess(
    rows: list[Entry],
    jobs: dict[str, Job],
    running: set[str],
    limits: Limits,
    paused: bool,
    batch_of: dict[str, Batch],
) -> list[Row]:
    """What each queue row is doing or waiting for, and which ones start now (state ``next``).

    ``running``: ids of jobs whose render runner lives now (the lease). Rows are taken in order;
    a waiting row starts while fewer than ``limits.max_jobs`` run, the queue and the row are not
    paused and its batch's cap allows its quote. A row held by its batch's cap or paused does not
    hold up the rows behind it."""
    out: list[Row] = []
    busy = len(running)
    spends = {bid: batch_spend(b, jobs, running) for bid, b in batch_of.items()}
    extra: dict[str, float] = {}  # quotes of batch jobs started in this pass
    pos = 0
    for e in rows:
        job = jobs.get(e.job_id)
        if job is None:
            continue
        estimate = max(0.0, job.estimated_cost_usd - job.cost_usd)
        if e.job_id in running:
            out.append(Row(e, job, 0, RUNNING, e.waiting or "", estimate))
            continue
        if e.started_at is not None or job.status is not JobStatus.QUEUED:
            continue  # it ran (its runner is gone) or runs elsewhere: the scheduler drops the row
        pos += 1
        if e.paused:
            out.append(Row(e, job, pos, PAUSED, JOB_PAUSED, estimate))
            continue
        if paused:
            out.append(Row(e, job, pos, PAUSED, QUEUE_PAUSED, estimate))
            continue
        batch = batch_of.get(e.batch_id or "")
        if batch is not None and batch.max_cost is not None:
            spend = spends[batch.id]
            committed = spend.committed + extra.get(batch.id, 0.0)
            if over_cap(estimate, batch.max_cost, committed):
                out.append(
                    Row(
                        e,
                        job,
                        pos,
                        HELD,
                        f"held: batch cap (${committed:.2f} spent or committed + ${estimate:.2f} "
                        f"would cross the cap of ${batch.max_cost:.2f})",
                        estimate,
                    )
                )
                continue
        if busy >= limits.max_jobs:
            out.append(
                Row(e, job, pos, WAITING, f"a free job slot ({busy} of {limits.max_jobs} jobs running)", estimate)
            )
            continue
        busy += 1
        if batch is not None:
            extra[batch.id] = extra.get(batch.id, 0.0) + estimate
        out.append(Row(e, job, pos, NEXT, "", estimate))
    return out


def runner_budget(row: Row, batch_of: dict[str, Batch], jobs: dict[str, Job], running: set[str]) -> float | None:
    """The ``max_cost`` a job of a capped batch runs under: its own estimate (the rest of the batch
    counted it so: a runner that would spend more, e.g. on a resubmit, stops instead of eating into
    what its neighbours were promised), at most what the cap leaves once the rest of the batch is
    counted, and at most the job's own cap."""
    own = row.entry.options.get("max_cost")
    batch = batch_of.get(row.entry.batch_id or "")
    if batch is None or batch.max_cost is None:
        return float(own) if own is not None else None
    others = [j for j in batch.jobs if j != row.job_id]
    rest = batch_spend(Batch(batch.id, batch.name, None, batch.created_at, others), jobs, running).committed
    left = round(batch.max_cost - rest, 4)
    budget = min(left, round(max(row.job.cost_usd, row.job.estimated_cost_usd), 4))
    return min(budget, float(own)) if own is not None else budget


@dataclass
class Snapshot:
    """The queue as it is now: its rows assessed, the batches, whether it is paused."""

    rows: list[Row]
    paused: bool
    batches: dict[str, Batch]
    jobs: dict[str, Job]
    running: set[str]

    def batch_spend(self, batch: Batch) -> BatchSpend:
        return batch_spend(batch, self.jobs, self.running)


def snapshot(store: Store, max_jobs: int, *, live: Any = None) -> Snapshot:
    """Read the queue and assess it. ``live(job) -> bool`` says whether a render runner holds the
    job now (default: the job lease, ``runner.holder``)."""

    def _live(job: Job) -> bool:
        who = holder(job.job_dir) if job.folder else None
        return who is not None and who.task == RENDER

    is_live = live or _live
    rows = entries(store)
    jobs: dict[str, Job] = {}
    for e in rows:
        job = store.get_job(e.job_id)
        if job is not None:
            jobs[job.id] = job
    all_batches = {b.id: b for b in batches(store) if any(e.batch_id == b.id for e in rows)}
    for b in all_batches.values():
        for jid in b.jobs:
            if jid not in jobs:
                job = store.get_job(jid)
                if job is not None:
                    jobs[jid] = job
    running = {e.job_id for e in rows if e.job_id in jobs and is_live(jobs[e.job_id])}
    paused = paused_all(store)
    assessed = assess(rows, jobs, running, Limits(max(1, max_jobs)), paused, all_batches)
    return Snapshot(assessed, paused, all_batches, jobs, running)


def settle(store: Store, snap: Snapshot) -> list[str]:
    """Drop the rows whose job is over: a started row whose runner is gone, a waiting row whose job
    ran elsewhere (its status is no longer ``queued``) or was deleted. Returns the dropped job ids.
    Only the scheduler calls it (under its lease)."""
    gone: list[str] = []
    for e in entries(store):
        if e.job_id in snap.running:
            continue
        job = store.get_job(e.job_id)
        if job is None:
            with store.transaction() as db:
                db.execute("DELETE FROM queue WHERE job_id=?", (e.job_id,))
        elif e.started_at is not None or job.status is not JobStatus.QUEUED:
            drop(store, job)
        else:
            continue
        gone.append(e.job_id)
    return gone


def enqueue(
    engine: EngineServices,
    job: Job,
    *,
    options: dict[str, Any] | None = None,
    batch_id: str | None = None,
    start: bool = True,
) -> Entry:
    """Queue ``job`` (no process may be running it) and start the scheduler unless one lives."""
    engine.check_idle(job)
    added = add(engine.store, job, options=options, batch_id=batch_id)
    if start:
        engine.start_queue()
    return added


def position_of(snap: Snapshot, job_id: str) -> Row | None:
    return next((r for r in snap.rows if r.job_id == job_id), None)


def describe_wait(store: Store, job_id: str, max_jobs: int) -> str:
    """One line for a job's header: where it stands in the queue and what it waits for ("" when it
    is not in the queue or waits for nothing)."""
    if entry(store, job_id) is None:
        return ""
    row = position_of(snapshot(store, max_jobs), job_id)
    if row is None:
        return ""
    if row.state == RUNNING:
        return f"waits for {row.waits_for}" if row.waits_for else ""
    where = f"queued #{row.position}"
    if row.state == HELD:
        return f"{where} · {row.waits_for}"
    if row.state == NEXT:
        return f"{where} · starting"
    return f"{where} · waits for {row.waits_for}" if row.waits_for else where
