"""Recovery against the simulator (issue 12): a resumed batch is looked up with a few calls,
decided outcomes stay final, and a restart does not cost orders."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal

import nats
import pytest
import pytest_asyncio
from nats.aio.msg import Msg

from actors.batch_router.kraken_gateway import KrakenGateway
from actors.batch_router.ports import OrderLookup
from actors.batch_router.processor import OptimizedBatchProcessor
from bus import MESSAGES, Subjects, encode
from kraken.pairs import PairRegistry
from kraken.rest import KrakenRestClient
from kraken.result import KrakenOk
from kraken.send_deadline import SendDeadline
from kraken.sim import LoseResponseFault, RunningSim, SimOptions, running_sim
from schemas import GalFridayConfig
from schemas.config import ExecutionConfig, KrakenConfig
from schemas.events import KrakenCallFailed, KrakenCallSucceeded, OrderOutcome
from schemas.orders import BatchStrategy, OrderRequest, OrderSide, OrderType
from schemas.queries import PriceQuery, PriceQueryReply
from tests.integration.test_batch_router_actor import (
    Observer,
    batch_of,
    price_event,
    router_config,
    sim_credentials,
    start_router,
    submit,
)
from tests.support.batch_router_doubles import (
    BreakerDouble,
    FakeClock,
    MarketDouble,
    SinkDouble,
    VerdictDouble,
)

pytestmark = [pytest.mark.sim]

LOOKUP_ENDPOINTS = frozenset({"OpenOrders", "ClosedOrders", "QueryOrders"})


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with running_sim(SimOptions(auto_tick=False, seed=3, tier="pro")) as running:
        running.exchange.set_price("BTC/USD", Decimal(100_000))
        yield running


def _market_buy() -> OrderRequest:
    return OrderRequest(
        pair="BTC/USD", side=OrderSide.BUY, order_type=OrderType.MARKET, volume=Decimal("0.0001")
    )


class _Wired:
    def __init__(self, sim: RunningSim) -> None:
        self.calls: list[KrakenCallSucceeded | KrakenCallFailed] = []
        self.client = KrakenRestClient(
            KrakenConfig(rest_url=sim.rest_url, tier="pro"),
            credentials=sim_credentials(),
            on_call=self.calls.append,
        )
        self.sink = SinkDouble()

    async def processor(self) -> OptimizedBatchProcessor:
        await self.client.open()
        pairs = await self.client.asset_pairs()
        assert isinstance(pairs, KrakenOk)
        registry = PairRegistry(pairs.value)
        self.client.pairs = registry
        fake = FakeClock()
        return OptimizedBatchProcessor(
            ExecutionConfig(
                risk_check_enabled=False,
                placement_deadline_s=2.0,
                absent_margin_s=0.2,
                reconcile_delay_s=0.05,
            ),
            KrakenGateway(self.client, registry, time.time_ns),
            VerdictDouble(),
            BreakerDouble(fake),
            MarketDouble(fake),
            self.sink,
            time.time_ns,
            asyncio.sleep,
        )

    def lookups(self) -> int:
        return sum(1 for call in self.calls if call.endpoint in LOOKUP_ENDPOINTS)


async def test_resume_looks_a_whole_batch_up_with_a_few_calls(sim: RunningSim) -> None:
    """20 orders resumed, 10 of them placed by the crashed run: not two calls per order but
    one OpenOrders and a ClosedOrders page (time-bounded by the run start)."""
    wired = _Wired(sim)
    processor = await wired.processor()
    run_started_ns = time.time_ns()
    try:
        first = await processor.process_batch_orders(
            [_market_buy()] * 10,
            BatchStrategy.SEQUENTIAL,
            batch_id="bulk",
            run_id="r1",
            run_started_ns=run_started_ns,
        )
        assert first.placed == 10
        wired.calls.clear()
        resumed = await processor.process_batch_orders(
            [_market_buy()] * 20,
            BatchStrategy.SEQUENTIAL,
            batch_id="bulk",
            run_id="r1",
            run_started_ns=run_started_ns,
            resume=True,
        )
    finally:
        await wired.client.close()
    assert resumed.placed == 20
    assert sum(1 for r in resumed.results if r.outcome is OrderOutcome.PLACED) == 20
    per_id = Counter(entry.cl_ord_id for entry in sim.exchange.ledger())
    assert len(per_id) == 20
    assert set(per_id.values()) == {1}
    assert wired.lookups() <= 3, [call.endpoint for call in wired.calls]


@pytest.mark.nats
async def test_batch_right_after_a_restart_is_priced_by_a_warm_up_query(
    bus_config: GalFridayConfig, sim: RunningSim
) -> None:
    """No price event has reached the freshly started router; market-data answers the price
    query: the batch is risk-checked against that quote, not rejected ``risk_reference_missing``."""
    client = await nats.connect(bus_config.nats.url)
    subjects = Subjects(bus_config.nats.subject_root)
    observer = Observer()
    await client.subscribe(subjects.order_events_all(), cb=observer.on_message)
    await client.subscribe(subjects.batch_completed(), cb=observer.on_message)
    quote = price_event("BTC/USD", Decimal(100_000))

    async def answer(msg: Msg) -> None:
        query = MESSAGES.decode(msg.data)
        assert isinstance(query, PriceQuery)
        reply = PriceQueryReply(pair=query.pair, quote=quote, age_ns=0, stale=False)
        await msg.respond(encode(reply))

    await client.subscribe(subjects.price_query(), cb=answer)
    config = router_config(bus_config, sim, risk_check_enabled=True)
    _, runner = await start_router(config, client, prices=False)
    try:
        order = OrderRequest(
            pair="BTC/USD",
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            volume=Decimal("0.001"),
            price=Decimal(99_000),
        )
        await submit(client, subjects, batch_of("warm", [order], BatchStrategy.SEQUENTIAL))
        completed = await observer.completed("warm", timeout=30.0)
    finally:
        await runner.stop()
        await client.drain()
    [result] = completed.results
    assert result.outcome is OrderOutcome.PLACED, result.reason


async def test_a_held_placement_answer_does_not_hold_the_key_past_its_deadline(
    sim: RunningSim,
) -> None:
    """Nonce window 0: private calls on one key are serialized. The venue holds an AddOrder
    answer for two minutes (the client would wait ``request_timeout_s``, 120 s here); since the
    order cannot land after its Kraken deadline, the client stops waiting shortly after that
    deadline and the next private call goes through long before the held answer would."""
    sim.exchange.faults.add(LoseResponseFault(mode="timeout", hold_s=120.0, calls=1))
    client = KrakenRestClient(
        KrakenConfig(rest_url=sim.rest_url, tier="pro", request_timeout_s=120.0),
        credentials=sim_credentials(),
    )
    async with client:
        held = asyncio.create_task(
            client.add_order(
                pair="XBTUSD",
                side="buy",
                ordertype="market",
                volume=Decimal("0.0001"),
                cl_ord_id="held-0",
                deadline=SendDeadline(2 * 1_000_000_000),
            )
        )
        await asyncio.sleep(0.2)  # the held call owns the key's send lock now
        async with asyncio.timeout(30.0):  # far under the 120 s the held answer takes
            balance = await client.balance()
            answer = await held
    assert isinstance(balance, KrakenOk)
    assert not isinstance(answer, KrakenOk)
    assert answer.outcome_unknown


async def test_an_order_queued_behind_a_held_answer_gets_its_deadline_when_signed(
    sim: RunningSim,
) -> None:
    """Nonce window 0: a second AddOrder waits for the key's send lock while the first one's
    answer is held (about 3 s, until that order's deadline + margin). The second order's 2 s
    deadline is stamped when it is signed, after the wait, so the engine takes it."""
    sim.exchange.faults.add(LoseResponseFault(mode="timeout", hold_s=120.0, calls=1))
    client = KrakenRestClient(
        KrakenConfig(rest_url=sim.rest_url, tier="pro", request_timeout_s=120.0),
        credentials=sim_credentials(),
    )
    queued_deadline = SendDeadline(2 * 1_000_000_000)
    async with client:
        held = asyncio.create_task(
            client.add_order(
                pair="XBTUSD",
                side="buy",
                ordertype="market",
                volume=Decimal("0.0001"),
                cl_ord_id="held-1",
                deadline=SendDeadline(2 * 1_000_000_000),
            )
        )
        await asyncio.sleep(0.2)  # the held call owns the key's send lock now
        queued_at_ns = time.time_ns()
        async with asyncio.timeout(30.0):
            queued = await client.add_order(
                pair="XBTUSD",
                side="buy",
                ordertype="market",
                volume=Decimal("0.0001"),
                cl_ord_id="queued-1",
                deadline=queued_deadline,
            )
            await held
    assert isinstance(queued, KrakenOk), queued
    assert queued_deadline.sent_ns is not None
    assert queued_deadline.sent_ns > queued_at_ns + 2 * 1_000_000_000  # stamped after the wait
    assert [e.status for e in sim.exchange.ledger() if e.cl_ord_id == "queued-1"] == ["closed"]


async def test_a_few_missing_orders_among_many_closed_ones_are_asked_for_by_id(
    sim: RunningSim,
) -> None:
    """200 other orders closed since the run began: paging through them all would cost five
    ClosedOrders pages; the two orders not on the first page are asked for by id instead."""
    wired = _Wired(sim)
    await wired.processor()
    since_ns = time.time_ns()
    try:
        for n in range(201):
            placed = await wired.client.add_order(
                pair="XBTUSD",
                side="buy",
                ordertype="market",
                volume=Decimal("0.0001"),
                cl_ord_id=f"other-{n}" if n < 200 else "ours-0",
            )
            assert isinstance(placed, KrakenOk)
        gateway = KrakenGateway(wired.client, wired.client.pairs or PairRegistry({}), time.time_ns)
        wired.calls.clear()
        answers = await gateway.find_orders(
            [
                OrderLookup(
                    cl_ord_id=cl_ord_id,
                    pair="BTC/USD",
                    side="buy",
                    volume=Decimal("0.0001"),
                    opened_after_ns=since_ns - 2_000_000_000,
                )
                for cl_ord_id in ("ours-0", "ours-1", "ours-2")
            ]
        )
    finally:
        await wired.client.close()
    assert answers["ours-0"].found
    assert not answers["ours-1"].found
    assert not answers["ours-1"].lookup_failed
    assert not answers["ours-2"].found
    assert wired.lookups() <= 4, [call.endpoint for call in wired.calls]
