"""The batch router with ``kraken.order_entry: ws`` against a real nats-server and the sim's
authenticated WS endpoint: strategies, a lost answer after an accepted order, REST fallback."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

import msgspec
import pytest
from nats.aio.client import Client

from bus import ActorRunner, encode
from bus.codec import EVENTS
from kraken.sim import LoseResponseFault, RunningSim
from schemas import GalFridayConfig
from schemas.config import OrderEntry
from schemas.events import BreakerState, CircuitBreakerStateChanged, KrakenCallSucceeded
from schemas.orders import BatchStrategy, OrderRequest
from tests.integration.test_batch_router_actor import (
    Observer,
    batch_of,
    ledger_ids,
    observer,
    resting_buy,
    router_config,
    sim,
    start_router,
    submit,
)
from tests.support.waiting import eventually

pytestmark = [pytest.mark.nats, pytest.mark.sim]
__all__ = ["observer", "sim"]  # fixtures, imported for this module's tests


def ws_config(bus_config: GalFridayConfig, sim: RunningSim, **execution: object) -> GalFridayConfig:
    config = router_config(bus_config, sim, **execution)
    kraken = msgspec.structs.replace(config.kraken, order_entry=OrderEntry.WS)
    return msgspec.structs.replace(config, kraken=kraken)


def filling_buys(count: int) -> Sequence[OrderRequest]:
    """Limit buys above the sim's ask: each one fills at once."""
    return [resting_buy("BTC/USD", price=Decimal(100_500))] * count


@pytest.mark.parametrize("strategy", list(BatchStrategy))
async def test_each_strategy_places_every_order_once_over_ws(
    strategy: BatchStrategy,
    bus_config: GalFridayConfig,
    sim: RunningSim,
    client: Client,
    observer: Observer,
) -> None:
    config = ws_config(bus_config, sim)
    _, runner = await start_router(config, client, prices=True)
    try:
        orders = [resting_buy("BTC/USD")] * 3 + [resting_buy("ETH/USD", "0.01")] * 3
        await submit(client, runner.subjects, batch_of(f"ws-{strategy}", orders, strategy))
        completed = await observer.completed(f"ws-{strategy}")
    finally:
        await runner.stop()
    assert completed.placed == 6, completed.results
    assert set(ledger_ids(sim).values()) == {1}
    counts = sim.exchange.request_counts()
    assert counts.get("ws:add_order", 0) + counts.get("ws:batch_add", 0) > 0
    assert counts.get("AddOrder", 0) == counts.get("AddOrderBatch", 0) == 0


async def test_dropped_connection_after_an_accepted_order_places_no_duplicate(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    """The socket drops right after the engine accepted (and filled) the order: the router
    reconciles by ``cl_ord_id`` and never places it twice."""
    config = ws_config(bus_config, sim, risk_check_enabled=False)
    _, runner = await start_router(config, client, prices=False)
    sim.faults.add(LoseResponseFault(endpoints=("AddOrder",), mode="drop", calls=1))
    try:
        batch = batch_of("ws-drop", filling_buys(3), BatchStrategy.SEQUENTIAL)
        await submit(client, runner.subjects, batch)
        completed = await observer.completed("ws-drop")
    finally:
        await runner.stop()
    assert completed.placed == 3, completed.results
    assert [fault["fired"] for fault in sim.faults.describe()] == [1]
    counts = sim.exchange.request_counts()
    # The lost one went over WS; while the socket reconnects, REST may place the rest.
    assert counts["ws:add_order"] >= 1
    assert counts["ws:add_order"] + counts.get("AddOrder", 0) == 3
    ledger = sim.exchange.ledger()
    assert len(ledger) == 3
    assert {entry.status for entry in ledger} == {"closed"}
    assert set(ledger_ids(sim).values()) == {1}


def _breaker_event(scope: str, state: BreakerState) -> CircuitBreakerStateChanged:
    return CircuitBreakerStateChanged(
        ts_event=1,
        ts_init=1,
        scope=scope,
        state=state,
        previous=BreakerState.CLOSED,
        reason="test",
        since_ns=1,
    )


async def _until_router_sees(
    client: Client, runner: ActorRunner, scope: str, state: BreakerState, seen: Callable[[], bool]
) -> None:
    """Core NATS: repeat the breaker event until the router's subscription has taken it."""
    while not seen():
        await client.publish(runner.subjects.breaker(scope), encode(_breaker_event(scope, state)))
        try:
            await eventually(seen, timeout=0.2)
        except TimeoutError:
            continue


async def test_open_trading_socket_breaker_sends_placements_over_rest(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    config = ws_config(bus_config, sim, risk_check_enabled=False)
    actor, runner = await start_router(config, client, prices=False)
    try:
        await _until_router_sees(
            client,
            runner,
            "kraken.ws_trading",
            BreakerState.OPEN,
            lambda: actor._ws_breaker is BreakerState.OPEN,
        )
        batch = batch_of("ws-open", [resting_buy("BTC/USD")] * 2, BatchStrategy.SEQUENTIAL)
        await submit(client, runner.subjects, batch)
        completed = await observer.completed("ws-open")
    finally:
        await runner.stop()
    assert completed.placed == 2
    counts = sim.exchange.request_counts()
    assert counts.get("AddOrder") == 2
    assert "ws:add_order" not in counts


async def test_open_market_data_ws_breaker_leaves_placements_on_the_trading_socket(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    """``kraken.ws`` is market-data's public socket: its breaker says nothing about the
    trading socket, which stays in use."""
    config = ws_config(bus_config, sim, risk_check_enabled=False)
    actor, runner = await start_router(config, client, prices=False)
    try:
        await _until_router_sees(
            client,
            runner,
            "kraken.ws",
            BreakerState.OPEN,
            lambda: actor._breaker_states.get("kraken.ws") is BreakerState.OPEN,
        )
        batch = batch_of("md-open", [resting_buy("BTC/USD")] * 2, BatchStrategy.SEQUENTIAL)
        await submit(client, runner.subjects, batch)
        completed = await observer.completed("md-open")
    finally:
        await runner.stop()
    assert completed.placed == 2
    counts = sim.exchange.request_counts()
    assert counts.get("ws:add_order") == 2
    assert "AddOrder" not in counts


async def test_half_open_trading_socket_breaker_is_probed_with_a_ping(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client
) -> None:
    """Placements stay on REST while half-open, so the router's ping over the trading socket
    is the breaker's test call (reported as the probe, under ``kraken.ws_trading``)."""
    reports: list[KrakenCallSucceeded] = []

    async def on_report(msg: object) -> None:
        event = EVENTS.decode(msg.data)  # type: ignore[attr-defined]
        if isinstance(event, KrakenCallSucceeded):
            reports.append(event)

    config = ws_config(bus_config, sim, risk_check_enabled=False)
    actor, runner = await start_router(config, client, prices=False)
    await client.subscribe(runner.subjects.kraken_call("succeeded"), cb=on_report)
    try:
        await _until_router_sees(
            client,
            runner,
            "kraken.ws_trading",
            BreakerState.HALF_OPEN,
            lambda: actor._ws_breaker is BreakerState.HALF_OPEN,
        )
        await eventually(lambda: any(r.endpoint == "ws.ping" for r in reports), timeout=5.0)
    finally:
        await runner.stop()
    ping = next(r for r in reports if r.endpoint == "ws.ping")
    assert (ping.scope, ping.probe) == ("kraken.ws_trading", True)
