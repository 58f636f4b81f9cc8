"""A client-supplied ``cl_ord_id`` is executed once, against a real nats-server and the
simulator, with market orders that FILL: Kraken accepts an id again once its order closed, so
an order reusing it would really be placed a second time."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client
from nats.js.kv import KeyValue

from actors.batch_router.client_id_claims import ClientIdClaims
from actors.batch_router.shell import BatchRouterActor
from bus import ActorRunner
from bus.clock import ManualClock
from bus.jetstream import ensure_key_value
from kraken.credentials import Credentials
from kraken.sim import (
    DEFAULT_API_KEY,
    AccountSetup,
    RunningSim,
    Scenario,
    SimOptions,
    running_sim,
)
from schemas import GalFridayConfig
from schemas.events import OrderOutcome, OrderRejected
from schemas.orders import BatchStrategy
from tests.integration.test_batch_router_actor import (
    SIM_PRICES,
    Observer,
    batch_of,
    ledger_ids,
    start_router,
    submit,
)
from tests.integration.test_batch_router_exactly_once import fast_config, market_buy

pytestmark = [pytest.mark.nats, pytest.mark.sim]

SECOND_KEY = "desk-1b-client-ids"
SECOND_SECRET = base64.b64encode(b"second-router-client-ids".ljust(64, b"c")).decode()
_DAY_S = 86_400.0


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    second = AccountSetup(key=SECOND_KEY, secret=SECOND_SECRET, account_of=DEFAULT_API_KEY)
    options = SimOptions(auto_tick=False, seed=11, scenario=Scenario(accounts=(second,)))
    async with running_sim(options) as running:
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
    from bus import Subjects

    seen = Observer()
    subjects = Subjects(subject_root)
    for subject in (subjects.order_events_all(), subjects.batch_completed()):
        await client.subscribe(subject, cb=seen.on_message)
    return seen


def _add_orders(sim: RunningSim) -> int:
    return sim.exchange.placement_requests()


async def test_a_client_cl_ord_id_used_by_an_earlier_batch_is_rejected_and_not_sent(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    """Batch ``first`` fills a market order ``desk-7``; batch ``second`` reuses ``desk-7``
    (its other order is fine): that order gets ``duplicate_cl_ord_id`` and never reaches the
    exchange, the other one is placed."""
    _, runner = await start_router(fast_config(bus_config, sim), client, prices=False)
    try:
        first = batch_of("first", [market_buy(cl_ord_id="desk-7")], BatchStrategy.SEQUENTIAL)
        await submit(client, runner.subjects, first)
        await observer.completed("first")
        sent_before = _add_orders(sim)
        orders = [market_buy(cl_ord_id="desk-7"), market_buy(cl_ord_id="desk-8")]
        await submit(client, runner.subjects, batch_of("second", orders, BatchStrategy.SEQUENTIAL))
        completed = await observer.completed("second")
    finally:
        await runner.stop()
    assert ledger_ids(sim) == {"desk-7": 1, "desk-8": 1}
    assert _add_orders(sim) == sent_before + 1  # desk-8 only
    [reused, fresh] = completed.results
    assert reused.outcome is OrderOutcome.REJECTED
    assert (reused.reason or "").startswith("duplicate_cl_ord_id")
    assert "'first'" in (reused.reason or "")
    assert fresh.outcome is OrderOutcome.PLACED
    [rejected] = [e for e in observer.of_type(OrderRejected) if e.batch_id == "second"]
    assert rejected.cl_ord_id == "desk-7"
    assert rejected.category == "local"


async def test_two_routers_never_both_execute_one_client_cl_ord_id(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    """Two routers (one API key each, one account) and four batches submitted at once, all
    with client id ``desk-9``: exactly one fill on the ledger, three reasoned rejections."""
    config = fast_config(bus_config, sim)
    _, first = await start_router(config, client, prices=False)
    second = ActorRunner(
        BatchRouterActor(
            config=config, credentials=Credentials(api_key=SECOND_KEY, api_secret=SECOND_SECRET)
        ),
        config,
    )
    await second.start()
    batch_ids = [f"race-{n}" for n in range(4)]
    try:
        await asyncio.gather(
            *(
                submit(
                    client,
                    first.subjects,
                    batch_of(batch_id, [market_buy(cl_ord_id="desk-9")], BatchStrategy.PARALLEL),
                )
                for batch_id in batch_ids
            )
        )
        results = [(await observer.completed(batch_id)).results[0] for batch_id in batch_ids]
    finally:
        await second.stop()
        await first.stop()
    assert ledger_ids(sim) == {"desk-9": 1}
    outcomes = sorted(result.outcome for result in results)
    assert outcomes == sorted([OrderOutcome.PLACED] + [OrderOutcome.REJECTED] * 3)
    rejected = [r for r in results if r.outcome is OrderOutcome.REJECTED]
    assert all((r.reason or "").startswith("duplicate_cl_ord_id") for r in rejected)


# -- the claims on a real KV bucket (time injected) --------------------------------------------


@pytest_asyncio.fixture
async def store(bus_config: GalFridayConfig, subject_root: str) -> AsyncIterator[KeyValue]:
    connection = await nats.connect(bus_config.nats.url)
    yield await ensure_key_value(connection.jetstream(), f"{subject_root}_client_ids", ttl_s=3600)
    await connection.drain()


def _claims(store: KeyValue, batch_id: str, run_id: str, clock: ManualClock) -> ClientIdClaims:
    return ClientIdClaims(
        store, batch_id=batch_id, run_id=run_id, clock=clock, retention_s=30 * _DAY_S
    )


async def test_of_many_runs_claiming_one_id_at_once_exactly_one_wins(store: KeyValue) -> None:
    clock = ManualClock()
    answers = await asyncio.gather(
        *(_claims(store, f"b{n}", f"r{n}", clock).claim({0: "desk-race"}) for n in range(10))
    )
    assert sum(1 for answer in answers if not answer) == 1
    assert all(answer[0].startswith("duplicate_cl_ord_id") for answer in answers if answer)


async def test_the_run_that_took_an_id_takes_it_again_on_resume(store: KeyValue) -> None:
    clock = ManualClock()
    assert await _claims(store, "b", "run-1", clock).claim({0: "desk-own", 1: "desk-two"}) == {}
    assert await _claims(store, "b", "run-1", clock).claim({0: "desk-own", 1: "desk-two"}) == {}
    again = await _claims(store, "b", "run-2", clock).claim({3: "desk-own"})
    assert list(again) == [3]  # the same batch id run again is another execution


async def test_an_id_is_free_again_after_the_retention(store: KeyValue) -> None:
    clock = ManualClock()
    assert await _claims(store, "old", "r1", clock).claim({0: "desk-old"}) == {}
    clock.advance(29 * _DAY_S)
    assert list(await _claims(store, "new", "r2", clock).claim({0: "desk-old"})) == [0]
    clock.advance(2 * _DAY_S)
    assert await _claims(store, "new", "r2", clock).claim({0: "desk-old"}) == {}
    assert list(await _claims(store, "old", "r1", clock).claim({0: "desk-old"})) == [0]
