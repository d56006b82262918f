"""The core is a library: it never imports textual or rich, and heavy modules load lazily."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["textual", "rich", "cv2", "numpy", "moviepy", "openai", "fal_client", "pydantic", "httpx"]


def _loaded_after(code: str) -> list[str]:
    probe = code + f"\nimport sys, json\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_core_imports_nothing_heavy():
    assert _loaded_after("import sora_tui.core") == []


def test_engine_modules_do_not_import_ui_or_heavy_media():
    loaded = _loaded_after(
        "import sora_tui.core.engine, sora_tui.core.store, sora_tui.core.catalog, "
        "sora_tui.core.settings, sora_tui.core.keys, sora_tui.core.planner.offline, "
        "sora_tui.core.finish.stage, sora_tui.core.finish.clean"
    )
    assert loaded == []


def test_no_core_module_imports_textual_or_rich():
    code = (
        "import importlib, pkgutil, sora_tui.core as c\n"
        "for m in pkgutil.walk_packages(c.__path__, 'sora_tui.core.'):\n"
        "    importlib.import_module(m.name)\n"
    )
    loaded = _loaded_after(code)
    assert "textual" not in loaded and "rich" not in loaded


def test_cli_help_is_light():
    loaded = _loaded_after("import sora_tui.cli as c\ntry:\n    c.main(['--help'])\nexcept SystemExit:\n    pass")
    assert loaded == []
