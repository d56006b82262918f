"""`sora-tui serve`: the studio in a browser through textual-serve.

textual-serve has no authentication and starts one app process per browser tab
with this server's environment (and so its API keys): it binds loopback unless
``public=True`` is given explicitly, and then a token is required to open the app
(:class:`StudioServer` checks it on every request: the page, its statics, the
websocket and downloads). ``public_url`` is the address the browser uses when it is
not the bound one (a reverse proxy, an SSH port-forward on another local port): the
page loads its statics and websocket from there.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import secrets
import shlex
import socket
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
TOKEN_ENV = "SORA_TUI_SERVE_TOKEN"
MIN_TOKEN = 8
CHUNK_TIMEOUT = 30  # seconds a browser download waits for the app's next chunk
_TOKEN_IN_TEXT = re.compile(r"token=[^&\s\"']+")


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def app_command() -> str:
    return f"{shlex.quote(sys.executable)} -m sora_tui"


def check_public_url(url: str) -> str:
    """``url`` without a trailing slash; ValueError naming what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"--public-url {url!r} must be an http:// or https:// address such as https://studio.example.org"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"--public-url {url!r} must not carry a query or fragment")
    return url.strip().rstrip("/")


def request_origin(headers: Any, scheme: str, host: str) -> str | None:
    """``scheme://host`` as the browser sees the server (X-Forwarded-Proto / -Host first, then Host)."""
    proto = (headers.get("X-Forwarded-Proto") or scheme or "http").split(",")[0].strip().lower()
    where = (headers.get("X-Forwarded-Host") or host or "").split(",")[0].strip()
    if proto not in ("http", "https") or not where or any(c in where for c in "/\\ \"'<>"):
        return None
    return f"{proto}://{where}"


class _RedactToken(logging.Filter):
    """Keeps the token out of the server's access log (it is in the first URL a browser opens)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "token=" in text:
            record.msg, record.args = _TOKEN_IN_TEXT.sub("token=…", text), ()
        return True


def _server_class() -> Any:
    from aiohttp import web
    from textual_serve import download_manager
    from textual_serve.server import Server

    # textual-serve gives the app process 4 s to answer each 64 kB chunk request, then aborts the
    # browser's download (and trips over its own queue bookkeeping); a busy server or a slow disk
    # needs longer. A module constant of textual-serve 1.1: without it, its default stays.
    if getattr(download_manager, "DOWNLOAD_TIMEOUT", 0) < CHUNK_TIMEOUT:
        download_manager.DOWNLOAD_TIMEOUT = CHUNK_TIMEOUT

    class StudioServer(Server):
        """textual-serve's server with an access token: ``?token=`` once sets a cookie, anything else is a 401."""

        def __init__(self, command: str, host: str, port: int, *, public_url: str | None, token: str | None) -> None:
            super().__init__(command, host=host, port=port, title="sora-tui", public_url=public_url)
            self.token = token
            self.cookie = f"sora_tui_token_{port}"  # cookies ignore ports: one name per server
            self.fixed_url = public_url is not None
            self.bind_url = self.public_url

        async def handle_index(self, request: web.Request) -> Any:
            # Without --public-url the page's statics and websocket come from the address the browser
            # used (an SSH port-forward on another port, a proxy that forwards Host / X-Forwarded-*),
            # not from the bind address. The page is built with no pause between these lines.
            if not self.fixed_url:
                self.public_url = request_origin(request.headers, request.scheme, request.host) or self.bind_url
            try:
                return await super().handle_index(request)
            finally:
                if not self.fixed_url:
                    self.public_url = self.bind_url

        def initialize_logging(self) -> None:
            super().initialize_logging()
            logging.getLogger("aiohttp.access").addFilter(_RedactToken())

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            if self.token:
                app.middlewares.append(self._check_token)
            return app

        def _valid(self, value: str | None) -> bool:
            return bool(value) and hmac.compare_digest(str(value).encode(), str(self.token).encode())

        @web.middleware
        async def _check_token(self, request: web.Request, handler: Any) -> web.StreamResponse:
            if self._valid(request.query.get("token")):
                rest = {k: v for k, v in request.query.items() if k != "token"}
                if request.path == "/":
                    # drop the token from the address bar (relative: right behind a proxy's path prefix too)
                    location = "./" + (f"?{urlencode(rest)}" if rest else "")
                    response: web.StreamResponse = web.Response(status=302, headers={"Location": location})
                else:
                    response = await handler(request)
                response.set_cookie(
                    self.cookie,
                    str(self.token),
                    httponly=True,
                    samesite="Strict",
                    secure=self.public_url.startswith("https:"),
                    path="/",
                )
                return response
            if self._valid(request.cookies.get(self.cookie)):
                answer: web.StreamResponse = await handler(request)
                return answer
            return web.Response(
                status=401,
                text="sora-tui: this studio needs its access token. Open the link `sora-tui serve` printed "
                "(it ends in ?token=…), or add ?token=YOUR_TOKEN to this address.\n",
            )

        async def on_startup(self, app: web.Application) -> None:
            self.console.print(f"sora-tui studio: {self.public_url}/", highlight=False)
            if self.token:
                self.console.print(f"Open: {self.public_url}/?token={self.token}", highlight=False, soft_wrap=True)
            self.console.print("Press Ctrl+C to quit", style="cyan")

    return StudioServer


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    public: bool = False,
    public_url: str | None = None,
    token: str | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Serve the app over HTTP + websocket; returns the exit code (2 for a refused address or option).

    With ``public`` a token is required (``token``, else $SORA_TUI_SERVE_TOKEN, else a new
    one, printed); a token given without ``public`` protects a loopback server too (a
    shared machine's other users can reach its loopback ports).
    """
    import os

    env = os.environ if env is None else env
    token = token or env.get(TOKEN_ENV) or None
    if not is_loopback(host) and not public:
        print(
            f"sora-tui serve: refusing to listen on {host}: anyone who reaches that address would control the "
            "studio and spend with its API keys (textual-serve has no authentication). Use the default "
            "127.0.0.1 (reach it over `ssh -L 8000:127.0.0.1:8000`), or add --public if you really mean it.",
            file=sys.stderr,
        )
        return 2
    if not (0 < port < 65536):
        print(f"sora-tui serve: port {port} is out of range (1-65535)", file=sys.stderr)
        return 2
    if public_url is not None:
        try:
            public_url = check_public_url(public_url)
        except ValueError as exc:
            print(f"sora-tui serve: {exc}", file=sys.stderr)
            return 2
    if token is not None and len(token) < MIN_TOKEN:
        print(f"sora-tui serve: the token must have at least {MIN_TOKEN} characters", file=sys.stderr)
        return 2
    if public:
        if token is None:
            token = secrets.token_urlsafe(18)
        print(
            f"WARNING: serving on {host}:{port}. Whoever has the token controls the app and its API keys: "
            "share the link only with yourself, and put TLS in front (a reverse proxy with https) so the token "
            "cannot be read on the way. Stop it with Ctrl+C when done.",
            file=sys.stderr,
        )
    server = _server_class()(app_command(), host=host, port=port, public_url=public_url, token=token)
    try:
        server.serve()
    except OSError as exc:
        print(f"sora-tui serve: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
