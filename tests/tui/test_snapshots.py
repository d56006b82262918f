"""SVG snapshots of every screen with the fixed demo history, frozen clock and no cursor blink.

Update with ``pytest tests/tui/test_snapshots.py --snapshot-update`` after a deliberate change.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .demo import SCREENS, SIZE, demo_app, demo_home

pytestmark = pytest.mark.usefixtures("demo_home_lock")


@pytest.fixture(autouse=True)
def _fixed_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")


@pytest.mark.parametrize("name", list(SCREENS))
def test_screen_snapshot(name: str, snap_compare: Callable[..., bool]) -> None:
    app = demo_app(demo_home(name))  # its own folder (the app has its own frozen clock and time zone)
    assert snap_compare(app, terminal_size=SIZE, run_before=SCREENS[name])
