"""``kraken.order_entry: ws``: the trading socket drops while placements are in flight, and no
error classifier answers. Every intended order must end on the exchange exactly once, and the
router's report must match the ledger: the in-flight requests are unknown outcomes, reconciled
by ``cl_ord_id`` (deadline + margin before "absent") and sent again only when proven absent."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Literal

import pytest
from nats.aio.client import Client

from kraken.sim import LatencyFault, LoseResponseFault, RunningSim
from schemas import GalFridayConfig
from schemas.events import OrderOutcome
from schemas.orders import BatchStrategy
from tests.integration.test_batch_router_actor import (
    Observer,
    batch_of,
    ledger_ids,
    observer,
    sim,
    start_router,
    submit,
)
from tests.integration.test_batch_router_ws_entry import filling_buys, ws_config

pytestmark = [pytest.mark.nats, pytest.mark.sim]
__all__ = ["observer", "sim"]  # fixtures, imported for this module's tests

ORDERS = 20
DropPoint = Literal["after_accept", "before_engine"]
_TRADING = ("AddOrder", "AddOrderBatch")


@contextlib.asynccontextmanager
async def socket_dropped(sim: RunningSim, where: DropPoint) -> AsyncIterator[None]:
    """``after_accept``: the engine takes the first trading request, then the socket closes
    before the answer. ``before_engine``: requests wait 300 ms before the engine reads them,
    and the socket closes as soon as the first one arrived (the engine never sees them)."""
    if where == "after_accept":
        sim.faults.add(LoseResponseFault(endpoints=_TRADING, mode="drop", calls=1))
        yield
        return
    sim.faults.add(LatencyFault(endpoints=_TRADING, ms=300))

    async def drop_on_first_request() -> None:
        while True:
            counts = sim.exchange.request_counts()
            if counts.get("ws:add_order", 0) + counts.get("ws:batch_add", 0):
                sim.exchange.disconnect_websockets()
                return
            await asyncio.sleep(0.002)

    dropper = asyncio.create_task(drop_on_first_request())
    try:
        yield
    finally:
        dropper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await dropper


@pytest.mark.parametrize("where", ["after_accept", "before_engine"])
@pytest.mark.parametrize(
    "strategy", [BatchStrategy.SEQUENTIAL, BatchStrategy.PARALLEL, BatchStrategy.SMART_ROUTING]
)
async def test_a_dropped_trading_socket_loses_no_order_and_places_none_twice(
    where: DropPoint,
    strategy: BatchStrategy,
    bus_config: GalFridayConfig,
    sim: RunningSim,
    client: Client,
    observer: Observer,
) -> None:
    config = ws_config(
        bus_config,
        sim,
        risk_check_enabled=False,
        placement_deadline_s=2.0,
        absent_margin_s=0.5,
    )
    _, runner = await start_router(config, client, prices=False)
    batch_id = f"drop-{where}-{strategy.value}"
    try:
        async with socket_dropped(sim, where):
            await submit(
                client, runner.subjects, batch_of(batch_id, filling_buys(ORDERS), strategy)
            )
            completed = await observer.completed(batch_id, timeout=40.0)
    finally:
        await runner.stop()
    counts = sim.exchange.request_counts()
    assert counts.get("ws:add_order", 0) + counts.get("ws:batch_add", 0) >= 1, counts
    ids = ledger_ids(sim)
    assert len(ids) == ORDERS, ids
    assert set(ids.values()) == {1}, "an order was placed twice"
    assert {entry.status for entry in sim.exchange.ledger()} == {"closed"}
    placed = {r.cl_ord_id: r.txid for r in completed.results if r.outcome is OrderOutcome.PLACED}
    assert completed.placed == ORDERS, completed.results
    assert placed == {entry.cl_ord_id: entry.txid for entry in sim.exchange.ledger()}


async def test_an_order_accepted_before_the_drop_is_found_in_the_executions_snapshot(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    """The status comes from the reconnected socket's ``executions`` snapshot: no REST
    OpenOrders/ClosedOrders polling for an order the snapshot shows."""
    config = ws_config(bus_config, sim, risk_check_enabled=False)
    _, runner = await start_router(config, client, prices=False)
    try:
        async with socket_dropped(sim, "after_accept"):
            batch = batch_of("drop-snapshot", filling_buys(3), BatchStrategy.SEQUENTIAL)
            await submit(client, runner.subjects, batch)
            completed = await observer.completed("drop-snapshot", timeout=20.0)
    finally:
        await runner.stop()
    assert completed.placed == 3, completed.results
    assert set(ledger_ids(sim).values()) == {1}
    placed = {r.cl_ord_id: r.txid for r in completed.results if r.outcome is OrderOutcome.PLACED}
    assert placed == {entry.cl_ord_id: entry.txid for entry in sim.exchange.ledger()}
    counts = sim.exchange.request_counts()
    assert counts.get("OpenOrders", 0) + counts.get("ClosedOrders", 0) == 0, counts
