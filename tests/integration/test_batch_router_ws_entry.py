"""The batch router with ``kraken.order_entry: ws`` against a real nats-server and the sim's
authenticated WS endpoint: strategies, a lost answer after an accepted order, REST fallback."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import msgspec
import pytest
from nats.aio.client import Client

from bus import encode
from kraken.sim import LoseResponseFault, RunningSim
from schemas import GalFridayConfig
from schemas.config import OrderEntry
from schemas.events import BreakerState, CircuitBreakerStateChanged
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


async def test_open_ws_breaker_sends_placements_over_rest(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    config = ws_config(bus_config, sim, risk_check_enabled=False)
    actor, runner = await start_router(config, client, prices=False)
    opened = CircuitBreakerStateChanged(
        ts_event=1,
        ts_init=1,
        scope="kraken.ws",
        state=BreakerState.OPEN,
        previous=BreakerState.CLOSED,
        reason="test",
        since_ns=1,
    )
    try:

        def ws_breaker_open() -> bool:
            return actor._ws_breaker is BreakerState.OPEN

        while not ws_breaker_open():
            await client.publish(runner.subjects.breaker("kraken.ws"), encode(opened))
            try:
                await eventually(ws_breaker_open, timeout=0.2)
            except TimeoutError:
                continue
        batch = batch_of("ws-open", [resting_buy("BTC/USD")] * 2, BatchStrategy.SEQUENTIAL)
        await submit(client, runner.subjects, batch)
        completed = await observer.completed("ws-open")
    finally:
        await runner.stop()
    assert completed.placed == 2
    counts = sim.exchange.request_counts()
    assert counts.get("AddOrder") == 2
    assert "ws:add_order" not in counts
