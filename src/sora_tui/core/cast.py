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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import Code, InputError
from .jobfiles import check_image_file, write_json_atomic
from .models import CAST_KINDS, MAX_CAST_PICTURES, CastMember, Plan

if TYPE_CHECKING:
    from .catalog import Catalog, ImageModelSpec
    from .providers.base import Provider

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


# --- reference sheets made with the image model (``cast generate``) --------------------------

SHEET_DIR = ".sheets"  # unfinished sheets under the library: request ids and delivered pictures
SHEET_FILE = "sheet.json"
DESCRIPTION_MAX = 2000
# the pictures of a sheet, per kind: what each one shows (a character: front and three-quarter)
SHEET_VIEWS: dict[str, tuple[str, ...]] = {
    "character": (
        "front view, full figure, facing the camera",
        "three-quarter view, full figure, turned slightly to the left",
    ),
    "object": ("front view, the whole object centred", "three-quarter view from slightly above, the whole object"),
    "place": ("wide establishing view",),
    "style": ("one frame that shows the look: palette, light, texture and lens",),
}
# (fal aspect, preview width, preview height) per kind
SHEET_FRAME: dict[str, tuple[str, int, int]] = {
    "character": ("1:1", 512, 512),
    "object": ("1:1", 512, 512),
    "place": ("16:9", 640, 360),
    "style": ("16:9", 640, 360),
}


def sheet_prompt(name: str, kind: str, description: str, view: str) -> str:
    """The image model's prompt for one picture of a member's reference sheet."""
    what = {"character": "a character", "object": "an object", "place": "a place", "style": "a visual style"}[kind]
    plain = "" if kind in ("place", "style") else " Plain neutral background, even soft light, nothing else in frame."
    return f"Reference picture of {what} called {name}: {description}. {view[0].upper()}{view[1:]}.{plain}"


def image_models_for_sheets(catalog: Catalog) -> list[ImageModelSpec]:
    """The image models a sheet can be made with (current, fal or the offline preview)."""
    return [m for m in catalog.image_models.values() if m.status != "retired" and m.provider in ("fal", "preview")]


def pick_sheet_model(catalog: Catalog, model: str | None, has_fal_key: bool) -> ImageModelSpec:
    """``model`` (an image model id; ``preview`` means the offline one) or the default: the first
    fal image model with a fal key, else the offline preview. InputError naming ``--model``."""
    usable = image_models_for_sheets(catalog)
    allowed = [m.id for m in usable] + ["preview"]
    if model:
        wanted = model.strip()
        for m in usable:
            if m.id == wanted or (wanted == "preview" and m.provider == "preview"):
                return m
        raise InputError("--model", f"unknown image model {model!r}", allowed)
    provider = "fal" if has_fal_key else "preview"
    for m in usable:
        if m.provider == provider:
            return m
    raise InputError("--model", "no image model to make a reference sheet with", allowed)


@dataclass
class SheetView:
    """One picture of a sheet: its prompt, its request (stored before waiting) and its file."""

    prompt: str
    request: dict[str, Any] | None = None  # Submission fields once submitted
    file: str = ""  # the delivered picture (in the sheet's folder)

    @property
    def delivered(self) -> bool:
        return bool(self.file) and Path(self.file).is_file()


@dataclass
class Sheet:
    """A reference sheet to make (or being made): kept in ``<library>/.sheets/<slug>/sheet.json``."""

    name: str
    kind: str
    description: str
    model: ImageModelSpec
    views: list[SheetView]
    folder: Path

    @property
    def price_each(self) -> float:
        return float(self.model.price_per_image)

    @property
    def to_pay(self) -> int:
        """Pictures not yet asked for (a stored request is paid already and never asked again)."""
        return sum(1 for v in self.views if v.request is None and not v.delivered)

    @property
    def cost(self) -> float:
        return round(self.to_pay * self.price_each, 4)

    @property
    def resumed(self) -> bool:
        return any(v.request is not None or v.delivered for v in self.views)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "model": self.model.id,
            "views": [{"prompt": v.prompt, "request": v.request, "file": v.file} for v in self.views],
        }

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.folder / SHEET_FILE, self.to_dict())


def plan_sheet(
    library: CastLibrary,
    catalog: Catalog,
    name: str,
    description: str,
    kind: str = "character",
    model: str | None = None,
    *,
    has_fal_key: bool = False,
) -> Sheet:
    """What ``cast generate`` will make and pay: checks every input first (InputError naming the
    field and the allowed values; nothing asked of any service). An unfinished sheet of the same
    member (a failure after paying) is picked up: its stored requests are not paid again."""
    name = check_name(name, "name")
    kind = check_kind(kind, "--kind")
    description = " ".join((description or "").split())
    if not description:
        raise InputError("--description", "is empty; describe the member, e.g. 'a courier in a red coat, short hair'")
    if len(description) > DESCRIPTION_MAX:
        raise InputError("--description", f"is {len(description)} characters; at most {DESCRIPTION_MAX}")
    if (library.root / slug(name) / MEMBER_FILE).exists():
        raise InputError(
            "name",
            f"a member called {name!r} exists already; remove it first or pick another name",
            code=Code.CAST_EXISTS,
            context={"name": name},
        )
    spec = pick_sheet_model(catalog, model, has_fal_key)
    folder = library.root / SHEET_DIR / slug(name)
    old = read_sheet(folder, catalog)
    if old is not None and old.resumed:
        if (old.kind, old.description, old.model.id) != (kind, description, spec.id):
            raise InputError(
                "--description",
                f"an unfinished sheet of {name!r} ({old.kind}, {old.model.id}: {old.description!r}) has pictures "
                "paid for already; ask again with that description, kind and model to finish it, or drop it",
                code=Code.SHEET_UNFINISHED,
                context={"name": name},
            )
        return old
    views = [SheetView(sheet_prompt(name, kind, description, v)) for v in SHEET_VIEWS[kind]]
    return Sheet(name, kind, description, spec, views, folder)


def read_sheet(folder: Path, catalog: Catalog) -> Sheet | None:
    import json

    path = folder / SHEET_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text("utf-8"))
        spec = catalog.image_models[str(data["model"])]
        views = [SheetView(str(v["prompt"]), v.get("request"), str(v.get("file") or "")) for v in data["views"]]
        return Sheet(str(data["name"]), str(data["kind"]), str(data["description"]), spec, views, folder)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def drop_sheet(library: CastLibrary, name: str) -> bool:
    """Remove an unfinished sheet of ``name`` (its stored requests and pictures); False if none."""
    folder = library.root / SHEET_DIR / slug(name)
    if not folder.exists():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True


async def make_sheet(sheet: Sheet, provider: Provider, library: CastLibrary) -> LibraryMember:
    """Ask the image model for each picture not yet asked for (each request id stored before
    waiting), wait for all, download them, and add the member with those pictures to the library.

    A failure keeps what was delivered and every stored request: the same command again
    re-attaches to them (nothing paid twice); a request the service reports failed (not billed)
    is asked again then. Raises JobFailed naming what happened and what was kept."""
    import asyncio

    from .errors import JobFailed
    from .jobfiles import image_problem
    from .providers.base import BadResult, ImageRequest, ProviderError, RequestNotFound, Submission, TransientError

    aspect, width, height = SHEET_FRAME[sheet.kind]
    sheet.save()

    def request(k: int, view: SheetView) -> ImageRequest:
        return ImageRequest(
            endpoint=sheet.model.t2i,
            prompt=view.prompt,
            width=width,
            height=height,
            aspect=aspect,
            seed=k,
            label=f"{sheet.name} {k}",
        )

    subs: dict[int, Submission | None] = {}
    failed: list[BaseException] = []
    for k, view in enumerate(sheet.views, 1):  # asked for one by one, in order; each stored at once
        if view.delivered:
            continue
        if view.request:
            subs[k] = Submission(**view.request)
            continue
        try:
            sub = await provider.submit_image(request(k, view))
        except ProviderError as exc:  # refused at submit: not paid; the others still come
            failed.append(exc)
            continue
        subs[k] = sub
        if sub is not None:
            view.request = asdict(sub)
            sheet.save()  # the paid request is on disk before waiting on it

    async def one(k: int, sub: Submission | None) -> None:
        view = sheet.views[k - 1]
        dest = sheet.folder / f"view_{k}.png"
        try:
            await provider.fetch_image(sub, request(k, view), dest)
        except (TransientError, RequestNotFound, BadResult):
            raise  # the request stays stored: the next try fetches its result again
        except ProviderError:
            view.request = None  # the service reports it failed (not billed): the next try asks again
            sheet.save()
            raise
        problem = image_problem(dest, True)
        if problem is not None:  # delivered but not a picture: kept stored, fetched again next time
            dest.unlink(missing_ok=True)
            raise BadResult(f"picture {k} of the sheet is not usable ({problem})")
        view.file = str(dest)
        sheet.save()

    results = await asyncio.gather(*(one(k, sub) for k, sub in subs.items()), return_exceptions=True)
    errors = failed + [r for r in results if isinstance(r, BaseException)]
    for r in errors:
        if not isinstance(r, Exception):
            raise r  # cancelled / interrupted: what is stored stays for the next try
    if errors:
        got = sum(1 for v in sheet.views if v.delivered)
        first = errors[0]
        if not isinstance(first, ProviderError | OSError):
            raise first
        raise JobFailed(
            f"the reference sheet of {sheet.name!r} failed ({first}); {got} of {len(sheet.views)} picture(s) "
            f"delivered and kept in {sheet.folder}: asking again finishes it (nothing delivered or still queued "
            "is paid again), or drop the unfinished sheet",
            code=Code.SHEET_FAILED,
            context={"name": sheet.name},
        )
    member = library.add(sheet.name, [v.file for v in sheet.views], sheet.kind, sheet.description)
    shutil.rmtree(sheet.folder, ignore_errors=True)
    return member
