"""Bulk publishing of ready protocol bytes over a plain TCP socket, for ``galfriday replay``.

A replay only writes: one socket, the ``CONNECT`` handshake, the bytes, then a ``PING`` whose
``PONG`` proves the server has read everything before it. That needs neither asyncio nor
nats-py, whose imports cost a replay a fifth of its run. Connections this does not speak (TLS,
a credentials file, websockets, several servers) are left to nats-py: :func:`plain_server`
says ``None`` and :class:`NeedsNatsPy` is raised when the server asks for TLS.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import msgspec

__all__ = ["NeedsNatsPy", "PlainServer", "PublishRefused", "plain_server", "publish_plain"]

DEFAULT_PORT = 4222
DEFAULT_MAX_PAYLOAD = 1024 * 1024
_MAX_LINE = 64 * 1024


class NeedsNatsPy(Exception):
    """The server wants what this client does not speak (TLS): publish with nats-py."""


class PublishRefused(Exception):
    """The server answered ``-ERR`` (authorization, permissions, payload size)."""


@dataclass(frozen=True, slots=True)
class PlainServer:
    host: str
    port: int
    user: str | None = None
    password: str | None = None
    token: str | None = None


def plain_server(
    url: str,
    *,
    user: str | None = None,
    password: str | None = None,
    token: str | None = None,
    needs_nats_py: bool = False,
) -> PlainServer | None:
    """Where to publish over a plain socket, or ``None`` when only nats-py can
    (``needs_nats_py``: a credentials file or TLS settings; or a URL this does not speak)."""
    if needs_nats_py or "," in url:
        return None
    parts = urlsplit(url if "://" in url else f"nats://{url}")
    if parts.scheme != "nats":
        return None
    if parts.username and parts.password:  # as nats-py reads URL credentials
        user, password = parts.username, parts.password
    elif parts.username:
        token = parts.username
    return PlainServer(
        parts.hostname or "127.0.0.1", parts.port or DEFAULT_PORT, user, password, token
    )


def publish_plain(
    server: PlainServer,
    chunks: Iterable[bytes | bytearray],
    *,
    largest_payload: int,
    has_headers: bool,
    timeout_s: float,
    name: str = "galfriday-replay",
) -> None:
    """Write ``chunks`` (``PUB``/``HPUB`` protocol bytes) and wait until the server has read
    them all. Raises :class:`PublishRefused` for an ``-ERR`` (then some chunks may have been
    read), ``OSError`` when the server is unreachable or drops the connection."""
    with socket.create_connection((server.host, server.port), timeout=timeout_s) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = sock.makefile("rb")
        info = _server_info(_read_line(reader))
        if info.get("tls_required"):
            raise NeedsNatsPy("the server requires TLS")
        limit = info.get("max_payload")
        if not isinstance(limit, int):
            limit = DEFAULT_MAX_PAYLOAD
        if largest_payload > limit:
            raise PublishRefused(
                f"a payload of {largest_payload} bytes exceeds the server's maximum ({limit}): "
                "nothing was published"
            )
        if has_headers and not info.get("headers", False):
            raise PublishRefused("the server does not support headers: nothing was published")
        sock.sendall(_connect_line(server, name) + b"PING\r\n")
        _await_pong(sock, reader)  # authorization is settled before anything is published
        try:
            for chunk in chunks:
                sock.sendall(chunk)
            sock.sendall(b"PING\r\n")
        except OSError:
            _await_pong(sock, reader)  # a server that hung up says why first, if it said
            raise
        _await_pong(sock, reader)


def _connect_line(server: PlainServer, name: str) -> bytes:
    options: dict[str, object] = {
        "verbose": False,
        "pedantic": False,
        "lang": "python",
        "version": "galfriday",
        "protocol": 1,
        "headers": True,
        "no_responders": True,
        "name": name,
    }
    if server.user is not None:
        options["user"], options["pass"] = server.user, server.password
    if server.token is not None:
        options["auth_token"] = server.token
    return b"CONNECT " + msgspec.json.encode(options) + b"\r\n"


def _read_line(reader: object) -> bytes:
    line: bytes = reader.readline(_MAX_LINE)  # type: ignore[attr-defined]
    if not line:
        raise ConnectionError("the server closed the connection")
    return line


def _server_info(line: bytes) -> dict[str, object]:
    if not line.startswith(b"INFO "):
        raise ConnectionError(f"not a NATS server: {line[:80]!r}")
    info = msgspec.json.decode(line[5:])
    if not isinstance(info, dict):
        raise ConnectionError(f"not a NATS server: {line[:80]!r}")
    return info


def _await_pong(sock: socket.socket, reader: object) -> None:
    """Read until ``PONG``; an ``-ERR`` raises :class:`PublishRefused` with its text."""
    errors: list[str] = []
    while True:
        try:
            line = _read_line(reader)
        except OSError:
            if errors:
                raise PublishRefused("; ".join(errors)) from None
            raise
        if line.startswith(b"PONG"):
            if errors:
                raise PublishRefused("; ".join(errors))
            return
        if line.startswith(b"PING"):
            sock.sendall(b"PONG\r\n")
        elif line.startswith(b"-ERR"):
            errors.append(line[5:].strip().decode(errors="replace").strip("'"))
