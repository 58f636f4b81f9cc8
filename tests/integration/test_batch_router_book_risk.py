"""The real router prices market orders by walking the L2 book market-data publishes (issue 15,
point 6): a big market buy on a thin book is refused by the collar, a small one is placed."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from nats.aio.client import Client

from actors.batch_router.shell import BatchRouterActor
from bus import Subjects, encode
from kraken.sim import RunningSim
from schemas import GalFridayConfig
from schemas.events import BookLevel, BookUpdated, EventDeadLettered, OrderOutcome
from schemas.orders import BatchStrategy
from tests.integration.test_batch_router_actor import (
    BTC_PRICE,
    Observer,
    batch_of,
    router_config,
    sim,
    start_router,
    submit,
)
from tests.integration.test_router_hostile_input import market_buy, observer

pytestmark = [pytest.mark.nats, pytest.mark.sim]
__all__ = ["observer", "sim"]  # fixtures shared with the router actor and hostile-input tests


def thin_book() -> BookUpdated:
    """1.03 BTC offered: 0.01 at 100 010, 0.02 at 100 500, then 1 at 110 000 (10 % up)."""
    return BookUpdated(
        ts_event=1,
        ts_init=1,
        pair="BTC/USD",
        bids=(BookLevel(Decimal(99_990), Decimal(1)),),
        asks=(
            BookLevel(Decimal(100_010), Decimal("0.01")),
            BookLevel(Decimal(100_500), Decimal("0.02")),
            BookLevel(Decimal(110_000), Decimal(1)),
        ),
        mid=BTC_PRICE,
        spread=Decimal(20),
        checksum=0,
    )


async def publish_book(actor: BatchRouterActor, client: Client, subjects: Subjects) -> None:
    # Core NATS: repeated until the router has it (its subscription may reach the server late).
    async with asyncio.timeout(10):
        while actor.market.book("BTC/USD") is None:
            await client.publish(subjects.book("BTC/USD"), encode(thin_book()))
            await asyncio.sleep(0.05)


async def test_a_market_buy_walking_a_thin_book_beyond_the_collar_is_rejected(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    """0.5 BTC walks to an average of 109 420.2 (9.4 % over the mid); 0.005 BTC pays 100 010.
    At the mid both are well within every limit, so without the book both would be sent."""
    limits = {"max_order_notional": Decimal(10**6), "max_batch_exposure": Decimal(10**6)}
    config = router_config(bus_config, sim, **limits)
    actor, runner = await start_router(config, client, prices=True)
    try:
        await publish_book(actor, client, runner.subjects)
        orders = [market_buy("walk-big", volume="0.5"), market_buy("walk-small", volume="0.005")]
        await submit(client, runner.subjects, batch_of("walk", orders, BatchStrategy.SEQUENTIAL))
        completed = await observer.completed("walk")
    finally:
        await runner.stop()
    big, small = completed.results
    assert big.outcome is OrderOutcome.REJECTED
    assert (big.reason or "").startswith(
        "risk_price_collar: a market buy of 0.5 BTC/USD walks the book to an average 109420.2 "
        "(worst level 110000), 9.4202% from the reference price 100000"
    )
    assert small.outcome is OrderOutcome.PLACED, small.reason
    assert [entry.cl_ord_id for entry in sim.exchange.ledger()] == ["walk-small"]


async def test_a_batch_published_on_a_book_subject_is_dead_lettered_never_executed(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    config = router_config(bus_config, sim)
    _, runner = await start_router(config, client, prices=True)
    subjects = runner.subjects
    forged = batch_of("on-book", [market_buy("on-book-1")], BatchStrategy.SEQUENTIAL)

    def dead_lettered() -> list[EventDeadLettered]:
        return [
            e
            for e in observer.of_type(EventDeadLettered)
            if "unexpected_type_for_subject" in e.reason
        ]

    try:
        # Core NATS: repeated until the router's subscription has it.
        async with asyncio.timeout(10):
            while not dead_lettered():
                await client.publish(subjects.book("BTC/USD"), encode(forged))
                await asyncio.sleep(0.05)
    finally:
        await runner.stop()
    assert {e.subject for e in dead_lettered()} == {subjects.book("BTC/USD")}
    assert sim.exchange.ledger() == []
