"""Recovery of a resumed batch (issue 12): decided outcomes are final, the batch deadline is the
one fixed when it was requested."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from decimal import Decimal

import pytest

from actors.batch_router import derive_cl_ord_id
from actors.batch_router.bus_ports import BusMarketView
from actors.batch_router.outcomes import DecidedOutcome
from schemas.config import ExecutionConfig
from schemas.events import (
    BatchCompleted,
    BreakerState,
    OrderFailed,
    OrderOutcome,
    OrderPlaced,
    OrderRejected,
    VolatilityUpdated,
)
from schemas.orders import BatchStrategy
from schemas.queries import RetryVerdict
from tests.support.batch_router_doubles import Router, limit_order, make_router, reject_verdict

_S = 1_000_000_000


class JournalDouble:
    """Keeps what the book stores, in order, like the batch record in KV does."""

    def __init__(self, router: Router) -> None:
        self.stored: list[DecidedOutcome] = []
        self.on_bus: set[int] = set()
        self._router = router

    async def store(self, outcome: DecidedOutcome) -> None:
        # Stored before the event is published: the sink must not have it yet.
        assert outcome.event not in self._router.sink.events
        self.stored.append(outcome)

    async def store_many(self, outcomes: Sequence[DecidedOutcome]) -> None:
        for outcome in outcomes:
            await self.store(outcome)

    def published(self, index: int) -> None:
        self.on_bus.add(index)


class _Crash(Exception):
    pass


async def test_resume_never_re_decides_an_outcome_already_published() -> None:
    """Run 1 rejects order 0 (price far off the market) and dies before ``BatchCompleted``;
    the market comes back and the batch is resumed: order 0 stays rejected, is never placed,
    and gets no second terminal event."""
    router = make_router()
    journal = JournalDouble(router)
    orders = [limit_order(price="50000"), limit_order(price="50000")]
    router.market.prices["BTC/USD"] = router.market.prices["BTC/USD"] * 2  # collar rejects
    emit = router.sink.emit

    async def crash_on_completion(event: object) -> None:
        if isinstance(event, BatchCompleted):
            raise _Crash
        await emit(event)  # type: ignore[arg-type]

    router.sink.emit = crash_on_completion  # type: ignore[method-assign]
    with pytest.raises(_Crash):
        await router.processor.process_batch_orders(
            orders, BatchStrategy.SEQUENTIAL, batch_id="final", journal=journal
        )
    router.sink.emit = emit  # type: ignore[method-assign]
    assert [o.event.index for o in journal.stored] == [0, 1]
    router.market.prices["BTC/USD"] = router.market.prices["BTC/USD"] / 2

    completed = await router.processor.process_batch_orders(
        orders,
        BatchStrategy.SEQUENTIAL,
        batch_id="final",
        resume=True,
        journal=journal,
        decided=journal.stored,
        published=journal.on_bus,
    )

    assert router.exchange.placement_calls == []
    assert [r.outcome for r in completed.results] == [OrderOutcome.REJECTED] * 2
    terminal = [
        (type(e).__name__, e.index)
        for e in router.sink.events
        if isinstance(e, OrderPlaced | OrderRejected | OrderFailed)
    ]
    assert {kind for kind, _ in terminal} == {"OrderRejected"}
    assert Counter(index for _, index in terminal)[0] == 1
    # Order 1's event went out with the summary whose publish failed, so it may be on the bus:
    # the resumed run sends that very event again (same message id: the bus keeps one copy).
    copies = [e for e in router.sink.rejected() if e.index == 1]
    assert copies
    assert all(copy == copies[0] for copy in copies)
    assert len(journal.stored) == 2  # nothing decided a second time


async def test_a_stored_outcome_whose_event_may_be_missing_is_published_again_once() -> None:
    """Stored, then the router died before its event reached the bus: the resumed run
    publishes that very event (same msg id), and decides nothing anew."""
    router = make_router()
    journal = JournalDouble(router)
    stored = OrderRejected(
        ts_event=1,
        ts_init=1,
        batch_id="gap",
        index=0,
        pair="BTC/USD",
        cl_ord_id=derive_cl_ord_id("gap", 0),
        reason="risk_price_collar: …",
        category="local",
    )

    completed = await router.processor.process_batch_orders(
        [limit_order()],
        BatchStrategy.SEQUENTIAL,
        batch_id="gap",
        resume=True,
        journal=journal,
        decided=[DecidedOutcome(event=stored)],
    )

    assert router.sink.rejected() == [stored]
    assert router.exchange.calls == []
    assert completed.results[0].outcome is OrderOutcome.REJECTED


async def test_resume_places_only_the_orders_without_a_stored_outcome() -> None:
    router = make_router()
    journal = JournalDouble(router)
    orders = [limit_order() for _ in range(3)]
    first = await router.processor.process_batch_orders(
        orders[:1], BatchStrategy.SEQUENTIAL, batch_id="part", journal=journal
    )
    assert first.placed == 1

    completed = await router.processor.process_batch_orders(
        orders,
        BatchStrategy.SEQUENTIAL,
        batch_id="part",
        resume=True,
        journal=journal,
        decided=journal.stored,
    )

    assert completed.placed == 3
    assert router.exchange.bookings == [derive_cl_ord_id("part", i) for i in range(3)]
    # Order 0 was neither looked up nor placed again: its stored outcome settled it.
    assert derive_cl_ord_id("part", 0) not in {
        lookup.cl_ord_id for lookup in router.exchange.lookups
    }


async def test_resumed_batch_keeps_the_deadline_fixed_when_it_was_requested() -> None:
    """The batch timeout runs from the run's start, not from the resume."""
    router = make_router(ExecutionConfig(batch_timeout=30.0))
    run_started_ns = router.clock() - 40 * _S  # requested 40 s ago, timeout 30 s

    completed = await router.processor.process_batch_orders(
        [limit_order()],
        BatchStrategy.SEQUENTIAL,
        batch_id="late",
        resume=True,
        run_started_ns=run_started_ns,
    )

    assert router.exchange.placement_calls == []
    assert completed.results[0].reason == "timeout"


def _breaker_refusal(not_before_ns: int) -> RetryVerdict:
    return RetryVerdict(
        category="service_unavailable",
        severity="transient",
        retry=False,
        delay_s=0.0,
        strategy="none",
        max_retries=3,
        reconcile_first=False,
        breaker_scope="kraken.trading",
        breaker_state=BreakerState.OPEN,
        retry_not_before_ns=not_before_ns,
        reason="circuit open for kraken.trading",
    )


async def test_order_refused_a_retry_by_an_open_breaker_waits_for_it_and_is_placed() -> None:
    """The outage begins as the order is sent: the classifier refuses the retry because the
    breaker is open. The order waits for the breaker (the batch has time) instead of failing
    ``retries_exhausted``, and is placed once the breaker closes."""
    router = make_router(ExecutionConfig(batch_timeout=120.0))
    cl_ord_id = derive_cl_ord_id("outage", 0)
    router.exchange.script(cl_ord_id, "reject:EService:Unavailable")
    reopen_ns = router.clock() + 15 * _S
    router.verdicts.answer = _breaker_refusal(reopen_ns)
    router.breaker.set_state(BreakerState.CLOSED)
    router.exchange.after_add_order = lambda _id, _probe: router.breaker.set_state(
        BreakerState.OPEN
    )
    router.breaker.schedule.append((reopen_ns, BreakerState.CLOSED))

    completed = await router.processor.process_batch_orders(
        [limit_order()], BatchStrategy.SEQUENTIAL, batch_id="outage"
    )

    assert router.sink.failed() == []
    assert completed.results[0].outcome is OrderOutcome.PLACED
    assert router.exchange.bookings == [cl_ord_id]
    assert router.clock() >= reopen_ns


async def test_risk_aware_counts_an_unknown_outcome_as_exposure() -> None:
    """Order 0's outcome stays unknown (the venue never answers the look-ups): it may be
    live, so its notional stays reserved and order 1 no longer fits the batch exposure."""
    router = make_router(
        ExecutionConfig(max_batch_exposure=Decimal(600), reconcile_max_s=5.0, batch_timeout=1.0)
    )
    unknown = derive_cl_ord_id("exposure", 0)
    router.exchange.script(unknown, "unknown_placed")
    router.exchange.script_lookup(unknown, *["fail"] * 1000)

    completed = await router.processor.process_batch_orders(
        [limit_order(volume="0.01"), limit_order(volume="0.01")],
        BatchStrategy.RISK_AWARE,
        batch_id="exposure",
    )

    assert completed.results[0].reason == "unknown_outcome"
    assert completed.results[1].outcome is OrderOutcome.REJECTED
    assert (completed.results[1].reason or "").startswith("risk_exposure_limit")
    assert router.exchange.bookings == [unknown]


def test_volatility_gate_reads_only_the_configured_timeframe() -> None:
    market = BusMarketView(lambda: 0, 10**9, volatility_timeframe="5m")

    def reading(timeframe: str, value: float) -> VolatilityUpdated:
        return VolatilityUpdated(
            ts_event=1,
            ts_init=1,
            pair="BTC/USD",
            timeframe=timeframe,
            bar_close_ns=1,
            window_bars=20,
            realized=value,
            ewma=value,
            parkinson=value,
        )

    market.on_volatility(reading("5m", 0.2))
    market.on_volatility(reading("1m", 9.0))  # closed last, but not the configured timeframe
    assert market.volatility("BTC/USD") == 0.2


async def test_one_bad_order_does_not_reject_its_whole_add_order_batch() -> None:
    """Kraken refuses the chunk whole; sent one by one, only the culprit is rejected."""
    router = make_router()
    router.verdicts.answer = reject_verdict("invalid_arguments")
    router.exchange.script_batch("reject:EGeneral:Invalid arguments:volume")
    culprit = derive_cl_ord_id("isolate", 1)
    router.exchange.script(culprit, "reject:EGeneral:Invalid arguments:volume")

    completed = await router.processor.process_batch_orders(
        [limit_order(), limit_order(), limit_order()],
        BatchStrategy.SMART_ROUTING,
        batch_id="isolate",
    )

    assert [r.outcome for r in completed.results] == [
        OrderOutcome.PLACED,
        OrderOutcome.REJECTED,
        OrderOutcome.PLACED,
    ]
    assert culprit not in router.exchange.bookings


async def test_an_order_refused_for_pacing_is_sent_again_without_a_retry() -> None:
    """Queued behind other calls past its Kraken deadline (``EService:Deadline elapsed``), or
    refused by a trading counter a restart forgot (``EOrder:Rate limit exceeded``), again and
    again: that spends no retry, it is sent again while the batch has time."""
    router = make_router()
    cl_ord_id = derive_cl_ord_id("queued", 0)
    router.exchange.script(
        cl_ord_id,
        *["reject:EService:Deadline elapsed"] * 3,
        *["reject:EOrder:Rate limit exceeded"] * 2,
    )

    completed = await router.processor.process_batch_orders(
        [limit_order()], BatchStrategy.SEQUENTIAL, batch_id="queued"
    )

    assert completed.results[0].outcome is OrderOutcome.PLACED
    assert router.exchange.bookings == [cl_ord_id]


async def test_an_unknown_outcome_proven_absent_is_sent_again() -> None:
    """The answer was lost and nothing was booked. The classifier says "reconcile before
    resending" (no retry by itself); the router reconciled, found the order absent after its
    deadline, and sends it again instead of failing it ``retries_exhausted``."""
    router = make_router()
    cl_ord_id = derive_cl_ord_id("absent", 0)
    router.exchange.script(cl_ord_id, "unknown_lost")
    router.verdicts.answer = RetryVerdict(
        category="network",
        severity="transient",
        retry=False,
        delay_s=0.0,
        strategy="none",
        max_retries=3,
        reconcile_first=True,
        breaker_scope="kraken.trading",
        breaker_state=BreakerState.CLOSED,
        reason="network failure; outcome unknown: reconcile by cl_ord_id before resending",
    )

    completed = await router.processor.process_batch_orders(
        [limit_order()], BatchStrategy.SEQUENTIAL, batch_id="absent"
    )

    assert completed.results[0].outcome is OrderOutcome.PLACED
    assert router.exchange.bookings == [cl_ord_id]
    [placed] = router.sink.placed()
    assert placed.attempts == 2
