"""The router meets a partially filled order: its AddOrder answer is lost, the lookup finds it
open with part of it filled, and it is reported placed (reconciled), never placed again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import msgspec
import pytest
import pytest_asyncio
from nats.aio.client import Client

from kraken.sim import BookProfile, LoseResponseFault, RunningSim, SimOptions, running_sim
from schemas import GalFridayConfig
from schemas.events import OrderOutcome, OrderPlaced
from schemas.orders import BatchStrategy
from tests.integration.test_batch_router_actor import (
    SIM_PRICES,
    Observer,
    batch_of,
    ledger_ids,
    observer,
    resting_buy,
    router_config,
    start_router,
    submit,
)

pytestmark = [pytest.mark.nats, pytest.mark.sim]
__all__ = ["observer"]  # a fixture shared with the router's actor tests

# Two asks of 0.0005 BTC: a 0.002 BTC buy through them fills 0.001 and rests the rest.
THIN = BookProfile(levels=2, size_min=10, size_max=10)


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with running_sim(SimOptions(auto_tick=False, seed=11, book_profile=THIN)) as running:
        for pair, price in SIM_PRICES.items():
            running.exchange.set_price(pair, price)
        yield running


async def test_partially_filled_order_with_a_lost_answer_is_reconciled_not_replaced(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    sim.exchange.faults.add(LoseResponseFault(endpoints=("AddOrder",), mode="http_502", calls=1))
    config = router_config(bus_config, sim, risk_check_enabled=False, reconcile_attempts=3)
    crossing = msgspec.structs.replace(
        resting_buy(volume="0.002"), price=SIM_PRICES["BTC/USD"] + Decimal(10)
    )
    _, runner = await start_router(config, client, prices=False)
    try:
        await submit(
            client, runner.subjects, batch_of("partial", [crossing], BatchStrategy.SEQUENTIAL)
        )
        completed = await observer.completed("partial", timeout=40.0)
    finally:
        await runner.stop()
    assert [r.outcome for r in completed.results] == [OrderOutcome.PLACED]
    [placed] = observer.of_type(OrderPlaced)
    assert placed.reconciled
    assert set(ledger_ids(sim).values()) == {1}  # placed once, never again
    [order] = sim.exchange.orders.values()
    assert order.txid == placed.txid
    assert order.status == "open"
    assert order.vol_exec == Decimal("0.001") < order.intent.volume
