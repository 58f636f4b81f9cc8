"""Exactly-once placement against a real nats-server and the simulator, with orders that FILL
(Kraken's ``cl_ord_id`` is unique only among open orders, so a second placement of a filled
order would really land): late-landing orders, reconciliation tied to the request, batch ids
executed once, ownership fencing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal

import msgspec
import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client

from actors.batch_router.shell import BatchRouterActor
from bus import ActorRunner, Subjects, encode
from bus.jetstream import MSG_ID_HEADER
from kraken.sim import LateLandingFault, RunningSim, SimOptions, running_sim
from schemas import ConfigError, GalFridayConfig
from schemas.config import OrderEntry
from schemas.events import BatchCompleted, BatchRejected, OrderOutcome
from schemas.orders import BatchStrategy, OrderRequest, OrderSide, OrderType
from tests.integration.test_batch_router_actor import (
    SIM_PRICES,
    Observer,
    batch_of,
    ledger_ids,
    router_config,
    sim_credentials,
    start_router,
    submit,
)
from tests.support.sim import SimClient
from tests.support.waiting import eventually

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


# -- batch ids executed once --------------------------------------------------------------------


async def test_same_batch_id_after_the_dedup_window_is_rejected_and_sends_nothing(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    """A second publish the stream's duplicate window no longer catches (another msg id here):
    refused at once with ``duplicate_batch_id``; no order reaches the exchange."""
    _, runner = await start_router(fast_config(bus_config, sim), client, prices=False)
    try:
        batch = batch_of("once", [market_buy(), market_buy()], BatchStrategy.SEQUENTIAL)
        await submit(client, runner.subjects, batch)
        await observer.completed("once")
        add_calls = sim.exchange.placement_requests()
        await client.jetstream().publish(
            runner.subjects.batch_requested(),
            encode(batch),
            headers={MSG_ID_HEADER: "once-again-after-the-window"},
        )
        await eventually(lambda: bool(observer.of_type(BatchRejected)), timeout=20)
    finally:
        await runner.stop()
    [rejected] = observer.of_type(BatchRejected)
    assert rejected.reason.startswith("duplicate_batch_id")
    assert len(sim.exchange.ledger()) == 2
    assert sim.exchange.placement_requests() == add_calls
    assert len(observer.of_type(BatchCompleted)) == 1


# -- reconciliation tied to the request ---------------------------------------------------------


class ShiftedClock:
    """The sim's clock: the system clock plus an offset the test moves."""

    def __init__(self, offset_s: float) -> None:
        self.offset_ns = int(offset_s * 1e9)

    def __call__(self) -> int:
        return time.time_ns() + self.offset_ns


@pytest.mark.parametrize("order_entry", [OrderEntry.REST, OrderEntry.WS])
async def test_older_order_sharing_a_client_cl_ord_id_is_never_taken_for_ours(
    order_entry: OrderEntry, bus_config: GalFridayConfig, client: Client, observer: Observer
) -> None:
    """A client reuses ``cl_ord_id`` ``desk-1`` of an order filled a minute ago. The new
    placement's answer is lost and it reaches the engine after its deadline (refused). The
    router must not report the old order as this batch's: it proves its own absent and sends
    it again."""
    clock = ShiftedClock(-60)
    async with running_sim(SimOptions(auto_tick=False, seed=11, clock=clock)) as sim:
        sim.exchange.set_price("BTC/USD", SIM_PRICES["BTC/USD"])
        async with SimClient(sim) as kraken:
            old = await kraken.private(
                "AddOrder",
                {
                    "pair": "XBTUSD",
                    "type": "buy",
                    "ordertype": "market",
                    "volume": "0.001",
                    "cl_ord_id": "desk-1",
                },
            )
        [old_txid] = old["result"]["txid"]
        clock.offset_ns = 0
        sim.exchange.faults.add(LateLandingFault(hold_s=4.0, answer="drop", calls=1))
        config = fast_config(bus_config, sim)
        config = msgspec.structs.replace(
            config, kraken=msgspec.structs.replace(config.kraken, order_entry=order_entry)
        )
        _, runner = await start_router(config, client, prices=False)
        try:
            orders = [market_buy(cl_ord_id="desk-1")]
            await submit(
                client, runner.subjects, batch_of("reuse", orders, BatchStrategy.SEQUENTIAL)
            )
            completed = await observer.completed("reuse", timeout=30.0)
        finally:
            await runner.stop()
        ledger = {entry.txid: entry for entry in sim.exchange.ledger()}
    [result] = completed.results
    assert result.txid != old_txid
    # The first send was refused by the engine (deadline); once proven absent it was sent
    # again and placed: that new order, never the old one, is reported.
    assert result.outcome is OrderOutcome.PLACED
    assert list(ledger) == [old_txid, result.txid]


# -- one process per API key --------------------------------------------------------------------


async def test_second_router_on_the_same_api_key_refuses_to_start(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client
) -> None:
    """Two processes signing with one key would collide on nonces: the second one refuses."""
    config = fast_config(bus_config, sim, batch_ack_wait_s=1.0)
    _, first = await start_router(config, client, prices=False)
    second = ActorRunner(BatchRouterActor(config=config, credentials=sim_credentials()), config)
    try:
        with pytest.raises(ConfigError, match="own KRAKEN_API_KEY"):
            await second.start()
    finally:
        await second.stop()
        await first.stop()
