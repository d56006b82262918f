"""The cast library: named characters, objects, places and styles with reference pictures.

A member is a name, a kind (``character`` | ``object`` | ``place`` | ``style``), a description
and 1-4 reference pictures. The library keeps its own copies of the pictures in the data
folder (``<data>/cast/<slug>/ref_1.png`` …, written as PNG after decoding, so a moved or
edited original never breaks a job) and a ``member.json`` beside them.

A plan's ``cast`` names library members or carries inline members with their own pictures;
``resolve_cast`` turns it into members with picture files, and ``snapshot_cast`` copies those
into the job's folder (``<job>/cast/…`` + ``cast.json``), so redo and resume never depend on
the library changing afterwards.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import Code, InputError
from .jobfiles import check_image_file, write_json_atomic
from .models import CAST_KINDS, MAX_CAST_PICTURES, CastMember, Plan

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.'-]{0,39}$")
MEMBER_FILE = "member.json"
JOB_CAST_FILE = "cast.json"
NAME_RULE = "1-40 letters, digits, spaces, '_', '-', '.' or an apostrophe, starting with a letter or digit"


def slug(name: str) -> str:
    """The folder name of a member: lower case, spaces and odd characters as ``-``."""
    return re.sub(r"[^a-z0-9_.-]+", "-", name.strip().lower()).strip("-.") or "member"


def check_name(name: str, field: str = "name") -> str:
    name = (name or "").strip()
    if not NAME_RE.match(name):
        raise InputError(field, f"{name!r} is not a usable member name; use {NAME_RULE}")
    return name


def check_kind(kind: str, field: str = "kind") -> str:
    if kind not in CAST_KINDS:
        raise InputError(field, f"unknown kind {kind!r}", list(CAST_KINDS))
    return kind


def check_pictures(images: list[str | Path], field: str = "images") -> list[Path]:
    """1-4 readable pictures (each decoded), as absolute paths; InputError naming the bad one."""
    if not images:
        raise InputError(field, "give at least one reference picture", [f"1-{MAX_CAST_PICTURES} pictures"])
    if len(images) > MAX_CAST_PICTURES:
        raise InputError(
            field,
            f"{len(images)} pictures given; a member has at most {MAX_CAST_PICTURES}",
            [f"1-{MAX_CAST_PICTURES} pictures"],
        )
    out = []
    for k, image in enumerate(images, 1):
        out.append(Path(check_image_file(image, f"{field}[{k}]", decode=True)))
    return out


def _write_picture(src: Path, dest: Path) -> None:
    """``src`` as the PNG ``dest`` (decoded and written, atomically)."""
    from . import media

    media.write_png(media.read_image(src), dest)


def _copy_pictures(sources: list[Path], folder: Path) -> list[str]:
    """Each picture decoded and written as ``ref_K.png`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for k, src in enumerate(sources, 1):
        dest = folder / f"ref_{k}.png"
        _write_picture(src, dest)
        out.append(str(dest))
    return out


@dataclass
class LibraryMember:
    """A member as the library keeps it (pictures are the library's own copies)."""

    member: CastMember
    folder: Path
    created_at: float

    @property
    def name(self) -> str:
        return self.member.name

    def to_dict(self) -> dict[str, Any]:
        return {**self.member.to_dict(), "images": list(self.member.images), "created_at": self.created_at}


class CastLibrary:
    """The members kept under ``<data dir>/cast``; names match without case."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _folder(self, name: str) -> Path:
        return self.root / slug(name)

    def members(self) -> list[LibraryMember]:
        out: list[LibraryMember] = []
        if not self.root.is_dir():
            return out
        for member_file in sorted(self.root.glob(f"*/{MEMBER_FILE}")):
            found = self._read(member_file)
            if found is not None:
                out.append(found)
        return sorted(out, key=lambda m: m.name.lower())

    def _read(self, member_file: Path) -> LibraryMember | None:
        import json

        try:
            data = json.loads(member_file.read_text("utf-8"))
            member = CastMember.from_dict(data, "member")
        except (OSError, ValueError):
            return None
        folder = member_file.parent
        member.images = [str(folder / Path(p).name) for p in member.images]
        return LibraryMember(member, folder, float(data.get("created_at") or 0.0))

    def find(self, name: str) -> LibraryMember | None:
        member_file = self._folder(name) / MEMBER_FILE
        if not member_file.is_file():
            return None
        found = self._read(member_file)
        if found is None or found.name.lower() != name.strip().lower():
            return None
        return found

    def get(self, name: str, field: str = "cast") -> LibraryMember:
        found = self.find(name)
        if found is None:
            raise InputError(
                field,
                f"no member {name!r} in the cast library",
                [m.name for m in self.members()] or None,
                code=Code.INVALID,
            )
        return found

    def add(
        self,
        name: str,
        images: list[str | Path],
        kind: str = "character",
        description: str = "",
        *,
        replace: bool = False,
    ) -> LibraryMember:
        """Add a member (its pictures checked and copied); ``replace`` overwrites one of that name."""
        name = check_name(name)
        kind = check_kind(kind)
        sources = check_pictures(images)
        folder = self._folder(name)
        if (folder / MEMBER_FILE).exists() and not replace:
            raise InputError("name", f"a member called {name!r} exists already; remove it first or pick another name")
        tmp = folder.with_name(f".{folder.name}.new")
        shutil.rmtree(tmp, ignore_errors=True)
        copies = _copy_pictures(sources, tmp)
        member = CastMember(
            name=name, kind=kind, description=description.strip(), images=[Path(c).name for c in copies]
        )
        created = time.time()
        write_json_atomic(tmp / MEMBER_FILE, {**member.to_dict(), "created_at": created})
        old = folder.with_name(f".{folder.name}.old")
        if folder.exists():
            shutil.rmtree(old, ignore_errors=True)
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
        found = self.find(name)
        assert found is not None
        return found

    def remove(self, name: str) -> LibraryMember:
        found = self.get(name, "name")
        shutil.rmtree(found.folder)
        return found


def library_for(data_dir: Path) -> CastLibrary:
    return CastLibrary(Path(data_dir) / "cast")


def resolve_cast(plan: Plan, library: CastLibrary | None, *, names: list[str] | None = None) -> list[CastMember]:
    """The plan's cast as members with readable picture files (library names looked up, inline
    pictures checked); InputError naming ``plan.cast[K]`` for an unknown name or a bad picture."""
    out = []
    for i, entry in enumerate(plan.cast, 1):
        where = f"plan.cast[{i}]"
        if names is not None and entry.name not in names:
            continue
        if entry.images:
            pictures = check_pictures(list(entry.images), f"{where}.images")
            out.append(CastMember(entry.name, entry.kind, entry.description, [str(p) for p in pictures]))
            continue
        if library is None:
            raise InputError(f"{where}.images", f"{entry.name!r} has no pictures and there is no cast library")
        found = library.get(entry.name, f"{where}.name")
        missing = [p for p in found.member.images if not Path(p).is_file()]
        if missing:
            raise InputError(
                f"{where}.name", f"the library's picture {missing[0]} of {entry.name!r} is gone; add it again"
            )
        out.append(
            CastMember(
                found.name,
                found.member.kind,
                entry.description or found.member.description,
                list(found.member.images),
            )
        )
    return out


def snapshot_cast(members: list[CastMember], job_dir: Path) -> list[CastMember]:
    """Copy the members' pictures into ``<job>/cast/<slug>/`` and write ``cast.json``; returns
    the members as the job keeps them (pictures in the job's folder)."""
    root = Path(job_dir) / "cast"
    out = []
    for member in members:
        folder = root / slug(member.name)
        folder.mkdir(parents=True, exist_ok=True)
        pictures = []
        for k, src in enumerate(member.images, 1):
            dest = folder / f"ref_{k}.png"
            if Path(src).resolve() != dest.resolve():
                _write_picture(Path(src), dest)
            pictures.append(str(dest))
        out.append(CastMember(member.name, member.kind, member.description, pictures))
    write_json_atomic(Path(job_dir) / JOB_CAST_FILE, {"members": [m.to_dict() for m in out]})
    return out


def job_cast(job_dir: Path) -> list[CastMember]:
    """The members a job keeps (``cast.json``); [] for a job without a cast."""
    import json

    path = Path(job_dir) / JOB_CAST_FILE
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError("cast", f"{path} cannot be read ({exc}); the job's cast snapshot is damaged") from None
    return [CastMember.from_dict(m, "cast") for m in data.get("members", [])]


def shot_members(plan: Plan, members: list[CastMember], index: int) -> list[CastMember]:
    """The members shot ``index`` (1-based) names, in its order."""
    by_name = {m.name.lower(): m for m in members}
    return [by_name[n.lower()] for n in plan.segments[index - 1].cast if n.lower() in by_name]
