"""Exactly-once placement against a real nats-server and the simulator, with orders that FILL
(Kraken's ``cl_ord_id`` is unique only among open orders, so a second placement of a filled
order would really land): late-landing orders, reconciliation tied to the request, batch ids
executed once, ownership fencing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import msgspec
import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client

from bus import Subjects
from kraken.sim import LateLandingFault, RunningSim, SimOptions, running_sim
from schemas import GalFridayConfig
from schemas.events import OrderOutcome
from schemas.orders import BatchStrategy, OrderRequest, OrderSide, OrderType
from tests.integration.test_batch_router_actor import (
    SIM_PRICES,
    Observer,
    batch_of,
    ledger_ids,
    router_config,
    start_router,
    submit,
)

pytestmark = [pytest.mark.nats, pytest.mark.sim]


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with running_sim(SimOptions(auto_tick=False, seed=11)) as running:
        for pair, price in SIM_PRICES.items():
            running.exchange.set_price(pair, price)
        yield running


@pytest_asyncio.fixture
async def client(bus_config: GalFridayConfig) -> AsyncIterator[Client]:
    connection = await nats.connect(bus_config.nats.url)
    yield connection
    await connection.drain()


@pytest_asyncio.fixture
async def observer(client: Client, subject_root: str) -> Observer:
    seen = Observer()
    subjects = Subjects(subject_root)
    for subject in (
        subjects.order_events_all(),
        subjects.batch_completed(),
        subjects.batch_rejected(),
    ):
        await client.subscribe(subject, cb=seen.on_message)
    return seen


def market_buy(volume: str = "0.001", **changes: object) -> OrderRequest:
    """Fills at once on the sim: a second placement of it would be a second fill."""
    order = OrderRequest(
        pair="BTC/USD", side=OrderSide.BUY, order_type=OrderType.MARKET, volume=Decimal(volume)
    )
    return msgspec.structs.replace(order, **changes)


def fast_config(
    bus_config: GalFridayConfig, sim: RunningSim, **execution: object
) -> GalFridayConfig:
    settings: dict[str, object] = {
        "risk_check_enabled": False,
        "placement_deadline_s": 3.0,
        "absent_margin_s": 0.5,
        **execution,
    }
    config = router_config(bus_config, sim, **settings)
    return msgspec.structs.replace(
        config, kraken=msgspec.structs.replace(config.kraken, request_timeout_s=1.0)
    )


async def test_order_landing_after_its_answer_was_lost_is_reported_placed(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    """The answer is lost and the engine takes the order 2 s later (inside its 3 s deadline):
    the order is not called absent before deadline + margin, so it is found, not failed."""
    sim.exchange.faults.add(LateLandingFault(hold_s=2.0, answer="drop", calls=1))
    _, runner = await start_router(fast_config(bus_config, sim), client, prices=False)
    try:
        await submit(
            client, runner.subjects, batch_of("late", [market_buy()], BatchStrategy.SEQUENTIAL)
        )
        completed = await observer.completed("late", timeout=30.0)
    finally:
        await runner.stop()
    ids = ledger_ids(sim)
    assert set(ids.values()) == {1}
    assert [entry.status for entry in sim.exchange.ledger()] == ["closed"]
    [result] = completed.results
    assert result.outcome is OrderOutcome.PLACED
    assert {result.cl_ord_id} == set(ids)


async def test_order_landing_after_its_deadline_is_refused_and_reported_not_placed(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    """Held 4 s, deadline 3 s: the engine refuses it; the router sees it absent only after the
    deadline passed, and never reports an order the exchange does not have."""
    sim.exchange.faults.add(LateLandingFault(hold_s=4.0, answer="drop", calls=1))
    _, runner = await start_router(fast_config(bus_config, sim), client, prices=False)
    try:
        await submit(
            client, runner.subjects, batch_of("too-late", [market_buy()], BatchStrategy.SEQUENTIAL)
        )
        completed = await observer.completed("too-late", timeout=30.0)
    finally:
        await runner.stop()
    placed = [r.cl_ord_id for r in completed.results if r.outcome is OrderOutcome.PLACED]
    assert sorted(placed) == sorted(entry.cl_ord_id for entry in sim.exchange.ledger())
    assert len(sim.exchange.ledger()) <= 1
