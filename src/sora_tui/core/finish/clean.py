"""Clean-up of finished jobs: remove intermediate files, never a final or a kept export.

Only completed jobs whose last change is older than the cut-off are touched, and never one
that is being finished or exported (its lock is held). What is removed, by ``keep``:

- both: hand-off PNGs (``seg_NN_first.png``, ``seg_NN_last.png``), the join's caches of each segment
  (its seam analysis ``.seg_NN.seam.npz`` and its decoded sound ``.seg_NN.sound-*.f32``), files kept
  for inspection (``*.bad.mp4``), temporary files (hidden ``.*.tmp*`` / ``.*.part``), the finishing stage's work
  folders, and files in ``exports/`` that no kept export owns (replaced or unfinished exports);
- ``finals`` (the default) also: segment videos, keyframe images, narration clips that cost nothing
  to make again (paid speech stays) and superseded finished versions, so that a job keeps only ``plan.json``, the joined video, its newest finished
  version (with its subtitles) and its exports;
- ``all`` keeps all of those.

The history stays: each job's log says what was removed and how much space it freed, and
removed versions stay listed as removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..models import InputError, JobStatus

if TYPE_CHECKING:
    from ..services import EngineServices as Engine

KEEP_CHOICES = ("finals", "all")
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 86400, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """``7d``, ``24h``, ``90m``, ``2w``, ``0`` → seconds (a bare number is days)."""
    m = _AGE.match(text or "")
    if not m:
        raise InputError("older-than", f"{text!r} is not an age such as 7d, 24h or 30m")
    return float(m.group(1)) * _UNITS[m.group(2)]


@dataclass(frozen=True)
class CleanItem:
    job_id: str
    path: Path
    size: int
    reason: str


@dataclass
class CleanReport:
    items: list[CleanItem] = field(default_factory=list)
    jobs_checked: int = 0
    dry_run: bool = True
    skipped: list[str] = field(default_factory=list)  # jobs busy being finished

    @property
    def freed_bytes(self) -> int:
        return sum(i.size for i in self.items)

    def by_job(self) -> dict[str, list[CleanItem]]:
        out: dict[str, list[CleanItem]] = {}
        for item in self.items:
            out.setdefault(item.job_id, []).append(item)
        return out


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _busy(folder: Path) -> bool:
    lock = folder / ".finish.lock"
    if not lock.exists():
        return False
    with open(lock, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


def _job_items(engine: Engine, job_id: str, folder: Path, keep: str) -> list[CleanItem]:
    store = engine.store
    job = store.get_job(job_id)
    assert job is not None
    outputs = store.outputs(job_id)
    versions = [o for o in outputs if o.kind == "finish" and Path(o.path).is_file()]
    latest = Path(versions[-1].path) if versions else None
    protected: set[Path] = {folder / "plan.json", folder / "final.mp4", folder / "seams.json", folder / ".finish.lock"}
    if job.output:
        protected.add(Path(job.output))
    if latest is not None:
        protected |= {latest, latest.with_suffix(".srt"), latest.with_suffix(".vtt")}
    kept_dirs: set[Path] = set()
    for o in outputs:
        if o.kind in ("export", "poster"):
            main = Path(o.path)
            protected |= {main, main.with_suffix(".srt"), main.with_suffix(".vtt")}  # with its subtitles
            if main.suffix == ".m3u8":
                kept_dirs.add(main.parent)  # HLS: the renditions' playlists and segments
    items: list[CleanItem] = []

    def add(path: Path, reason: str) -> None:
        if path in protected or not path.exists():
            return
        items.append(CleanItem(job_id, path, _size(path), reason))

    for path in sorted(folder.iterdir()):
        name = path.name
        if path.is_dir():
            if name in (".finish-work",) or name.endswith(".partial"):
                add(path, "unfinished work")
            continue
        if re.fullmatch(r"seg_\d+_(first|last)\.png", name):
            add(path, "hand-off frame")
        elif ".bad." in name:
            add(path, "bad download kept for inspection")
        elif name.startswith(".") and (".tmp" in name or name.endswith(".part")):
            add(path, "temporary file")
        elif re.fullmatch(r"\.seg_\d+\.(seam\.npz|sound-[\d-]+\.f32)", name):
            add(path, "join cache (made again from its segment if it is joined again)")
        elif keep == "finals":
            if re.fullmatch(r"seg_\d+\.mp4", name):
                add(path, "segment video")
            elif re.fullmatch(r"kf_\d+\.png", name):
                add(path, "keyframe image")
            elif re.fullmatch(r"finished_v\d+\.(mp4|srt|vtt)", name):
                add(path, "superseded finished version")
    if keep == "finals" and (folder / "narration").is_dir():
        # paid speech stays: finishing again must not pay for it twice
        paid = {Path(r.file) for r in store.narration(job_id) if r.file and r.cost_usd > 0}
        for path in sorted((folder / "narration").iterdir()):
            if path not in paid:
                add(path, "narration clip")
    exports = folder / "exports"
    if exports.is_dir():
        for path in sorted(exports.rglob("*")):
            if not path.is_file() or path in protected:
                continue
            temp = path.name.startswith(".") or any(part.endswith(".partial") for part in path.parts)
            if temp or not any(d == path.parent or d in path.parents for d in kept_dirs):
                add(path, "temporary or replaced export")
    return items


def plan_clean(
    engine: Engine, older_than_s: float = 7 * 86400, keep: str = "finals", now: float | None = None
) -> CleanReport:
    """What a clean-up would remove (nothing is touched)."""
    if keep not in KEEP_CHOICES:
        raise InputError("keep", f"unknown choice {keep!r}", list(KEEP_CHOICES))
    now = time.time() if now is None else now
    report = CleanReport()
    for job in engine.store.list_jobs(status=str(JobStatus.COMPLETED), limit=100_000):
        last = max([job.updated_at] + [o.created_at for o in engine.store.outputs(job.id)])
        if now - last < older_than_s or not job.folder or not Path(job.folder).is_dir():
            continue
        report.jobs_checked += 1
        folder = Path(job.folder)
        if _busy(folder):
            report.skipped.append(job.id)
            continue
        report.items += _job_items(engine, job.id, folder, keep)
    return report


def apply_clean(engine: Engine, report: CleanReport) -> CleanReport:
    """Remove what ``report`` lists; log it in each job's history."""
    from ..reach import human_size

    done: list[CleanItem] = []
    for job_id, items in report.by_job().items():
        removed = []
        for item in items:
            with contextlib.suppress(OSError):
                if item.path.is_dir():
                    shutil.rmtree(item.path)
                else:
                    item.path.unlink()
            if not item.path.exists():
                removed.append(item)
        for o in engine.store.outputs(job_id):
            if any(Path(o.path) == r.path for r in removed):
                engine.store.mark_output_removed(
                    o.id, f"clean-up: {next(r.reason for r in removed if r.path == Path(o.path))}"
                )
        if removed:
            kinds: dict[str, int] = {}
            for r in removed:
                kinds[r.reason] = kinds.get(r.reason, 0) + 1
            summary = ", ".join(f"{n} {reason}{'s' if n > 1 else ''}" for reason, n in kinds.items())
            engine.store.log(
                job_id, f"clean-up removed {len(removed)} files ({human_size(sum(r.size for r in removed))}): {summary}"
            )
        done += removed
    return CleanReport(done, report.jobs_checked, dry_run=False, skipped=report.skipped)


def auto_clean(engine: Engine) -> CleanReport | None:
    """The clean-up at start that the ``auto_clean_days`` setting asks for (None when it is off)."""
    days = engine.settings.auto_clean_days
    if days <= 0:
        return None
    keep = engine.settings.auto_clean_keep if engine.settings.auto_clean_keep in KEEP_CHOICES else "finals"
    return apply_clean(engine, plan_clean(engine, days * 86400, keep))
