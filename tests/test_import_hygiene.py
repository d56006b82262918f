"""The core is a library: it never imports textual or rich, and heavy modules load lazily."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = [
    "textual", "rich", "cv2", "numpy", "moviepy", "openai", "fal_client", "pydantic", "httpx",
    # the `local` extra: imported only when a local model is used (core/providers/local.py)
    "torch", "diffusers", "transformers",
]  # fmt: skip


# httpx imports its own command-line client (click, which loads rich) whenever click is installed, and
# import-linter (a lint tool in the test extra) brings click. That import is httpx's, not core's: the probe
# hides click so that what it measures is what sora_tui itself loads (the static contract is lint-imports').
HIDE_HTTPX_CLI = "import sys\nsys.modules['click'] = None\n"


def _loaded_after(code: str) -> list[str]:
    probe = HIDE_HTTPX_CLI + code + f"\nimport sys, json\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


def test_core_imports_nothing_heavy() -> None:
    assert _loaded_after("import sora_tui.core") == []


def test_engine_modules_do_not_import_ui_or_heavy_media() -> None:
    loaded = _loaded_after(
        "import sora_tui.core.engine, sora_tui.core.store, sora_tui.core.catalog, "
        "sora_tui.core.settings, sora_tui.core.keys, sora_tui.core.planner.offline, "
        "sora_tui.core.finish.stage, sora_tui.core.finish.clean"
    )
    assert loaded == []


def test_no_core_module_imports_textual_or_rich() -> None:
    code = (
        "import importlib, pkgutil, sora_tui.core as c\n"
        "for m in pkgutil.walk_packages(c.__path__, 'sora_tui.core.'):\n"
        "    importlib.import_module(m.name)\n"
    )
    loaded = _loaded_after(code)
    assert "textual" not in loaded and "rich" not in loaded


def test_cli_help_is_light() -> None:
    loaded = _loaded_after("import sora_tui.cli as c\ntry:\n    c.main(['--help'])\nexcept SystemExit:\n    pass")
    assert loaded == []


# --- the layer contracts that `make lint` enforces (pyproject's [tool.importlinter]) ---

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """Runs the real import-linter with the project's own config over the package copied under ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "src" / "sora_tui", tmp_path / "sora_tui", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_the_contracts_hold_on_the_package(package_copy: Path) -> None:
    out = _lint_imports(package_copy)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


@pytest.mark.parametrize(
    "planted",
    [
        "import textual\n",
        "def lazy():\n    from rich.text import Text\n    return Text\n",
        "from sora_tui.tui import format\n",
        "from sora_tui import cli\n",
    ],
    ids=["textual", "rich-inside-a-function", "tui", "cli"],
)
def test_a_core_module_that_imports_the_ui_breaks_the_lint(package_copy: Path, planted: str) -> None:
    (package_copy / "sora_tui" / "core" / "planted.py").write_text(planted)
    out = _lint_imports(package_copy)
    assert out.returncode != 0
    assert "BROKEN" in out.stdout and "sora_tui.core.planted" in out.stdout, out.stdout


def test_moviepy_stays_off_the_join(package_copy: Path) -> None:
    join = package_copy / "sora_tui" / "core" / "join.py"
    join.write_text(join.read_text() + "\n\ndef _slow():\n    import moviepy\n\n    return moviepy\n")
    out = _lint_imports(package_copy)
    assert out.returncode != 0 and "MoviePy stays off the join's hot path BROKEN" in out.stdout, out.stdout


# --- no import circle in the core (grimp: every import counts, TYPE_CHECKING and function-local ones too) ---

CYCLES = """
import json, sys
import grimp

graph = grimp.build_graph("sora_tui", cache_dir=None)
mods = sorted(m for m in graph.modules if m == sys.argv[1] or m.startswith(sys.argv[1] + "."))
index, low, stack, on, comps = {}, {}, [], set(), []
for root in mods:  # Tarjan's strongly connected components, iteratively
    if root in index:
        continue
    work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
    index[root] = low[root] = len(index)
    stack.append(root)
    on.add(root)
    while work:
        v, it = work[-1]
        for w in it:
            if w not in mods:
                continue
            if w not in index:
                index[w] = low[w] = len(index)
                stack.append(w)
                on.add(w)
                work.append((w, iter(sorted(graph.find_modules_directly_imported_by(w)))))
                break
            if w in on:
                low[v] = min(low[v], index[w])
        else:
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    comps.append(sorted(comp))
print(json.dumps(comps))
"""


def _import_cycles(tree: Path, package: str = "sora_tui.core") -> list[list[str]]:
    """The import circles (strongly connected components) among ``package``'s modules, read by grimp
    from the sources under ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", CYCLES, package], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    cycles: list[list[str]] = json.loads(out.stdout.strip().splitlines()[-1])
    return cycles


def test_no_import_cycle_in_the_core() -> None:
    """The core's modules import one way: no circle, however it is written (restricted to the core:
    the front ends are checked by their own tests)."""
    assert _import_cycles(ROOT / "src") == []


def test_a_planted_cycle_is_found(package_copy: Path) -> None:
    """The check above can fail: a TYPE_CHECKING import of the engine from the media module makes a circle."""
    media = package_copy / "sora_tui" / "core" / "media.py"
    media.write_text(
        media.read_text()
        + "\n\nfrom typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from .engine import Engine\n"
    )
    cycles = _import_cycles(package_copy)
    assert len(cycles) == 1
    assert {"sora_tui.core.media", "sora_tui.core.engine"} <= set(cycles[0])


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        (
            "planted.py",
            "from sora_tui.core.engine import Engine\n",
            "nothing in core imports the engine facade",
        ),
        ("seams.py", "\n\ndef _late():\n    from .runner import holder\n\n    return holder\n", "media below jobs"),
        ("providers/planted.py", "from sora_tui.core import queue\n", "providers below jobs"),
        ("services.py", "\nfrom .run import JobRun\n", "core layers"),
    ],
    ids=["engine-from-core", "media-reaches-runner", "provider-reaches-queue", "services-above-run"],
)
def test_the_core_layer_contracts_can_break(package_copy: Path, module: str, planted: str, contract: str) -> None:
    path = package_copy / "sora_tui" / "core" / module
    path.write_text((path.read_text() if path.exists() else "") + planted)
    out = _lint_imports(package_copy)
    assert out.returncode != 0
    broken = " ".join(out.stdout.split("Broken contracts")[-1].split())  # the section lists only broken ones
    assert contract in broken, out.stdout


def test_make_lint_runs_every_check() -> None:
    """The contracts and the type checks only guard anything while `make lint` (and so CI) runs them."""
    dry = subprocess.run(["make", "-n", "lint"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for step in (
        "ruff check",
        "ruff format --check",
        "mypy --strict -p sora_tui",
        "mypy --strict tests",
        "lint-imports",
    ):
        assert step in dry, f"make lint no longer runs {step!r}:\n{dry}"
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("make lint") < ci.index("make test")


LOCAL_EXTRA = ["torch", "diffusers", "transformers"]


def test_studio_and_local_model_modules_leave_torch_unloaded() -> None:
    """The studio, the CLI's local commands and the local provider's module import nothing of the
    `local` extra: torch and diffusers load only when a local model renders or is checked for a device."""
    code = (
        "import sora_tui.tui.app, sora_tui.cli.local, sora_tui.core.providers.local, sora_tui.core.gpu, "
        "sora_tui.core.localmodels\n"
        "from sora_tui.core.catalog import load_catalog\n"
        "load_catalog().get('wan2.2-ti2v-5b')\n"
        "import sora_tui.cli as c\n"
        "try:\n    c.main(['models', 'local', '--help'])\nexcept SystemExit:\n    pass\n"
    )
    probe = (
        HIDE_HTTPX_CLI
        + code
        + f"\nimport sys, json\nprint(json.dumps([m for m in {LOCAL_EXTRA!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
