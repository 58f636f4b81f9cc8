"""The nats-server command line `galfriday up` starts when no server is reachable."""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlsplit

from schemas import GalFridayConfig

__all__ = ["local_server_command"]

_MONITOR_PORT = 8222


def local_server_command(config: GalFridayConfig, state_dir: Path) -> list[str]:
    """Listen only on the host of ``nats.url`` (loopback by default, never every interface)."""
    url = urlsplit(config.nats.url)
    host = url.hostname or "127.0.0.1"
    server = str(Path(sys.executable).parent / "nats-server")
    return [
        server,
        "-js",
        "-a",
        host,
        "-p",
        str(url.port or 4222),
        "-m",  # the monitor listens on the same host
        str(_MONITOR_PORT),
        "-sd",
        str(state_dir / "nats"),
    ]
