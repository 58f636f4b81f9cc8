"""Connecting to NATS from config: reconnect forever with jittered waits, auth and TLS."""

from __future__ import annotations

import logging
import random
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from nats.aio.client import Client

from bus.hardened_client import HardenedClient
from schemas.config import NatsConfig

__all__ = ["ConnectionEvents", "connect"]

_LOGGER = logging.getLogger(__name__)

Callback = Callable[[], Awaitable[None]]


@dataclass
class ConnectionEvents:
    """Disconnect/reconnect hooks surfaced to actors, and counters for health reports."""

    on_disconnected: list[Callback] = field(default_factory=list)
    on_reconnected: list[Callback] = field(default_factory=list)
    disconnects: int = 0
    reconnects: int = 0
    errors: int = 0
    connected: bool = False


def _tls_context(config: NatsConfig) -> ssl.SSLContext | None:
    if not (config.tls_ca_file or config.tls_cert_file):
        return None
    context = ssl.create_default_context(cafile=config.tls_ca_file)
    if config.tls_cert_file:
        context.load_cert_chain(config.tls_cert_file, config.tls_key_file)
    return context


async def connect(
    config: NatsConfig,
    *,
    name: str,
    events: ConnectionEvents | None = None,
    rng: random.Random | None = None,
) -> Client:
    """Connect once (raising if the server is unreachable), then reconnect forever."""
    hooks = events or ConnectionEvents()
    jitter = rng or random.Random()

    attempts = 0
    client_ref: list[Client] = []

    def reconnect_wait(attempt: int) -> float:
        # Full jitter so a fleet of actors does not reconnect in lockstep after a server restart.
        ceiling = min(config.max_reconnect_wait_s, 0.25 * 2 ** min(attempt, 10))
        return jitter.uniform(0.05, max(ceiling, 0.1))

    def rearm_wait() -> None:
        # nats-py reads this option before every reconnect attempt; it knows no jitter itself.
        if client_ref:
            client_ref[0].options["reconnect_time_wait"] = reconnect_wait(attempts)

    async def disconnected() -> None:
        nonlocal attempts
        attempts = 0
        rearm_wait()
        hooks.connected = False
        hooks.disconnects += 1
        _LOGGER.warning("bus.disconnected")
        for callback in hooks.on_disconnected:
            await callback()

    async def reconnected() -> None:
        nonlocal attempts
        attempts = 0
        hooks.connected = True
        hooks.reconnects += 1
        _LOGGER.info("bus.reconnected")
        for callback in hooks.on_reconnected:
            await callback()

    async def error(e: Exception) -> None:
        nonlocal attempts
        attempts += 1
        rearm_wait()
        hooks.errors += 1
        _LOGGER.warning("bus.error %s", type(e).__name__)

    options: dict[str, object] = {
        "servers": [config.url],
        "name": name,
        "connect_timeout": config.connect_timeout_s,
        "max_reconnect_attempts": -1,
        "allow_reconnect": True,
        "reconnect_time_wait": reconnect_wait(0),
        "disconnected_cb": disconnected,
        "reconnected_cb": reconnected,
        "error_cb": error,
    }
    if config.user is not None:
        options["user"] = config.user
        options["password"] = config.password
    if config.token is not None:
        options["token"] = config.token
    if config.creds_file is not None:
        options["user_credentials"] = config.creds_file
    tls = _tls_context(config)
    if tls is not None:
        options["tls"] = tls
    client = HardenedClient()  # what nats.connect() does, with a client that survives bad headers
    await client.connect(**options)  # type: ignore[arg-type]
    client_ref.append(client)
    hooks.connected = True
    return client
