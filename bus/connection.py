"""Connecting to NATS from config: reconnect forever with jittered waits, auth and TLS."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

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
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Client:
    """Connect (retrying for ``first_connect_timeout_s``, then raising ``ConnectionError``, an
    ``OSError``), then reconnect forever."""
    hooks = events or ConnectionEvents()
    jitter = rng or random.Random()

    attempts = 0
    established = False
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
        if not established:  # a failed first-connect attempt closing: reported below, once
            return
        hooks.connected = False
        if client_ref and client_ref[0].is_closed:
            _LOGGER.info("bus.closed")  # our own close at shutdown: nothing went wrong
            return
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
        if established:  # first-connect failures are reported once per attempt, below
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
    client = await _first_connect(options, config, reconnect_wait, clock=clock, sleep=sleep)
    client_ref.append(client)
    established = True
    # From now on a lost connection is retried forever, with the jittered waits above.
    client.options.update(
        allow_reconnect=True, max_reconnect_attempts=-1, reconnect_time_wait=reconnect_wait(0)
    )
    hooks.connected = True
    return client


async def _first_connect(
    options: dict[str, object],
    config: NatsConfig,
    backoff: Callable[[int], float],
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
) -> Client:
    """Connect, retrying with backoff and jitter for ``first_connect_timeout_s``.

    nats-py's own initial retry loop waits a fixed ``reconnect_time_wait`` and never gives up;
    here each attempt is one short nats-py connect (no reconnect), and the loop is ours: a
    cancellation (a signal while connecting) ends it between or during attempts.
    """
    deadline = clock() + config.first_connect_timeout_s
    # One pass over the server (two tries) per attempt: nats-py's own loop knows no backoff.
    once: dict[str, Any] = {**options, "allow_reconnect": False, "max_reconnect_attempts": 1}
    attempt = 0
    while True:
        attempt += 1
        client = HardenedClient()  # nats.connect()'s client, surviving bad headers
        try:
            await client.connect(**once)
            return client
        except asyncio.CancelledError:
            await _close_quietly(client)
            raise
        except Exception as e:
            await _close_quietly(client)
            wait = backoff(attempt)
            left = deadline - clock()
            if left <= 0:
                raise ConnectionError(
                    f"no NATS server at {config.url} after {attempt} attempts in "
                    f"{config.first_connect_timeout_s:g} s (nats.first_connect_timeout_s): "
                    f"{type(e).__name__}: {e}"
                ) from None
            _LOGGER.warning(
                "bus.connect_failed attempt=%d error=%s retry_in_s=%.2f",
                attempt,
                type(e).__name__,
                min(wait, left),
            )
            await sleep(min(wait, left))


async def _close_quietly(client: Client) -> None:
    with contextlib.suppress(Exception):
        await client.close()
