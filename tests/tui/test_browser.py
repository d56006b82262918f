"""The studio in a real browser: `serve()` in a subprocess, driven by Playwright with Debian's chromium.

The terminal is drawn on a canvas, so the test clicks into it, types, presses keys
and asserts through effects: a completed job in the store under SORA_TUI_HOME.
Skips when /usr/bin/chromium is missing, unless SORA_TUI_REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest

if TYPE_CHECKING:  # playwright is imported where a test runs (it may be missing: the test then skips)
    from playwright.sync_api import Browser, Download, Page

    from fakes.fal_server import FalFake
    from sora_tui.core.models import Job
    from sora_tui.core.runner import Holder

T = TypeVar("T")

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.browser


def _need_browser() -> None:
    required = os.environ.get("SORA_TUI_REQUIRE_BROWSER") == "1"
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "python playwright is not installed"
    if problem:
        if required:
            pytest.fail(f"SORA_TUI_REQUIRE_BROWSER=1 but {problem}")
        pytest.skip(problem)


ESCAPES = re.compile(
    rb"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|_[^\x1b]*\x1b\\|[()][0-9A-Za-z]|[=>78M])"
)


def _until(condition: Callable[[], T], timeout: float, what: str, page: Page | None = None, interval: float = 0.2) -> T:
    """Poll ``condition`` until it is true (returns its value) or ``timeout`` runs out (fails naming ``what``).
    With a ``page``, Playwright's own wait pumps its events between polls."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        if page is not None:
            page.wait_for_timeout(interval * 1000)
        else:
            time.sleep(interval)


class Terminal:
    """What a tab's terminal was sent: the app's output, as textual-serve streams it over the page's
    websocket (the canvas has no text to read). ``wait(text)`` waits for the app to draw ``text``."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.sent = bytearray()
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload: bytes | str) -> None:
        self.sent += payload if isinstance(payload, bytes) else payload.encode("utf-8")

    def mark(self) -> int:
        """Where the output is now: ``wait(..., since=mark)`` looks only at what is drawn after it."""
        return len(self.sent)

    def text(self, since: int = 0) -> str:
        return ESCAPES.sub(b"", bytes(self.sent[since:])).decode("utf-8", "replace")

    def wait(self, text: str, since: int = 0, timeout: float = 60) -> None:
        try:
            _until(lambda: text in self.text(since), timeout, f"the tab to draw {text!r}", self.page, 0.1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; it drew last: {self.text(since)[-1500:]!r}") from None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)  # a poll interval
    raise AssertionError("serve did not start listening")


@contextlib.contextmanager
def _serving(env: dict[str, str], **options: object) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`serve()` in a subprocess on a free loopback port; yields the port, stops the server after."""
    port = _free_port()
    args = ", ".join(f"{k}={v!r}" for k, v in {"port": port, **options}.items())
    code = f"from sora_tui.tui.serve import serve; raise SystemExit(serve({args}))"
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    failed = False
    try:
        _wait_port(port, proc)
        yield port, proc
    except BaseException:
        failed = True
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if failed and proc.stdout is not None:  # the server's log, shown with the failure
            print(proc.stdout.read().decode("utf-8", "replace")[-4000:])


def _jobs(home: Path) -> list[Job]:
    from sora_tui.core.store import Store

    db = home / "data" / "history.sqlite3"
    if not db.exists():
        return []
    store = Store(db)
    try:
        return store.list_jobs()
    finally:
        store.close()


def _studio_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAL_", "OPENAI_"))}
    env.update(SORA_TUI_HOME=str(home), PYTHONUNBUFFERED="1", PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    return env


def _open_tab(browser: Browser, port: int) -> tuple[Page, Terminal]:
    """A new tab on the studio, once its terminal is on the page (the tab's app is still starting), and what
    its terminal is sent."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    term = Terminal(page)
    page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
    page.wait_for_selector("canvas, .xterm-screen, #terminal", timeout=20_000)
    return page, term


def _app_processes(server: subprocess.Popen[bytes]) -> list[int]:
    """The app processes textual-serve runs for its tabs (its children)."""
    try:
        return [int(p) for p in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()]
    except OSError:
        return []


def test_render_in_browser(tmp_path: Path) -> None:
    _need_browser()
    from playwright.sync_api import sync_playwright

    home = tmp_path / "home"
    home.mkdir()
    # small, fast defaults for the app the server spawns
    (home / "config").mkdir()
    (home / "config" / "settings.toml").write_text('default_resolution = "180p"\n')
    env = _studio_env(home)
    with _serving(env) as (port, _server):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                page, term = _open_tab(browser, port)
                term.wait("Plan segments")  # the app process started and drew the prompt screen
                page.mouse.click(400, 200)
                page.keyboard.type("a lantern floating over a dark lake", delay=5)
                term.wait("dark lake")
                at = term.mark()
                page.keyboard.press("Tab")  # to the segments field
                page.keyboard.press("End")
                page.keyboard.press("Backspace")
                term.wait("enter a whole number of segments", since=at)  # the field is empty now
                at = term.mark()
                page.keyboard.type("1")
                term.wait("= 1 ×", since=at)  # the estimate for one segment
                page.keyboard.press("Control+r")  # plan
                term.wait("then ctrl+r to render", since=at)  # the plan screen
                page.keyboard.press("Control+r")  # render
                done = ("completed", "failed", "cancelled")
                jobs = _until(
                    lambda: [j for j in _jobs(home) if str(j.status) in done], 120, "the job to end", page, 0.5
                )
                page.screenshot(path=str(tmp_path / "browser.png"))
                if os.environ.get("SORA_TUI_BROWSER_SHOT"):
                    page.screenshot(path=os.environ["SORA_TUI_BROWSER_SHOT"])
            finally:
                browser.close()
        assert jobs, "no job was created from the browser"
        job = jobs[0]
        assert str(job.status) == "completed", job.error
        assert job.prompt.startswith("a lantern floating")
        assert job.plan is not None and len(job.plan.segments) == 1
        assert (tmp_path / "browser.png").stat().st_size > 0


def test_download_in_browser(tmp_path: Path) -> None:
    """Through `serve` with a token: History → d → Enter streams final.mp4 to Chromium, byte for byte."""
    _need_browser()
    from playwright.sync_api import sync_playwright

    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAL_", "OPENAI_", "SSH_"))}
    env.update(SORA_TUI_HOME=str(home), PYTHONUNBUFFERED="1", PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    subprocess.run(
        [sys.executable, "-m", "sora_tui", "generate", "a paper boat on a rainy street", "--segments", "2"]
        + ["--seconds", "1", "--resolution", "180p", "--yes", "--json"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (job,) = _jobs(home)
    assert str(job.status) == "completed" and job.output is not None
    output = Path(job.output)
    final = output.read_bytes()
    token = "browser-test-token-1234"
    with _serving(env, token=token) as (port, _server):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
                downloads: list[Download] = []

                def got(download: Download) -> None:
                    downloads.append(download)

                context.on("page", lambda page: page.on("download", got))  # textual-serve opens a new tab
                page = context.new_page()
                term = Terminal(page)
                page.on("download", got)
                # without the token: refused before any app process starts
                bare = page.goto(f"http://127.0.0.1:{port}/")
                assert bare is not None and bare.status == 401
                page.goto(f"http://127.0.0.1:{port}/?token={token}", wait_until="domcontentloaded")
                assert "token" not in page.url  # the token went into a cookie
                page.wait_for_selector("canvas, .xterm-screen, #terminal", timeout=20_000)
                term.wait("Plan segments")  # the app process started and drew the prompt screen
                page.mouse.click(400, 200)
                at = term.mark()
                page.keyboard.press("F4")  # history: the job is selected
                term.wait(job.id, since=at)
                at = term.mark()
                page.keyboard.press("d")  # its files
                term.wait("Get the files of", since=at)
                page.screenshot(path=str(tmp_path / "files.png"))
                saved = tmp_path / "got.mp4"
                # Chromium cancelled the download once in four fresh-clone CI runs of 2026-11-22 (the popup
                # tab textual-serve opens for it; not reproduced since, also under load): a user presses
                # Enter again, and so does the test, once. Both attempts failing fails the test.
                for attempt in (1, 2):
                    downloads.clear()
                    at = term.mark()
                    page.keyboard.press("Enter")  # the final video, through the browser
                    _until(lambda: downloads, 90, "the browser's download", page)  # a loaded 2-core box is slow
                    download = downloads[0]
                    try:
                        download.save_as(saved)
                        break
                    except Exception as exc:  # playwright's Error: "Download.save_as: canceled"
                        if attempt == 2 or "canceled" not in str(exc):
                            raise
                        print(f"download attempt 1 was cancelled by the browser ({exc}); pressing Enter again")
                term.wait("Downloaded", since=at)  # the toast: the app heard the delivery complete
                page.screenshot(path=str(tmp_path / "browser-download.png"))
                if os.environ.get("SORA_TUI_BROWSER_SHOT"):
                    page.screenshot(path=os.environ["SORA_TUI_BROWSER_SHOT"].replace(".png", "-download.png"))
            finally:
                browser.close()
        assert download.suggested_filename == f"sora-{job.id}.mp4"
        assert saved.read_bytes() == final
        assert output.read_bytes() == final  # the source is untouched


def _live_jobs(home: Path) -> list[tuple[Job, Holder | None]]:
    """The jobs and, for each, the process holding its lease (None when no runner holds it)."""
    from sora_tui.core import runner

    return [(job, runner.holder(job.job_dir)) for job in _jobs(home)]


def test_closing_the_tab_leaves_the_job_rendering(tmp_path: Path, fal_fake: FalFake) -> None:
    """Start a hosted job in a tab, close the tab mid-render, open a new one: the job goes on and finishes,
    one paid submit per segment (its runner is its own process, not the tab's app)."""
    _need_browser()
    from playwright.sync_api import sync_playwright

    from sora_tui.core import runner

    fal_fake.hold = True  # requests wait in the fake's queue until released: the job is mid-render
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "settings.toml").write_text('default_model = "veo3.1-fast"\n')
    env = _studio_env(home)
    env.update(fal_fake.env(), SORA_TUI_POLL_INTERVAL="0.05", SORA_TUI_RETRY_BASE_DELAY="0.01")
    with _serving(env) as (port, server):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                page, term = _open_tab(browser, port)
                term.wait("Plan segments")  # the app process started and drew the prompt screen
                page.mouse.click(400, 100)  # into the prompt (no key notice above it: a fal key is set)
                page.keyboard.type("a lantern floating over a dark lake", delay=5)
                term.wait("dark lake")
                at = term.mark()
                page.keyboard.press("Control+r")  # plan (the default number of segments)
                term.wait("then ctrl+r to render", since=at)  # the plan screen
                at = term.mark()
                page.keyboard.press("Control+r")  # render: a paid start asks first
                term.wait("Start a paid job", since=at)
                page.keyboard.press("y")
                fal_fake.wait_for(lambda: len(fal_fake.submits) == 1, timeout=60)
                page.screenshot(path=str(tmp_path / "rendering.png"))
                assert len(fal_fake.submits) == 1, "no submit from the tab"
                (job, who) = _live_jobs(home)[0]
                assert who is not None and str(job.status) == "generating"
                tab_app = _until(lambda: _app_processes(server), 10, "the tab's app process")
                page.close()  # textual-serve ends this tab's app process
                _until(lambda: not set(tab_app) & set(_app_processes(server)), 30, "the closed tab's app to end")
                (job, who_after) = _live_jobs(home)[0]
                assert who_after is not None and who_after.pid == who.pid, "the job's runner ended with the tab"
                assert str(job.status) == "generating"
                # a new tab follows the job (its board opens on it) while it renders to the end
                page, term = _open_tab(browser, port)
                term.wait(job.id)  # its board shows the job
                page.screenshot(path=str(tmp_path / "new-tab.png"))
                at = term.mark()
                fal_fake.release()

                def ended() -> bool:
                    (job, who) = _live_jobs(home)[0]
                    return str(job.status) in ("completed", "failed", "cancelled") and who is None

                _until(ended, 120, "the job to end and its runner to let go", page, 0.5)
                (job, _who) = _live_jobs(home)[0]
                if str(job.status) == "completed":
                    term.wait("Video ready", since=at)  # the tab heard it finish
                page.screenshot(path=str(tmp_path / "finished.png"))
                if os.environ.get("SORA_TUI_BROWSER_SHOT"):
                    page.screenshot(path=os.environ["SORA_TUI_BROWSER_SHOT"].replace(".png", "-follow.png"))
            finally:
                browser.close()
                for _left, holder in _live_jobs(home):  # never leave a runner behind
                    if holder is not None and holder.pid:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(holder.pid, 9)
    assert str(job.status) == "completed", job.error
    assert job.plan is not None and len(job.plan.segments) >= 2
    assert len(fal_fake.submits) == len(job.plan.segments)  # one paid submit per segment
    assert runner.holder(job.job_dir) is None
