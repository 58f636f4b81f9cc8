"""Recovery against the simulator (issue 12): a resumed batch is looked up with a few calls,
decided outcomes stay final, and a restart does not cost orders."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import pytest_asyncio

from actors.batch_router.kraken_gateway import KrakenGateway
from actors.batch_router.processor import OptimizedBatchProcessor
from kraken.pairs import PairRegistry
from kraken.rest import KrakenRestClient
from kraken.result import KrakenOk
from kraken.sim import RunningSim, SimOptions, running_sim
from schemas.config import ExecutionConfig, KrakenConfig
from schemas.events import KrakenCallFailed, KrakenCallSucceeded, OrderOutcome
from schemas.orders import BatchStrategy, OrderRequest, OrderSide, OrderType
from tests.integration.test_batch_router_actor import sim_credentials
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
