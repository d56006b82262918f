"""Outside text is shown as text (issue 10, item 5): a provider error with ``[/`` and a path with
``[word]`` in the History detail and a toast, on the fixed demo history. Run under the snapshot lock
(``flock /tmp/snapshots.lock``); its demo history has its own folder (``demo_home``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from .demo import SIZE, demo_app, demo_home, settle

pytestmark = pytest.mark.usefixtures("demo_home_lock")

FAILED = "20260920-183000-d4e5f6"
ERROR = "segment 2 failed: provider said [/bold] content policy [/] on [red]frame[/red]"
OUTPUT = "/tmp/sora-tui-demo/[word]/final [v2].mp4"


@pytest.fixture(autouse=True)
def _fixed_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")


def test_error_with_closing_tag_and_bracketed_path_render_as_text(snap_compare: Callable[..., bool]) -> None:
    app = demo_app(demo_home("markup"))
    app.engine.store.update_job(FAILED, error=ERROR, output=OUTPUT)

    async def run_before(pilot: Pilot[int]) -> None:
        await pilot.press("f4")
        await settle(pilot)
        table = pilot.app.screen.query_one("#jobs", DataTable)
        table.move_cursor(row=table.get_row_index(FAILED))
        pilot.app.notify(f"Job stopped: {ERROR} ({OUTPUT})", severity="error", timeout=60)
        await settle(pilot)
        detail = str(pilot.app.screen.query_one("#detail-text").render())
        assert "[/bold] content policy [/]" in detail and "[word]/final [v2].mp4" in detail

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
