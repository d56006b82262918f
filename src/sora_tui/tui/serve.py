"""`sora-tui serve`: the studio in a browser through textual-serve.

textual-serve has no authentication and starts one app process per browser tab
with this server's environment (and so its API keys): it binds loopback unless
``public=True`` is given explicitly.
"""

from __future__ import annotations

import ipaddress
import shlex
import socket
import sys

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


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


def serve(host: str = "127.0.0.1", port: int = 8000, public: bool = False) -> int:
    """Serve the app over HTTP + websocket; returns the exit code (2 for a refused address)."""
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
    if public:
        print(
            f"WARNING: serving on {host}:{port} with no authentication. Whoever reaches this port controls "
            "the app and its API keys. Stop it with Ctrl+C when done.",
            file=sys.stderr,
        )
    from textual_serve.server import Server

    server = Server(app_command(), host=host, port=port, title="sora-tui")
    try:
        server.serve()
    except OSError as exc:
        print(f"sora-tui serve: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
