"""The WS v2 client against the simulated exchange: ticker, status, reconnects."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest

from kraken.sim import RunningSim, SimOptions, running_sim
from kraken.ws import (
    ConnectionState,
    ConnectionStateChanged,
    KrakenWsClient,
    StatusUpdate,
    TickerUpdate,
    WsUpdate,
)
from schemas.config import KrakenConfig
from schemas.events import KrakenCallFailed, KrakenCallSucceeded

pytestmark = pytest.mark.sim


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with running_sim(SimOptions(heartbeat_interval_s=0.1, tick_interval_s=0.1)) as running:
        yield running


def _client(
    sim: RunningSim, updates: list[WsUpdate], events: list[KrakenCallSucceeded | KrakenCallFailed]
) -> KrakenWsClient:
    config = KrakenConfig(rest_url=sim.rest_url, ws_url=sim.ws_url, ws_silence_timeout_s=0.5)
    return KrakenWsClient(
        config,
        ["BTC/USD"],
        rng=random.Random(1),
        on_update=updates.append,
        on_call=events.append,
        backoff_base_s=0.05,
        backoff_cap_s=0.2,
    )


async def _until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    async def poll() -> None:
        # Polls counters the client exposes; there is no event to wait on for them.
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def test_ticker_and_status_when_subscribed_then_typed_updates(sim: RunningSim) -> None:
    """Status arrives on connect and ticker snapshot/updates carry Decimal prices."""
    updates: list[WsUpdate] = []
    events: list[KrakenCallSucceeded | KrakenCallFailed] = []
    async with _client(sim, updates, events) as client:
        await _until(lambda: any(isinstance(u, TickerUpdate) for u in updates))
        sim.exchange.set_price("XBTUSD", Decimal("101234.5"))
        await _until(
            lambda: any(
                isinstance(u, TickerUpdate) and not u.snapshot and u.last == Decimal("101234.5")
                for u in updates
            )
        )

    assert any(isinstance(u, StatusUpdate) and u.system == "online" for u in updates)
    assert any(isinstance(u, TickerUpdate) and u.snapshot for u in updates)
    assert client.counters.connects == 1
    assert client.counters.messages > 0
    assert isinstance(events[0], KrakenCallSucceeded)
    assert events[0].scope == "kraken.ws"


async def test_server_disconnect_when_socket_closed_then_reconnects_and_resubscribes(
    sim: RunningSim,
) -> None:
    """After a server-side close the client reconnects and gets a fresh ticker snapshot."""
    updates: list[WsUpdate] = []
    async with _client(sim, updates, []) as client:
        await client.wait_connected()
        await _until(lambda: any(isinstance(u, TickerUpdate) for u in updates))
        feeds: list[Any] = list(sim.exchange.feeds)
        await _until(lambda: sum(feed.connection_count for feed in feeds) == 1)
        sim.exchange.disconnect_websockets()
        await _until(lambda: client.counters.reconnects >= 1)
        marker = next(
            i
            for i, u in enumerate(updates)
            if isinstance(u, ConnectionStateChanged) and u.state is ConnectionState.DISCONNECTED
        )
        await _until(
            lambda: any(isinstance(u, TickerUpdate) and u.snapshot for u in updates[marker:])
        )

    assert client.counters.connects >= 2


async def test_silence_when_no_messages_then_reconnects(sim: RunningSim) -> None:
    """A socket silent past ws_silence_timeout_s is dropped and reopened."""
    updates: list[WsUpdate] = []
    async with _client(sim, updates, []) as client:
        await client.wait_connected()
        await _until(lambda: client.counters.heartbeats > 0 or client.counters.messages > 2)
        sim.exchange.silence_websockets(1.0)
        await _until(lambda: client.counters.reconnects >= 1)

    assert any(getattr(u, "reason", "").startswith("silent") for u in updates)


async def test_connect_failure_when_nothing_listening_then_failed_event_and_retries() -> None:
    """Connect failures are reported as kraken.ws ws.connect failures and retried."""
    events: list[KrakenCallSucceeded | KrakenCallFailed] = []
    config = KrakenConfig(ws_url="ws://127.0.0.1:9/ws/v2", request_timeout_s=1.0)
    client = KrakenWsClient(
        config, ["BTC/USD"], rng=random.Random(2), on_call=events.append, backoff_base_s=0.01
    )
    async with client:
        await _until(lambda: client.counters.connect_failures >= 2)

    assert isinstance(events[0], KrakenCallFailed)
    assert events[0].endpoint == "ws.connect"
    assert events[0].transport_error == "connection"
