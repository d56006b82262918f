"""A full disk: the pre-flight estimate, ENOSPC at each write of a run, resume once space is freed.

Space runs out through write wrappers that raise ENOSPC at chosen points (the download's file,
a seam cache, the join's ffmpeg, the history's SQLite): deterministic, no privileges, no real
small file system. Each run must end ``failed`` naming the disk ("disk full at <path>: <free>
free"), keep every finished segment, and a resume after the wrapper is gone must finish without
a second paid submit.
"""

from __future__ import annotations

import errno
import io
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from fakes.fal_server import FalFake
from sora_tui.cli.advice import cli_advice
from sora_tui.core import disk, media, seams
from sora_tui.core.engine import Engine
from sora_tui.core.errors import (
    Code,
    DiskFull,
    FileProblem,
    JobFailed,
    describe_os_error,
    is_space_error,
    os_failure,
)
from sora_tui.core.models import InputError, Job, JobStatus, Mode, Request, SegmentStatus
from sora_tui.core.providers import fal as fal_mod

PROMPT = "A paper boat drifts down a rainy street at dusk"
ROOT = Path(__file__).resolve().parents[1]


def _enospc(path: Any = None) -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", str(path) if path is not None else None)


def fal_engine(fake: FalFake, home: Path) -> Engine:
    return Engine(
        env={
            "SORA_TUI_HOME": str(home),
            **fake.env(),
            "SORA_TUI_RETRY_BASE_DELAY": "0.01",
            "SORA_TUI_RETRY_MAX_DELAY": "0.05",
            "SORA_TUI_POLL_INTERVAL": "0.05",
            "SORA_TUI_MAX_RETRIES": "3",
        }
    )


async def fal_job(engine: Engine, segments: int = 3) -> Job:
    req = engine.resolve(
        Request(prompt=PROMPT, segments=segments, seconds=4, model="veo3.1-fast", mode=Mode.CHAIN, audio=False)
    )
    return engine.create_job(await engine.plan(req))


async def preview_job(engine: Engine, segments: int = 3, seconds: int = 1) -> Job:
    req = engine.resolve(Request(prompt=PROMPT, segments=segments, seconds=seconds, model="preview", resolution="180p"))
    return engine.create_job(await engine.plan(req))


def assert_failed_on_disk(engine: Engine, job_id: str, info: pytest.ExceptionInfo[InputError], where: str) -> str:
    """The run raised InputError(disk), the job is failed, and history, log and message name the path."""
    assert info.value.field == "disk" and info.value.code is Code.DISK_FULL
    text = str(info.value)
    assert "disk full at " in text and where in text and " free" in text, text
    assert "finished segments are kept" in text
    assert cli_advice(info.value) == f"; `sora-tui resume {job_id}` carries on once it is fixed"  # the CLI's words
    job = engine.find_job(job_id)
    assert job.status is JobStatus.FAILED
    assert job.error and "disk full at " in job.error and where in job.error
    assert any("disk full at " in r.message and r.level == "error" for r in engine.store.logs(job_id))
    return text


def kept(engine: Engine, job_id: str) -> list[int]:
    """Indexes of segments that are done and whose file is still there."""
    return [
        s.index
        for s in engine.store.segments(job_id)
        if s.status is SegmentStatus.DONE and s.file and Path(s.file).is_file()
    ]


# --- error mapping ------------------------------------------------------------------------


def test_os_errors_the_project_can_name(tmp_path: Path) -> None:
    full = os_failure(_enospc(tmp_path / "seg_01.mp4"))
    assert isinstance(full, DiskFull) and full.path == tmp_path / "seg_01.mp4"
    assert str(full).startswith(f"disk full at {tmp_path / 'seg_01.mp4'}: ") and str(full).endswith(" free")
    assert full.free == shutil.disk_usage(tmp_path).free or full.free > 0
    quota = os_failure(OSError(errno.EDQUOT, "Disk quota exceeded"), tmp_path)
    assert isinstance(quota, DiskFull)
    for code, words in [
        (errno.EACCES, "permission denied"),
        (errno.EROFS, "read-only file system"),
        (errno.ENOENT, "no such file or folder"),
        (errno.EPERM, "not permitted"),
    ]:
        exc = os_failure(OSError(code, "x", str(tmp_path / "gone")))
        assert isinstance(exc, FileProblem) and str(exc) == f"{words}: {tmp_path / 'gone'}"
        assert describe_os_error(OSError(code, "x", str(tmp_path))) == f"{words}: {tmp_path}"
    other = os_failure(OSError(errno.EXDEV, "Invalid cross-device link"), tmp_path)
    assert type(other) is JobFailed and "cross-device" in str(other)
    assert is_space_error(sqlite3.OperationalError("database or disk is full"))
    assert not is_space_error(sqlite3.OperationalError("database is locked"))


def test_disk_full_names_what_is_free(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 1234567, 1234567))
    assert (
        str(DiskFull(tmp_path / "nope" / "deeper" / "x.mp4"))
        == f"disk full at {tmp_path}/nope/deeper/x.mp4: 1.2 MB free"
    )


def test_store_names_a_full_disk(tmp_path: Path) -> None:
    from sora_tui.core.store import Store

    store = Store(tmp_path / "h.sqlite")
    real = store._db

    class Full:
        """The connection as SQLite behaves on a full disk: every write statement fails."""

        in_transaction = False

        def execute(self, sql: str, *args: Any) -> Any:
            if sql.startswith(("INSERT", "UPDATE")):
                raise sqlite3.OperationalError("database or disk is full")
            return real.execute(sql, *args)

    store._db = Full()  # type: ignore[assignment]
    with pytest.raises(DiskFull) as info:
        store.log("job", "a line")
    assert f"disk full at {tmp_path / 'h.sqlite'}: " in str(info.value)
    store._db = real
    store.close()


# --- the estimate and the pre-flight check -------------------------------------------------


async def test_estimate_covers_a_real_preview_job_and_grows_with_the_job(home: Path) -> None:
    """The estimate is at least what a finished preview job wrote (measured), and not absurdly more."""
    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    job = await preview_job(engine, segments=3, seconds=2)
    plan = job.plan
    assert plan is not None
    spec = engine.catalog.get(plan.model)
    need = disk.disk_need(plan, spec)
    done = await engine.run(job.id)
    await engine.aclose()
    assert done.status is JobStatus.COMPLETED, done.error
    written = sum(p.stat().st_size for p in done.job_dir.iterdir() if p.is_file())
    assert need.total >= written, (need.describe(), written)
    assert need.total <= 40 * written + disk.STORE_BYTES, (need.describe(), written)
    # a finished job needs nothing for its segments any more; a longer or sharper one needs more
    left = disk.disk_need(plan, spec, engine.store.segments(job.id))
    assert left.segments == 0 and left.seam_caches == 0 and left.total < need.total
    longer = plan.__class__.from_dict({**plan.to_dict(), "resolution": "720p"})
    assert disk.disk_need(longer, spec).total > need.total
    extend = plan.__class__.from_dict({**plan.to_dict(), "mode": "extend"})
    assert disk.disk_need(extend, spec).segments > need.segments


async def test_preflight_refuses_a_job_that_does_not_fit_before_any_submit(
    fal_fake: FalFake, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = fal_engine(fal_fake, home)
    job = await fal_job(engine)
    plan = job.plan
    assert plan is not None
    spec = engine.catalog.get(plan.model)
    need = disk.measure(plan, spec, job.job_dir).required
    free = need - 1
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**12, 10**12 - free, free))
    with pytest.raises(InputError) as info:
        await engine.run(job.id)
    assert info.value.code is Code.DISK_SPACE and info.value.field == "disk"
    assert info.value.context["need"] == need and info.value.context["free"] == free
    text = str(info.value)
    from sora_tui.core.reach import human_size

    assert "not enough free space" in text and f"this job needs {human_size(need)}: about " in text
    assert f"{human_size(free)} is free at {job.job_dir}" in text
    failed = engine.find_job(job.id)
    assert failed.status is JobStatus.FAILED and "not enough free space" in (failed.error or "")
    assert fal_fake.submits == []  # nothing paid
    # a hook a scheduler can hold a job on, without an error
    assert disk.measure(plan, spec, job.job_dir).fits is False
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**12, 10**12 - need, need))
    assert disk.measure(plan, spec, job.job_dir).fits is True
    await engine.aclose()


# --- ENOSPC during a run ------------------------------------------------------------------


async def test_download_runs_out_of_space_then_resume_pays_nothing_twice(
    fal_fake: FalFake, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Segment 2's download meets a full disk after 1000 bytes: failed, disk named, segment 1 kept,
    the request kept; with space again the resume downloads it without submitting again."""
    real_open = open

    class FullFile(io.RawIOBase):
        def __init__(self, fh: Any) -> None:
            self.fh, self.n = fh, 0

        def write(self, data: Any) -> int:
            if self.n + len(data) > 1000:
                raise _enospc()
            self.n += len(data)
            return int(self.fh.write(data))

        def __enter__(self) -> FullFile:
            return self

        def __exit__(self, *exc: object) -> None:
            self.fh.close()

    def full_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        fh = real_open(path, mode, *args, **kwargs)
        return FullFile(fh) if "seg_02" in str(path) and ("w" in mode or "a" in mode) else fh

    monkeypatch.setattr(fal_mod, "open", full_open, raising=False)
    engine = fal_engine(fal_fake, home)
    job = await fal_job(engine)
    with pytest.raises(InputError) as info:
        await engine.run(job.id)
    assert_failed_on_disk(engine, job.id, info, "seg_02")
    assert kept(engine, job.id) == [1]
    seg2 = engine.store.segment(job.id, 2)
    assert seg2.request_id and seg2.status is not SegmentStatus.FAILED  # paid for: kept to re-attach to
    assert len(fal_fake.submits) == 2
    monkeypatch.undo()  # space freed
    done = await engine.run(job.id)
    await engine.aclose()
    assert done.status is JobStatus.COMPLETED, done.error
    assert len(fal_fake.submits) == 3  # segment 3 only: segment 2's request was re-attached to
    assert [s.submits for s in engine.store.segments(job.id)] == [1, 1, 1]
    assert done.output is not None and media.probe(done.output).duration > 11


async def test_seam_cache_runs_out_of_space(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = open

    def full_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if ".seg_02.seam" in str(path) and "w" in mode:
            raise _enospc(path)
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(media, "open", full_open, raising=False)
    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    job = await preview_job(engine)
    with pytest.raises(InputError) as info:
        await engine.run(job.id)
    assert_failed_on_disk(engine, job.id, info, ".seg_02.seam")
    assert kept(engine, job.id) == [1]
    assert engine.store.segment(job.id, 2).status is SegmentStatus.DOWNLOADED  # delivered, finished on resume
    monkeypatch.undo()
    done = await engine.run(job.id)
    await engine.aclose()
    assert done.status is JobStatus.COMPLETED, done.error
    assert [s.submits for s in engine.store.segments(job.id)] == [1, 1, 1]
    assert seams.cache_path(Path(engine.store.segment(job.id, 2).file or "")).is_file()


async def test_join_runs_out_of_space(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The join's ffmpeg dies with ENOSPC writing the final video (a wrapper around the real ffmpeg)."""
    real = media.ffmpeg_exe()
    fake = tmp_path / "ffmpeg"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$*" in *final.tmp*) ;; *) exec "' + real + '" "$@";; esac\n'
        'for last; do :; done\nprintf "partial" > "$last"\n'
        'echo "[out#0/mp4 @ 0x1] Error writing trailer: No space left on device" >&2\nexit 1\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    job = await preview_job(engine)
    monkeypatch.setattr(media, "ffmpeg_exe", lambda: str(fake))
    with pytest.raises(InputError) as info:
        await engine.run(job.id)
    assert_failed_on_disk(engine, job.id, info, "final")
    assert kept(engine, job.id) == [1, 2, 3]
    assert not list(job.job_dir.glob(".final*"))  # no partial output left taking space
    monkeypatch.undo()
    done = await engine.run(job.id)
    await engine.aclose()
    assert done.status is JobStatus.COMPLETED, done.error
    assert [s.submits for s in engine.store.segments(job.id)] == [1, 1, 1]


async def test_history_runs_out_of_space_in_emit_cost(fal_fake: FalFake, home: Path) -> None:
    """The write the issue saw fail: the cost update after segment 2's submit. Its request id was
    committed just before: the resume re-attaches to it (no second submit on the fal fake)."""
    engine = fal_engine(fal_fake, home)
    job = await fal_job(engine)
    real = engine.store._db
    armed = {"left": 2}  # the 2nd cost update (segment 2 submitted) meets a full disk

    class FullOnce:
        @property
        def in_transaction(self) -> bool:
            return real.in_transaction

        def execute(self, sql: str, *args: Any) -> Any:
            if sql.startswith("UPDATE jobs SET cost_usd=") and armed["left"] > 0:
                armed["left"] -= 1
                if armed["left"] == 0:
                    raise sqlite3.OperationalError("database or disk is full")
            return real.execute(sql, *args)

    engine.store._db = FullOnce()  # type: ignore[assignment]
    with pytest.raises(InputError) as info:
        await engine.run(job.id)
    assert_failed_on_disk(engine, job.id, info, str(engine.store.path))
    assert kept(engine, job.id) == [1]
    assert engine.store.segment(job.id, 2).request_id
    assert len(fal_fake.submits) == 2
    engine.store._db = real  # space freed
    done = await engine.run(job.id)
    await engine.aclose()
    assert done.status is JobStatus.COMPLETED, done.error
    assert len(fal_fake.submits) == 3
    assert [s.submits for s in engine.store.segments(job.id)] == [1, 1, 1]


# --- the command line: no traceback ---------------------------------------------------------

DRIVER = """
import errno, shutil, sqlite3, sys
from sora_tui import cli
from sora_tui.core import store

fault = sys.argv[1]
if fault == "store":
    real_update = store.Store.update_job
    def update_job(self, job_id, **changes):
        if "cost_usd" in changes and changes.get("status") is None:
            raise store.Store._os_fault(self, sqlite3.OperationalError("database or disk is full"))
        return real_update(self, job_id, **changes)
    store.Store.update_job = update_job
elif fault == "small":
    shutil.disk_usage = lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 5000, 5000)
elif fault == "eacces":
    def refuse(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", "/srv/data/jobs")
    store.Store.create_job = refuse
sys.exit(cli.main(sys.argv[2:]))
"""


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("store", "disk full at "),
        ("small", "not enough free space"),
        ("eacces", "permission denied: /srv/data/jobs"),
    ],
)
def test_cli_words_disk_faults_without_a_traceback(
    cli_env: dict[str, str], tmp_path: Path, fault: str, words: str
) -> None:
    driver = tmp_path / "driver.py"
    driver.write_text(textwrap.dedent(DRIVER))
    args = ["generate", PROMPT, "--model", "preview", "--segments", "3", "--seconds", "1", "--yes"]
    args += ["--resolution", "180p"]
    res = subprocess.run(
        [sys.executable, str(driver), fault, *args],
        env={**cli_env, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert res.returncode in (1, 2), (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout, res.stderr
    assert words in res.stderr, res.stderr
    if fault == "small":
        assert "free some space" in res.stderr


async def test_a_full_disk_keeps_the_paid_request_and_says_why_through_the_reserve(
    fal_fake: FalFake, home: Path
) -> None:
    """From segment 2's submit on, the disk is full: every history write fails, except a few once the
    space reserve next to the database is freed. The paid request's id and the failure still land in
    history; the resume re-attaches to the request and the reserve is made again."""
    engine = fal_engine(fal_fake, home)
    job = await fal_job(engine)
    real = engine.store._db
    reserve = engine.store.path.parent / disk.RESERVE_FILE
    state = {"armed": True, "granted": 5}

    class FullDisk:
        @property
        def in_transaction(self) -> bool:
            return real.in_transaction

        def execute(self, sql: str, *args: Any) -> Any:
            write = sql.startswith(("INSERT", "UPDATE", "DELETE"))
            if write and state["armed"] and len(fal_fake.submits) >= 2:
                if reserve.exists() or state["granted"] <= 0:
                    raise sqlite3.OperationalError("database or disk is full")
                state["granted"] -= 1  # the space the reserve gave back
            return real.execute(sql, *args)

    engine.store._db = FullDisk()  # type: ignore[assignment]
    with pytest.raises(InputError) as info:
        await engine.run(job.id)
    assert not reserve.exists()
    assert_failed_on_disk(engine, job.id, info, str(engine.store.path))
    seg2 = engine.store.segment(job.id, 2)
    assert seg2.request_id and seg2.status is SegmentStatus.SUBMITTED
    assert len(fal_fake.submits) == 2 and kept(engine, job.id) == [1]
    state["armed"] = False  # space freed
    engine.store._db = real
    done = await engine.run(job.id)
    await engine.aclose()
    assert done.status is JobStatus.COMPLETED, done.error
    assert len(fal_fake.submits) == 3 and [s.submits for s in engine.store.segments(job.id)] == [1, 1, 1]
    assert reserve.stat().st_size == disk.RESERVE_BYTES


async def test_preview_render_runs_out_of_space(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's case: the offline renderer's ffmpeg (a child process) meets a full disk writing
    segment 2. Failed naming the disk, segment 1 kept; the resume renders segment 2 on the same request."""
    real = media.ffmpeg_exe()
    flag = tmp_path / "full"
    flag.touch()
    fake = tmp_path / "ffmpeg"
    fake.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *pipe:0*) if [ -e "{flag}" ] && [ -e "{flag}.armed" ]; then '
        'echo "Error writing trailer: No space left on device" >&2; exit 1; fi;; esac\n'
        f'exec "{real}" "$@"\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(fake))  # the renderer child's ffmpeg
    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    job = await preview_job(engine)

    def arm_after_segment_1(event: Any) -> None:
        if getattr(event, "index", None) == 1 and str(getattr(event, "status", "")) == "done":
            Path(f"{flag}.armed").touch()

    with pytest.raises(InputError) as info:
        await engine.run(job.id, arm_after_segment_1)
    assert_failed_on_disk(engine, job.id, info, str(engine.paths.cache_dir / "preview"))
    assert kept(engine, job.id) == [1]
    rid = engine.store.segment(job.id, 2).request_id
    assert rid
    flag.unlink()  # space freed
    done = await engine.run(job.id)
    await engine.aclose()
    assert done.status is JobStatus.COMPLETED, done.error
    assert engine.store.segment(job.id, 2).submits == 1
