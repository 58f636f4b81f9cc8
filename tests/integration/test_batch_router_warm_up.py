"""The price warm-up of a batch is no extra serial bus round trip before its order (issue 14
item 2): it runs beside the batch claim, and a market-data that does not answer is not asked
again for every batch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import pytest_asyncio
from nats.aio.client import Client
from nats.aio.msg import Msg

from actors.batch_router.batch_claims import claim_key
from bus import MESSAGES, Subjects, encode
from bus.jetstream import BATCHES_BUCKET
from kraken.sim import RunningSim, SimOptions, running_sim
from schemas import GalFridayConfig
from schemas.events import OrderOutcome
from schemas.orders import BatchStrategy
from schemas.queries import PriceQuery, PriceQueryReply
from tests.integration.test_batch_router_actor import (
    Observer,
    batch_of,
    price_event,
    resting_buy,
    router_config,
    start_router,
    submit,
)

pytestmark = [pytest.mark.nats, pytest.mark.sim]

BTC_PRICE = Decimal(100_000)


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with running_sim(SimOptions(auto_tick=False, seed=11)) as running:
        running.exchange.set_price("BTC/USD", BTC_PRICE)
        yield running


@pytest_asyncio.fixture
async def observer(client: Client, subject_root: str) -> Observer:
    seen = Observer()
    subjects = Subjects(subject_root)
    await client.subscribe(subjects.batch_completed(), cb=seen.on_message)
    return seen


async def test_the_batch_is_claimed_while_its_price_query_is_open(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    """market-data holds its answer until it sees the batch's claim stored: the claim must not
    wait for the price (today's code claimed only after the warm-up, one round trip later)."""
    subjects = Subjects(bus_config.nats.subject_root)
    claimed_before_answer: list[bool] = []

    async def answer_once_claimed(msg: Msg) -> None:
        query = MESSAGES.decode(msg.data)
        assert isinstance(query, PriceQuery)
        claims = await client.jetstream().key_value(subjects.bucket_name(BATCHES_BUCKET))
        seen = False
        for _ in range(100):  # up to ~2 s, well inside the router's verdict timeout
            try:
                await claims.get(claim_key("warm-beside-claim"))
                seen = True
                break
            except Exception:  # not stored yet
                await asyncio.sleep(0.02)
        claimed_before_answer.append(seen)
        quote = price_event(query.pair, BTC_PRICE)
        await msg.respond(
            encode(PriceQueryReply(pair=query.pair, quote=quote, age_ns=0, stale=False))
        )

    await client.subscribe(subjects.price_query(), cb=answer_once_claimed)
    config = router_config(bus_config, sim, risk_check_enabled=True, verdict_timeout_s=10.0)
    _, runner = await start_router(config, client, prices=False)
    try:
        batch = batch_of("warm-beside-claim", [resting_buy()], BatchStrategy.SEQUENTIAL)
        await submit(client, subjects, batch)
        completed = await observer.completed("warm-beside-claim", timeout=30.0)
    finally:
        await runner.stop()
    assert claimed_before_answer == [True]
    [result] = completed.results
    assert result.outcome is OrderOutcome.PLACED, result.reason


async def test_a_silent_market_data_is_not_asked_again_for_every_batch(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    """A market-data that takes the price query but never answers costs one verdict timeout,
    not one per batch: the next batches within the back-off go ahead without asking."""
    subjects = Subjects(bus_config.nats.subject_root)
    queries: list[str] = []

    async def never_answer(msg: Msg) -> None:
        queries.append(msg.subject)

    await client.subscribe(subjects.price_query(), cb=never_answer)
    config = router_config(bus_config, sim, risk_check_enabled=False, verdict_timeout_s=0.3)
    _, runner = await start_router(config, client, prices=False)
    try:
        for n in range(3):
            batch_id = f"silent-{n}"
            await submit(
                client, subjects, batch_of(batch_id, [resting_buy()], BatchStrategy.SEQUENTIAL)
            )
            completed = await observer.completed(batch_id, timeout=30.0)
            assert completed.placed == 1, completed.results
    finally:
        await runner.stop()
    assert len(queries) == 1
