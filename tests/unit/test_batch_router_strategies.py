"""Each strategy's call order, grouping and concurrency bound."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from actors.batch_router import derive_cl_ord_id
from actors.batch_router.batch_sizing import ChunkPlan
from actors.batch_router.ports import OutcomeEvent
from actors.batch_router.strategies import split_evenly
from schemas.config import ExecutionConfig
from schemas.events import OrderOutcome, OrderPlaced
from schemas.orders import BatchStrategy, OrderSide
from tests.support.batch_router_doubles import (
    START_NS,
    limit_order,
    make_router,
    market_order,
    reject_verdict,
)


def _ids(batch_id: str, indices: range | list[int]) -> list[str]:
    return [derive_cl_ord_id(batch_id, index) for index in indices]


async def test_sequential_places_one_at_a_time_in_given_order() -> None:
    """SEQUENTIAL: single AddOrder calls in index order, never two in flight."""
    router = make_router()

    completed = await router.processor.process_batch_orders(
        [limit_order() for _ in range(5)], BatchStrategy.SEQUENTIAL, batch_id="s-seq"
    )

    assert router.exchange.calls == [("add_order", (i,)) for i in _ids("s-seq", range(5))]
    assert router.exchange.max_in_flight == 1
    assert completed.placed == 5


async def test_parallel_never_exceeds_parallel_limit() -> None:
    """PARALLEL: up to execution.parallel_limit orders in flight, and it does use them."""
    router = make_router(ExecutionConfig(parallel_limit=4))

    completed = await router.processor.process_batch_orders(
        [limit_order(volume="0.001") for _ in range(25)], BatchStrategy.PARALLEL, batch_id="s-par"
    )

    assert router.exchange.max_in_flight == 4
    assert completed.placed == 25
    assert sorted(ids for _, ids in router.exchange.calls) == sorted(
        (i,) for i in _ids("s-par", range(25))
    )


async def test_parallel_frees_an_exchange_place_when_the_answer_arrives() -> None:
    """With one place at the exchange, the second order goes out while the first one's
    outcome is still being recorded (publishing is not exchange time)."""
    router = make_router(ExecutionConfig(parallel_limit=1))
    sent_while_recording: list[int] = []
    record = router.sink.emit

    async def slow_emit(event: OutcomeEvent) -> None:
        if isinstance(event, OrderPlaced) and event.index == 0:
            await asyncio.sleep(0.01)
            sent_while_recording.append(router.exchange.call_count("add_order"))
        await record(event)

    router.sink.emit = slow_emit  # type: ignore[method-assign]

    completed = await router.processor.process_batch_orders(
        [limit_order(volume="0.001") for _ in range(2)], BatchStrategy.PARALLEL, batch_id="s-free"
    )

    assert completed.placed == 2
    assert sent_while_recording == [2]
    assert router.exchange.max_in_flight == 1


def test_split_evenly_avoids_a_lone_remainder() -> None:
    """16 orders become 8 + 8, 31 become 11 + 10 + 10, 15 stay one chunk."""
    assert [len(c) for c in split_evenly(list(range(16)), 15)] == [8, 8]
    assert [len(c) for c in split_evenly(list(range(31)), 15)] == [11, 10, 10]
    assert [len(c) for c in split_evenly(list(range(15)), 15)] == [15]
    assert split_evenly([], 15) == []


async def test_smart_routing_uses_batches_of_two_to_fifteen_and_singles() -> None:
    """SMART_ROUTING: per pair, 2-15 orders per AddOrderBatch, a lone order as AddOrder."""
    router = make_router(ExecutionConfig(max_batch_size=50))
    orders = (
        [limit_order("BTC/USD", volume="0.001") for _ in range(20)]
        + [limit_order("ETH/USD", price="3000")]
        + [limit_order("SOL/USD", price="100", volume="1") for _ in range(3)]
    )

    completed = await router.processor.process_batch_orders(
        orders, BatchStrategy.SMART_ROUTING, batch_id="s-smart"
    )

    batch_sizes = sorted(
        len(ids) for kind, ids in router.exchange.calls if kind == "add_order_batch"
    )
    singles = [ids for kind, ids in router.exchange.calls if kind == "add_order"]
    assert batch_sizes == [3, 10, 10]
    assert singles == [(derive_cl_ord_id("s-smart", 20),)]
    assert completed.placed == 24
    assert sorted(router.exchange.bookings) == sorted(_ids("s-smart", range(24)))


async def test_smart_routing_sends_a_pairs_chunks_one_after_another_without_a_plan() -> None:
    """REST (no chunk plan): signed calls go out one at a time per key anyway."""
    router = make_router(ExecutionConfig(max_batch_size=50))
    orders = [limit_order("BTC/USD", volume="0.001") for _ in range(45)]

    await router.processor.process_batch_orders(
        orders, BatchStrategy.SMART_ROUTING, batch_id="s-serial"
    )

    assert router.exchange.max_in_flight == 1


async def test_smart_routing_sends_a_pairs_chunks_together_as_the_plan_allows() -> None:
    """Over WS the gateway's plan (from the pair's trading budget) puts chunks in flight
    together: at most ``parallel`` at once, each at most ``chunk_size``, every order once."""
    router = make_router(ExecutionConfig(max_batch_size=50))
    router.exchange.chunk_plans["BTC/USD"] = ChunkPlan(chunk_size=15, parallel=2, wait_s=0.0)
    orders = [limit_order("BTC/USD", volume="0.001") for _ in range(45)]

    completed = await router.processor.process_batch_orders(
        orders, BatchStrategy.SMART_ROUTING, batch_id="s-chunks"
    )

    assert router.exchange.max_in_flight == 2
    sizes = [len(ids) for kind, ids in router.exchange.calls if kind == "add_order_batch"]
    assert sizes == [15, 15, 15]
    assert completed.placed == 45
    assert sorted(router.exchange.bookings) == sorted(_ids("s-chunks", range(45)))


async def test_smart_routing_shrinks_chunks_to_what_the_budget_affords() -> None:
    router = make_router(ExecutionConfig(max_batch_size=50))
    router.exchange.chunk_plans["BTC/USD"] = ChunkPlan(chunk_size=4, parallel=3, wait_s=0.0)
    orders = [limit_order("BTC/USD", volume="0.001") for _ in range(20)]

    completed = await router.processor.process_batch_orders(
        orders, BatchStrategy.SMART_ROUTING, batch_id="s-small"
    )

    sizes = [len(ids) for kind, ids in router.exchange.calls if kind == "add_order_batch"]
    assert sizes == [4] * 5
    assert router.exchange.max_in_flight == 3
    assert completed.placed == 20


async def test_smart_routing_keeps_its_chunks_one_after_another_while_the_budget_is_spent() -> None:
    """Nothing fits the counter now (``wait_s``): the chunks stay as planned and go one after
    another, paced by the client, rather than as many small ones."""
    router = make_router(ExecutionConfig(max_batch_size=50))
    router.exchange.chunk_plans["BTC/USD"] = ChunkPlan(chunk_size=2, parallel=1, wait_s=1.5)
    orders = [limit_order("BTC/USD", volume="0.001") for _ in range(20)]

    await router.processor.process_batch_orders(
        orders, BatchStrategy.SMART_ROUTING, batch_id="s-spent"
    )

    sizes = [len(ids) for kind, ids in router.exchange.calls if kind == "add_order_batch"]
    assert sizes == [10, 10]
    assert router.exchange.max_in_flight == 1


async def test_smart_routing_sends_market_orders_before_resting_limits() -> None:
    """Within a pair's batch, market orders come first."""
    router = make_router()
    orders = [limit_order(), market_order(), limit_order(), market_order()]

    await router.processor.process_batch_orders(
        orders, BatchStrategy.SMART_ROUTING, batch_id="s-mkt"
    )

    [(kind, ids)] = router.exchange.calls
    assert kind == "add_order_batch"
    assert list(ids) == _ids("s-mkt", [1, 3, 0, 2])


async def test_smart_routing_when_one_entry_rejected_then_only_that_order_rejected() -> None:
    """A per-order rejection inside a batch reply is handled for that order alone."""
    router = make_router()
    router.verdicts.answer = reject_verdict("insufficient_funds")
    router.exchange.script(derive_cl_ord_id("s-entry", 1), "reject:EOrder:Insufficient funds")

    completed = await router.processor.process_batch_orders(
        [limit_order() for _ in range(3)], BatchStrategy.SMART_ROUTING, batch_id="s-entry"
    )

    assert [r.outcome for r in completed.results] == [
        OrderOutcome.PLACED,
        OrderOutcome.REJECTED,
        OrderOutcome.PLACED,
    ]
    [rejection] = router.sink.rejected()
    assert rejection.category == "insufficient_funds"
    assert rejection.errors == ("EOrder:Insufficient funds",)
    assert len(router.exchange.placement_calls) == 1


async def test_risk_aware_places_reduce_only_first_then_ascending_notional() -> None:
    """RISK_AWARE: reduce-only orders first, then the smallest notional first."""
    router = make_router()
    orders = [
        limit_order(volume="0.03"),
        limit_order(volume="0.01", side=OrderSide.SELL, reduce_only=True),
        limit_order(volume="0.02"),
        limit_order(volume="0.005"),
    ]

    completed = await router.processor.process_batch_orders(
        orders, BatchStrategy.RISK_AWARE, batch_id="s-risk"
    )

    assert [ids[0] for _, ids in router.exchange.calls] == _ids("s-risk", [1, 3, 2, 0])
    assert router.exchange.max_in_flight == 1
    assert completed.placed == 4


async def test_risk_aware_checks_cumulative_exposure_in_its_own_order() -> None:
    """Smallest first fits more orders under the limit; the one that breaches is rejected."""
    router = make_router(ExecutionConfig(max_batch_exposure=Decimal("1200")))
    orders = [limit_order(volume="0.02"), limit_order(volume="0.005"), limit_order(volume="0.01")]

    completed = await router.processor.process_batch_orders(
        orders, BatchStrategy.RISK_AWARE, batch_id="s-risk-exp"
    )

    assert [r.outcome for r in completed.results] == [
        OrderOutcome.REJECTED,
        OrderOutcome.PLACED,
        OrderOutcome.PLACED,
    ]
    assert router.sink.rejected()[0].reason.startswith("risk_exposure_limit")
    assert completed.exposure_used == Decimal("750.000")


async def test_risk_aware_rechecks_with_live_prices_before_each_order() -> None:
    """A price move after the first placement puts the second order outside the collar."""
    router = make_router()

    def move_market(_cl_ord_id: str, _probe: bool) -> None:
        router.market.prices["BTC/USD"] = Decimal("60000")

    router.exchange.after_add_order = move_market

    completed = await router.processor.process_batch_orders(
        [limit_order(volume="0.001"), limit_order(volume="0.002")],
        BatchStrategy.RISK_AWARE,
        batch_id="s-live",
    )

    assert [r.outcome for r in completed.results] == [OrderOutcome.PLACED, OrderOutcome.REJECTED]
    assert router.sink.rejected()[0].reason.startswith("risk_price_collar")


async def test_risk_aware_pauses_while_price_stale_then_places() -> None:
    """Once a price goes stale the next placement waits until it is fresh again."""
    router = make_router()
    paused_from: list[int] = []

    def go_stale(_cl_ord_id: str, _probe: bool) -> None:
        paused_from.append(router.clock())
        router.market.stale_until_ns["BTC/USD"] = router.clock() + 2_000_000_000

    router.exchange.after_add_order = go_stale

    completed = await router.processor.process_batch_orders(
        [limit_order(), limit_order()], BatchStrategy.RISK_AWARE, batch_id="s-pause"
    )

    assert completed.placed == 2
    assert paused_from[1] - paused_from[0] >= 2_000_000_000
    assert router.exchange.call_count("add_order") == 2


async def test_risk_aware_pauses_while_volatility_above_ceiling() -> None:
    """A volatility reading over execution.volatility_ceiling holds placement until it clears."""
    router = make_router(ExecutionConfig(volatility_ceiling=1.0))
    router.market.volatilities["BTC/USD"] = 2.5
    router.market.calm_at_ns["BTC/USD"] = START_NS + 3_000_000_000

    completed = await router.processor.process_batch_orders(
        [limit_order()], BatchStrategy.RISK_AWARE, batch_id="s-vol"
    )

    assert completed.placed == 1
    assert router.clock.now_ns >= START_NS + 3_000_000_000


async def test_risk_aware_when_pause_outlasts_batch_timeout_then_failed_timeout() -> None:
    """A pause is bounded by execution.batch_timeout; nothing is sent."""
    router = make_router(ExecutionConfig(volatility_ceiling=1.0, batch_timeout=5.0))
    router.market.volatilities["BTC/USD"] = 2.5
    router.market.calm_at_ns["BTC/USD"] = START_NS + 60_000_000_000

    completed = await router.processor.process_batch_orders(
        [limit_order()], BatchStrategy.RISK_AWARE, batch_id="s-vol-timeout"
    )

    assert router.exchange.calls == []
    [failure] = router.sink.failed()
    assert failure.reason == "timeout"
    assert "volatility" in failure.detail
    assert completed.failed == 1
