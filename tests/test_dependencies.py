"""The dependency list in pyproject is honest: what the package imports is declared, and what is declared is used."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(extra: str | None = None) -> set[str]:
    """The [project] dependencies, or with ``extra`` that optional extra's."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["optional-dependencies"][extra] if extra else project["dependencies"]
    return {_norm(re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0]) for d in deps}


# the `local` extra (torch, diffusers, ...) may be imported only by the local provider, lazily
LOCAL_EXTRA_USERS = {"src/sora_tui/core/providers/local.py"}


def _imported(folder: Path) -> dict[str, set[str]]:
    """Top-level third-party modules imported anywhere under ``folder`` (lazy imports too) -> the files."""
    out: dict[str, set[str]] = {}
    # the folder's own modules, and the test kit (bench/ drives the fakes under tests/)
    local = {p.stem for d in (folder, ROOT / "tests") for p in d.iterdir() if p.suffix == ".py" or p.is_dir()}
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "sora_tui" and top not in local:
                    out.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return out


def _distributions(modules: dict[str, set[str]]) -> dict[str, set[str]]:
    dists = packages_distributions()
    out: dict[str, set[str]] = {}
    for module, files in modules.items():
        assert module in dists, f"{module} (imported by {sorted(files)}) is not installed"
        for dist in dists[module]:
            out.setdefault(_norm(dist), set()).update(files)
    return out


def test_every_package_the_code_imports_is_declared() -> None:
    used = _distributions(_imported(ROOT / "src" / "sora_tui"))
    local = _declared("local")
    undeclared = {
        d: sorted(f) for d, f in used.items() if d not in _declared() and not (d in local and f <= LOCAL_EXTRA_USERS)
    }
    assert not undeclared, f"imported but not in [project] dependencies (or the local extra's users): {undeclared}"


# bench/ measures media.join against MoviePy in a child process, whose code is a string (no import to parse)
IN_CHILD_PROCESS = {"moviepy": ("bench/bench_media.py", "from moviepy import VideoFileClip, concatenate_videoclips")}


def test_every_declared_dependency_is_used() -> None:
    used = set(_distributions(_imported(ROOT / "src" / "sora_tui"))) | set(_distributions(_imported(ROOT / "bench")))
    for dist, (file, line) in IN_CHILD_PROCESS.items():
        if line in (ROOT / file).read_text("utf-8"):
            used.add(dist)
    assert _declared() - used == set(), "declared in pyproject but imported by neither the package nor bench/"
