"""SQLite (WAL) history of jobs, segments and log lines, with schema migrations.

One short transaction per write, so a SIGKILL at any moment leaves a consistent
database: a provider request id is committed before the pipeline waits on it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .models import Job, JobStatus, Mode, Plan, Segment, SegmentStatus

SCHEMA_VERSION = 8

_MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            prompt TEXT NOT NULL,
            model TEXT NOT NULL,
            mode TEXT NOT NULL,
            status TEXT NOT NULL,
            plan TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            output TEXT,
            error TEXT,
            cost_usd REAL NOT NULL DEFAULT 0,
            estimated_cost_usd REAL NOT NULL DEFAULT 0,
            duration_s REAL,
            folder TEXT
        )""",
        """CREATE TABLE segments (
            job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            prompt TEXT NOT NULL,
            seconds INTEGER NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL,
            request_id TEXT,
            status_url TEXT,
            response_url TEXT,
            cancel_url TEXT,
            endpoint TEXT,
            file TEXT,
            first_frame TEXT,
            last_frame TEXT,
            cost_usd REAL NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            submits INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            started_at REAL,
            finished_at REAL,
            PRIMARY KEY (job_id, idx)
        )""",
        """CREATE TABLE logs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            ts REAL NOT NULL,
            level TEXT NOT NULL,
            seg INTEGER,
            message TEXT NOT NULL
        )""",
        "CREATE INDEX logs_job ON logs(job_id, id)",
        "CREATE INDEX jobs_created ON jobs(created_at)",
    ],
    2: [
        # keyframe mode: one row per boundary image (0..N)
        """CREATE TABLE keyframes (
            job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            prompt TEXT NOT NULL,
            status TEXT NOT NULL,
            file TEXT,
            source TEXT NOT NULL DEFAULT 'generated',
            request_id TEXT,
            cost_usd REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (job_id, idx)
        )""",
    ],
    3: [
        # seamless joins: the seam report of a job; a segment's own seed (a redo draws a fresh one)
        "ALTER TABLE jobs ADD COLUMN seams TEXT",
        "ALTER TABLE segments ADD COLUMN seed INTEGER",
    ],
    4: [
        # finishing stage: one row per file it made (finished versions, exports, posters)
        """CREATE TABLE outputs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            path TEXT NOT NULL,
            size_bytes INTEGER NOT NULL DEFAULT 0,
            duration_s REAL,
            created_at REAL NOT NULL,
            removed_at REAL,
            note TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX outputs_job ON outputs(job_id, id)",
        # narration: one row per segment line; what it cost stays counted when it is made again
        """CREATE TABLE narration (
            job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            text TEXT NOT NULL,
            voice TEXT NOT NULL,
            file TEXT,
            seconds REAL,
            cost_usd REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (job_id, idx)
        )""",
    ],
    5: [
        # cancel keeps a segment's request (a retry re-attaches to it first): when it was cancelled
        "ALTER TABLE segments ADD COLUMN cancelled_at REAL",
        "ALTER TABLE segments ADD COLUMN cancelled_while TEXT",  # queued | running: what the cancel stopped
    ],
    6: [
        # the queue (core/queue.py): one row per job waiting for (or started by) the scheduler
        """CREATE TABLE queue (
            job_id TEXT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
            position REAL NOT NULL,
            paused INTEGER NOT NULL DEFAULT 0,
            batch_id TEXT,
            options TEXT NOT NULL DEFAULT '{}',
            queued_at REAL NOT NULL,
            started_at REAL,
            runner_pid INTEGER,
            waiting TEXT
        )""",
        "CREATE INDEX queue_position ON queue(position)",
        """CREATE TABLE batches (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            max_cost REAL,
            created_at REAL NOT NULL,
            jobs TEXT NOT NULL DEFAULT '[]'
        )""",
        "CREATE TABLE queue_flags (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ],
    7: [
        # a local model's render: the seconds it held the GPU (history and board show it; $0 per render)
        "ALTER TABLE segments ADD COLUMN gpu_seconds REAL",
    ],
    8: [
        # a failed job's error as data: its errors.Code and the code's facts (JSON), so each front end
        # words what to do from them instead of reading (or rewriting) the stored message
        "ALTER TABLE jobs ADD COLUMN error_code TEXT",
        "ALTER TABLE jobs ADD COLUMN error_context TEXT",
    ],
}

_SEGMENT_COLUMNS = {
    "index": "idx",
}

# the columns update_job/update_segment may set: every field of the row's dataclass but its key. Column names
# cannot be bound as SQL parameters, so a name from **changes reaches the SQL text only through this check.
_JOB_UPDATABLE = frozenset(f.name for f in fields(Job)) - {"id"}
_SEGMENT_UPDATABLE = frozenset(f.name for f in fields(Segment)) - {"job_id", "index"}
_SEGMENT_COUNTERS = frozenset({"attempts", "submits"})


def _check_columns(table: str, names: Iterable[str], allowed: frozenset[str]) -> None:
    unknown = sorted(set(names) - allowed)
    if unknown:
        raise ValueError(f"cannot update {table} column(s) {', '.join(map(repr, unknown))}")


def like_pattern(text: str, prefix: bool = False) -> str:
    """A LIKE pattern (used with ``ESCAPE '\\'``) that matches ``text`` literally: anywhere in the value,
    or at its start with ``prefix``; ``%`` and ``_`` typed by the user match only themselves."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%" if prefix else f"%{escaped}%"


class StoreError(Exception):
    pass


@dataclass
class Keyframe:
    job_id: str
    index: int
    prompt: str
    status: str = "pending"  # pending | done | failed
    file: str | None = None
    source: str = "generated"  # generated | user
    request_id: str | None = None
    cost_usd: float = 0.0


@dataclass
class OutputRecord:
    """A file the finishing stage made: kind "finish" (a finished version), "export" or "poster"."""

    id: int
    job_id: str
    kind: str
    name: str  # the version ("v2") or the preset ("web-720p")
    path: str
    size_bytes: int
    duration_s: float | None
    created_at: float
    removed_at: float | None = None
    note: str = ""


@dataclass
class NarrationRecord:
    job_id: str
    index: int
    text: str
    voice: str  # provider/model/voice: the same text with the same voice is never paid for twice
    file: str | None = None
    seconds: float | None = None
    cost_usd: float = 0.0


@dataclass
class LogRecord:
    ts: float
    level: str
    message: str
    index: int | None = None


def new_job_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]


class Store:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.OperationalError as exc:  # a full or read-only disk: say which, no traceback
            raise self._os_fault(exc) from None
        self._migrate()

    # --- plumbing -----------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if self._db.in_transaction:  # a COMMIT that failed (disk full) leaves it open
                    with suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise self._os_fault(exc) from None

    def _os_fault(self, exc: sqlite3.OperationalError) -> Exception:
        """A write the disk refused, as the error a user can act on (DiskFull names the folder and
        what is free); other operational errors (a lock held too long) are raised as they are."""
        from .errors import DiskFull, FileProblem, is_space_error

        code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF  # the primary code of an extended one
        if is_space_error(exc):
            return DiskFull(self.path, detail="the history database could not be written")
        if code == sqlite3.SQLITE_READONLY or "readonly database" in str(exc):
            return FileProblem(self.path, "the history database is read-only")
        if code == sqlite3.SQLITE_IOERR or "disk I/O error" in str(exc):
            return FileProblem(self.path, "disk I/O error writing the history database")
        return exc

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer sora-tui (schema {version} > {SCHEMA_VERSION}); upgrade sora-tui"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self._tx() as db:
                for stmt in _MIGRATIONS[target]:
                    db.execute(stmt)
                db.execute(f"PRAGMA user_version={target}")

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE … COMMIT) for modules that own their tables (core/queue.py)."""
        return self._tx()

    def query(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Rows of one read (for modules that own their tables)."""
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    @property
    def schema_version(self) -> int:
        version: int = self._db.execute("PRAGMA user_version").fetchone()[0]
        return version

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- jobs ---------------------------------------------------------------------

    def create_job(self, job: Job, segments: list[Segment]) -> None:
        with self._tx() as db:
            db.execute(
                """INSERT INTO jobs (id, prompt, model, mode, status, plan, created_at, updated_at, output, error,
                   cost_usd, estimated_cost_usd, duration_s, folder) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                (
                    job.id,
                    job.prompt,
                    job.model,
                    str(job.mode),
                    str(job.status),
                    json.dumps(job.plan.to_dict()) if job.plan else None,
                    job.created_at,
                    job.updated_at,
                    job.output,
                    job.error,
                    job.cost_usd,
                    job.estimated_cost_usd,
                    job.duration_s,
                    job.folder,
                ),
            )
            for seg in segments:
                self._insert_segment(db, seg)

    def _insert_segment(self, db: sqlite3.Connection, seg: Segment) -> None:
        cols = [f.name for f in fields(Segment)]
        db.execute(
            f"INSERT INTO segments ({', '.join(_SEGMENT_COLUMNS.get(c, c) for c in cols)}) "
            f"VALUES ({', '.join('?' for _ in cols)})",
            [str(v) if isinstance(v, SegmentStatus) else v for v in (getattr(seg, c) for c in cols)],
        )

    def update_job(self, job_id: str, **changes: Any) -> None:
        if not changes:
            return
        _check_columns("jobs", changes, _JOB_UPDATABLE)
        changes["updated_at"] = time.time()
        if "plan" in changes and isinstance(changes["plan"], Plan):
            changes["plan"] = json.dumps(changes["plan"].to_dict())
        if "seams" in changes and changes["seams"] is not None:
            changes["seams"] = json.dumps(changes["seams"])
        if "error" in changes and "error_code" not in changes:  # a new error (or none) drops the old code
            changes["error_code"], changes["error_context"] = None, None
        if changes.get("error_context") is not None:
            changes["error_context"] = json.dumps(changes["error_context"], default=str)
        if changes.get("error_code") is not None:
            changes["error_code"] = str(changes["error_code"])
        for key in ("status", "mode"):
            if key in changes:
                changes[key] = str(changes[key])
        cols = ", ".join(f"{k}=?" for k in changes)
        with self._tx() as db:
            db.execute(f"UPDATE jobs SET {cols} WHERE id=?", [*changes.values(), job_id])

    def replace_segments(self, job_id: str, segments: list[Segment]) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM segments WHERE job_id=?", (job_id,))
            for seg in segments:
                self._insert_segment(db, seg)

    def _job(self, row: sqlite3.Row) -> Job:
        plan = Plan.from_dict(json.loads(row["plan"])) if row["plan"] else None
        return Job(
            id=row["id"],
            prompt=row["prompt"],
            model=row["model"],
            mode=Mode(row["mode"]),
            status=JobStatus(row["status"]),
            plan=plan,
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            output=row["output"],
            error=row["error"],
            cost_usd=row["cost_usd"],
            estimated_cost_usd=row["estimated_cost_usd"],
            duration_s=row["duration_s"],
            folder=row["folder"],
            seams=json.loads(row["seams"]) if row["seams"] else None,
            error_code=row["error_code"],
            error_context=json.loads(row["error_context"]) if row["error_context"] else None,
        )

    def get_job(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return self._job(row) if row else None

    def find_job(self, ref: str) -> Job | None:
        """A job by id, unique id prefix, or ``last``."""
        with self._lock:
            if ref == "last":
                row = self._db.execute("SELECT * FROM jobs ORDER BY created_at DESC LIMIT 1").fetchone()
                return self._job(row) if row else None
            row = self._db.execute("SELECT * FROM jobs WHERE id=?", (ref,)).fetchone()
            if row:
                return self._job(row)
            rows = self._db.execute(
                "SELECT * FROM jobs WHERE id LIKE ? ESCAPE '\\' LIMIT 2", (like_pattern(ref, prefix=True),)
            ).fetchall()
        return self._job(rows[0]) if len(rows) == 1 else None

    def list_jobs(self, search: str = "", status: str | None = None, limit: int = 500) -> list[Job]:
        sql = "SELECT * FROM jobs WHERE 1=1"
        args: list[Any] = []
        if search:
            sql += " AND (prompt LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\' OR model LIKE ? ESCAPE '\\')"
            args += [like_pattern(search)] * 3
        if status:
            sql += " AND status=?"
            args.append(status)
        sql += " ORDER BY created_at DESC LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [self._job(r) for r in rows]

    def delete_job(self, job_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM jobs WHERE id=?", (job_id,))

    # --- segments -----------------------------------------------------------------

    def _segment(self, row: sqlite3.Row) -> Segment:
        data = {f.name: row[_SEGMENT_COLUMNS.get(f.name, f.name)] for f in fields(Segment)}
        data["status"] = SegmentStatus(data["status"])
        return Segment(**data)

    def segments(self, job_id: str) -> list[Segment]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM segments WHERE job_id=? ORDER BY idx", (job_id,)).fetchall()
        return [self._segment(r) for r in rows]

    def segment(self, job_id: str, index: int) -> Segment:
        with self._lock:
            row = self._db.execute("SELECT * FROM segments WHERE job_id=? AND idx=?", (job_id, index)).fetchone()
        if row is None:
            raise StoreError(f"job {job_id} has no segment {index}")
        return self._segment(row)

    def update_segment(self, job_id: str, index: int, **changes: Any) -> None:
        if not changes:
            return
        _check_columns("segments", changes, _SEGMENT_UPDATABLE)
        if "status" in changes:
            changes["status"] = str(changes["status"])
        cols = ", ".join(f"{_SEGMENT_COLUMNS.get(k, k)}=?" for k in changes)
        with self._tx() as db:
            db.execute(f"UPDATE segments SET {cols} WHERE job_id=? AND idx=?", [*changes.values(), job_id, index])

    def increment_segment(self, job_id: str, index: int, column: str, by: int = 1) -> None:
        _check_columns("segments", [column], _SEGMENT_COUNTERS)
        with self._tx() as db:
            db.execute(f"UPDATE segments SET {column}={column}+? WHERE job_id=? AND idx=?", (by, job_id, index))

    # --- keyframes ----------------------------------------------------------------

    def keyframes(self, job_id: str) -> list[Keyframe]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM keyframes WHERE job_id=? ORDER BY idx", (job_id,)).fetchall()
        return [
            Keyframe(
                job_id=r["job_id"],
                index=r["idx"],
                prompt=r["prompt"],
                status=r["status"],
                file=r["file"],
                source=r["source"],
                request_id=r["request_id"],
                cost_usd=r["cost_usd"],
            )
            for r in rows
        ]

    def upsert_keyframe(self, kf: Keyframe) -> None:
        with self._tx() as db:
            db.execute(
                """INSERT INTO keyframes (job_id, idx, prompt, status, file, source, request_id, cost_usd)
                   VALUES (?,?,?,?,?,?,?,?)
                   ON CONFLICT(job_id, idx) DO UPDATE SET prompt=excluded.prompt, status=excluded.status,
                   file=excluded.file, source=excluded.source, request_id=excluded.request_id,
                   cost_usd=excluded.cost_usd""",
                (kf.job_id, kf.index, kf.prompt, kf.status, kf.file, kf.source, kf.request_id, kf.cost_usd),
            )

    # --- logs ---------------------------------------------------------------------

    def log(self, job_id: str, message: str, level: str = "info", index: int | None = None) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO logs (job_id, ts, level, seg, message) VALUES (?,?,?,?,?)",
                (job_id, time.time(), level, index, message),
            )

    def logs(self, job_id: str, limit: int = 10_000, tail: int | None = None) -> list[LogRecord]:
        """Log lines of a job, oldest first; ``tail`` keeps only the newest ``tail`` lines."""
        with self._lock:
            if tail is not None:
                rows = self._db.execute(
                    "SELECT * FROM (SELECT id, ts, level, seg, message FROM logs WHERE job_id=? "
                    "ORDER BY id DESC LIMIT ?) ORDER BY id",
                    (job_id, tail),
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT ts, level, seg, message FROM logs WHERE job_id=? ORDER BY id LIMIT ?", (job_id, limit)
                ).fetchall()
        return [LogRecord(ts=r["ts"], level=r["level"], message=r["message"], index=r["seg"]) for r in rows]

    # --- finishing: outputs and narration ----------------------------------------------

    def add_output(
        self, job_id: str, kind: str, name: str, path: str, size_bytes: int, duration_s: float | None, note: str = ""
    ) -> int:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO outputs (job_id, kind, name, path, size_bytes, duration_s, created_at, note) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (job_id, kind, name, path, size_bytes, duration_s, time.time(), note),
            )
            return int(cur.lastrowid or 0)

    def outputs(self, job_id: str, include_removed: bool = False) -> list[OutputRecord]:
        sql = "SELECT * FROM outputs WHERE job_id=?" + ("" if include_removed else " AND removed_at IS NULL")
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id", (job_id,)).fetchall()
        return [OutputRecord(**{k: r[k] for k in r.keys()}) for r in rows]

    def mark_output_removed(self, output_id: int, note: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE outputs SET removed_at=?, note=? WHERE id=?", (time.time(), note, output_id))

    def narration(self, job_id: str) -> list[NarrationRecord]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM narration WHERE job_id=? ORDER BY idx", (job_id,)).fetchall()
        return [
            NarrationRecord(r["job_id"], r["idx"], r["text"], r["voice"], r["file"], r["seconds"], r["cost_usd"])
            for r in rows
        ]

    def upsert_narration(self, rec: NarrationRecord) -> None:
        with self._tx() as db:
            db.execute(
                """INSERT INTO narration (job_id, idx, text, voice, file, seconds, cost_usd) VALUES (?,?,?,?,?,?,?)
                   ON CONFLICT(job_id, idx) DO UPDATE SET text=excluded.text, voice=excluded.voice,
                   file=excluded.file, seconds=excluded.seconds, cost_usd=excluded.cost_usd""",
                (rec.job_id, rec.index, rec.text, rec.voice, rec.file, rec.seconds, rec.cost_usd),
            )

    def finishing_cost(self, job_id: str) -> float:
        """What the finishing stage has spent on this job (speech)."""
        with self._lock:
            row = self._db.execute("SELECT COALESCE(SUM(cost_usd), 0) FROM narration WHERE job_id=?", (job_id,))
            return float(row.fetchone()[0])
