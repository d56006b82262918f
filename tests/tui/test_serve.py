"""`serve()` refuses public addresses unless asked; loopback detection."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from sora_tui.tui.serve import _server_class, check_public_url, is_loopback, request_origin, serve


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("192.168.1.10")


def test_refuses_public_address_without_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert serve(host="0.0.0.0", port=8765) == 2
    err = capsys.readouterr().err
    assert "refusing" in err and "--public" in err and "authentication" in err


def test_rejects_bad_port(capsys: pytest.CaptureFixture[str]) -> None:
    assert serve(host="127.0.0.1", port=70000) == 2
    assert "out of range" in capsys.readouterr().err


# --- token and public URL ------------------------------------------------------------------


TOKEN = "s3cret-token-for-tests"


async def _client(
    public_url: str | None = None, token: str | None = None, port: int = 8123
) -> TestClient[web.Request, web.Application]:
    server = _server_class()("true", "127.0.0.1", port, public_url=public_url, token=token)
    client = TestClient(TestServer(await server._make_app()))
    await client.start_server()
    return client


async def test_token_required_for_page_statics_websocket_and_downloads() -> None:
    client = await _client(token=TOKEN)
    try:
        for path in ("/", "/static/js/textual.js", "/ws", "/download/abc", "/?token=wrong"):
            r = await client.get(path, allow_redirects=False)
            assert r.status == 401, path
            assert "access token" in await r.text()
        # the token once: a cookie, and the address bar loses the token
        r = await client.get("/?token=" + TOKEN + "&fontsize=18", allow_redirects=False)
        assert r.status == 302 and r.headers["Location"] == "./?fontsize=18"
        cookie = r.cookies["sora_tui_token_8123"]
        assert cookie.value == TOKEN and cookie["httponly"] and cookie["samesite"] == "Strict"
        # from then on the cookie opens everything
        r = await client.get("/")
        assert r.status == 200 and "textual.js" in await r.text()
        assert (await client.get("/static/js/textual.js")).status == 200
        assert (await client.get("/download/abc")).status == 404  # past the check: no such download
    finally:
        await client.close()


async def test_no_token_no_check_on_loopback() -> None:
    client = await _client()
    try:
        assert (await client.get("/")).status == 200
    finally:
        await client.close()


async def test_public_url_rewrites_statics_and_websocket() -> None:
    client = await _client(public_url=check_public_url("https://studio.example.org/sora/"))
    try:
        page = await (await client.get("/")).text()
        assert 'src="https://studio.example.org/sora/static/js/textual.js"' in page
        assert "wss://studio.example.org/sora/ws" in page
        assert "127.0.0.1" not in page
    finally:
        await client.close()
    client = await _client(public_url="http://localhost:9001")  # an SSH port-forward on another local port
    try:
        page = await (await client.get("/")).text()
        assert "http://localhost:9001/static/css/xterm.css" in page and "ws://localhost:9001/ws" in page
    finally:
        await client.close()


async def test_without_public_url_the_page_follows_the_address_the_browser_used() -> None:
    client = await _client()
    try:
        # an SSH port-forward from another local port: the browser's Host header says where it is
        page = await (await client.get("/", headers={"Host": "localhost:9001"})).text()
        assert 'src="http://localhost:9001/static/js/textual.js"' in page and "ws://localhost:9001/ws" in page
        # a TLS proxy that forwards what the browser asked for
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "studio.example.org"}
        page = await (await client.get("/", headers=headers)).text()
        assert "https://studio.example.org/static/css/xterm.css" in page and "wss://studio.example.org/ws" in page
    finally:
        await client.close()
    client = await _client(public_url="https://fixed.example.org")  # --public-url wins over any header
    try:
        page = await (await client.get("/", headers={"Host": "localhost:9001"})).text()
        assert "https://fixed.example.org/static/js/textual.js" in page and "localhost:9001" not in page
    finally:
        await client.close()


def test_request_origin() -> None:
    assert request_origin({}, "http", "localhost:9001") == "http://localhost:9001"
    assert request_origin({"X-Forwarded-Proto": "https, http"}, "http", "a.example") == "https://a.example"
    assert request_origin({"X-Forwarded-Host": "evil.example/x"}, "http", "a") is None
    assert request_origin({"X-Forwarded-Proto": "javascript"}, "http", "a") is None
    assert request_origin({}, "http", "") is None


@pytest.mark.parametrize("url", ["studio.example.org", "ftp://x", "https://x/?a=1", "https://"])
def test_bad_public_url(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert serve(host="127.0.0.1", port=8765, public_url=url) == 2
    assert "--public-url" in capsys.readouterr().err


def test_short_token_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert serve(host="127.0.0.1", port=8765, token="abc") == 2
    assert "at least" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_public_serve_generates_and_prints_a_token(tmp_path: Path) -> None:
    """`sora-tui serve --public` end to end: the printed link opens the page, the bare address is refused."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "SORA_TUI_SERVE_TOKEN"}
    env.update(SORA_TUI_HOME=str(tmp_path), PYTHONUNBUFFERED="1", COLUMNS="300")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sora_tui", "serve", "--public", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        link = None
        deadline = time.monotonic() + 30
        while link is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                raise AssertionError(f"serve exited: {proc.stderr.read()}")
            m = re.search(r"Open: (http://\S+\?token=(\S+))", line)
            if m:
                link, token = m.group(1), m.group(2)
        assert link, "no link with a token was printed"
        assert len(token) >= 20
        # the link is printed as the server starts: wait until it listens
        while time.monotonic() < deadline and not _listening(port):
            time.sleep(0.1)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
        assert refused.value.code == 401
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        page = opener.open(link.replace("0.0.0.0", "127.0.0.1"), timeout=10).read().decode()
        assert "textual.js" in page
        assert opener.open(f"http://127.0.0.1:{port}/static/js/textual.js", timeout=10).status == 200
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert "WARNING" in err and token not in err  # the token is printed once, on stdout, and never logged
