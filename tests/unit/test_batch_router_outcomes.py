"""One BatchCompleted per batch with correct aggregates; deterministic events; statistics."""

from __future__ import annotations

from decimal import Decimal

from actors.batch_router import derive_cl_ord_id
from actors.batch_router.statistics import percentile
from schemas.config import ExecutionConfig
from schemas.events import BatchCompleted, OrderBatchRequested, OrderOutcome
from schemas.orders import BatchStrategy
from tests.support.batch_router_doubles import (
    START_NS,
    Router,
    limit_order,
    make_router,
    retry_verdict,
)


async def _mixed_batch(router: Router) -> BatchCompleted:
    """Index 0 placed, 1 invalid, 2 placed after one retry, 3 fails after its only retry."""
    router.verdicts.answer = retry_verdict(delay_s=0.25, max_retries=1)
    router.exchange.script(derive_cl_ord_id("o-mixed", 2), "reject:EService:Busy")
    router.exchange.script(
        derive_cl_ord_id("o-mixed", 3), "reject:EService:Busy", "reject:EService:Busy"
    )
    orders = [limit_order(), limit_order(volume="-1"), limit_order(), limit_order()]
    return await router.processor.process_batch_orders(
        orders, BatchStrategy.SEQUENTIAL, batch_id="o-mixed"
    )


async def test_batch_completed_is_emitted_once_with_correct_aggregates() -> None:
    """Counts, success rate, retries, API calls, exposure and duration add up."""
    router = make_router(ExecutionConfig(max_retries=1))

    completed = await _mixed_batch(router)

    assert router.sink.completed() == [completed]
    assert router.sink.events[-1] is completed
    assert [r.outcome for r in completed.results] == [
        OrderOutcome.PLACED,
        OrderOutcome.REJECTED,
        OrderOutcome.PLACED,
        OrderOutcome.FAILED,
    ]
    assert [r.index for r in completed.results] == [0, 1, 2, 3]
    assert (completed.total, completed.placed, completed.rejected, completed.failed) == (4, 2, 1, 1)
    assert completed.success_rate == 0.5
    assert completed.retries == 2
    assert completed.api_calls == 5
    assert completed.exposure_used == Decimal("1000.00")
    assert completed.duration_ns == 500_000_000
    assert completed.strategy is BatchStrategy.SEQUENTIAL
    assert len(router.sink.events) == 5  # four order outcomes + the summary


async def test_outcome_events_are_deterministic_for_the_same_inputs() -> None:
    """Same batch, same clock: identical events (msg-id dedup relies on it)."""
    first, second = (
        make_router(ExecutionConfig(max_retries=1)),
        make_router(ExecutionConfig(max_retries=1)),
    )

    await _mixed_batch(first)
    await _mixed_batch(second)

    assert first.sink.events == second.sink.events


async def test_process_runs_a_bus_request_with_its_fields() -> None:
    """process() takes batch id, strategy, deadline and validate flag from the request."""
    router = make_router()
    request = OrderBatchRequested(
        ts_event=START_NS,
        ts_init=START_NS,
        batch_id="o-request",
        orders=(limit_order(), limit_order()),
        strategy=BatchStrategy.PARALLEL,
        deadline_ns=START_NS + 20_000_000_000,
        validate_only=True,
    )

    completed = await router.processor.process(request)

    assert completed.batch_id == "o-request"
    assert completed.strategy is BatchStrategy.PARALLEL
    assert completed.validate_only
    # The batch deadline caps the short placement deadline (5 s by default), not the other way.
    assert router.exchange.deadlines == [START_NS + 5_000_000_000] * 2
    assert [r.cl_ord_id for r in completed.results] == [
        derive_cl_ord_id("o-request", 0),
        derive_cl_ord_id("o-request", 1),
    ]


def test_percentile_uses_nearest_rank() -> None:
    """p50 of 1..10 is 5, p90 is 9, p99 is 10; empty gives None."""
    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 0.5) == 5.0
    assert percentile(values, 0.9) == 9.0
    assert percentile(values, 0.99) == 10.0
    assert percentile([], 0.5) is None


async def test_performance_statistics_cover_overall_and_per_strategy() -> None:
    """Counts, success rates and execution-time percentiles per strategy."""
    router = make_router(ExecutionConfig(max_retries=1))
    await _mixed_batch(router)
    await router.processor.process_batch_orders(
        [limit_order()], BatchStrategy.PARALLEL, batch_id="o-stats-2"
    )

    statistics = router.processor.get_performance_statistics()

    overall = statistics["overall"]
    assert (overall["batches"], overall["orders"], overall["placed"]) == (2, 5, 3)
    assert overall["success_rate"] == 3 / 5
    assert overall["execution_time_ms"]["p50"] == 0.0
    assert overall["execution_time_ms"]["p99"] == 500.0
    sequential = statistics["by_strategy"]["SEQUENTIAL"]
    assert (sequential["batches"], sequential["failed"], sequential["retries"]) == (1, 1, 2)
    assert statistics["by_strategy"]["PARALLEL"]["success_rate"] == 1.0
