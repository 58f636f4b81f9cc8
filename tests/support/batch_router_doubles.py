"""In-memory doubles of the batch router's ports, for pure-logic unit tests (no I/O).

The exchange double keeps a book of orders by ``cl_ord_id`` and follows a per-order script
(``ok``, ``reject:<error>``, ``unknown_placed`` = reply lost after the order was booked,
``unknown_lost`` = reply lost and nothing booked), so tests can check that no order is ever
booked twice.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar

from actors.batch_router import (
    BatchPlacementReply,
    LookupResult,
    OptimizedBatchProcessor,
    OrderLookup,
    OutcomeEvent,
    PlacementReply,
)
from actors.batch_router.batch_sizing import ChunkPlan
from bus.clock import ManualClock
from kraken.send_deadline import SendDeadline
from schemas.config import ExecutionConfig
from schemas.events import (
    BatchCompleted,
    BookUpdated,
    BreakerState,
    KrakenCallFailed,
    OperationKind,
    OrderFailed,
    OrderPlaced,
    OrderRejected,
    PriceSource,
    PriceUpdated,
)
from schemas.orders import OrderRequest, OrderSide, OrderType
from schemas.queries import RetryVerdict

__all__ = [
    "BreakerDouble",
    "ExchangeDouble",
    "FakeClock",
    "MarketDouble",
    "PairRulesRecord",
    "Router",
    "SinkDouble",
    "VerdictDouble",
    "limit_order",
    "make_router",
    "market_order",
    "price_event",
    "refuse_verdict",
    "reject_verdict",
    "retry_verdict",
]

_T = TypeVar("_T")

START_NS = 1_700_000_000 * 1_000_000_000


class FakeClock(ManualClock):
    """A manual clock whose sleeps advance it instantly, remembering each one."""

    def __init__(self, now_ns: int = START_NS) -> None:
        super().__init__(start_ns=now_ns)
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await super().sleep(seconds)


@dataclass(frozen=True)
class PairRulesRecord:
    symbol: str
    ordermin: Decimal | None = Decimal("0.0001")
    costmin: Decimal | None = Decimal("0.5")
    tick_size: Decimal | None = Decimal("0.1")
    price_decimals: int = 1
    lot_decimals: int = 8
    status: str = "online"


def default_pairs() -> dict[str, PairRulesRecord]:
    return {
        "BTC/USD": PairRulesRecord("BTC/USD"),
        "ETH/USD": PairRulesRecord("ETH/USD", tick_size=Decimal("0.01"), price_decimals=2),
        "SOL/USD": PairRulesRecord("SOL/USD", tick_size=Decimal("0.01"), price_decimals=2),
    }


class ExchangeDouble:
    """An in-memory exchange implementing ``ExchangeGateway``."""

    def __init__(self, clock: FakeClock, pairs: dict[str, PairRulesRecord] | None = None) -> None:
        self.clock = clock
        self.pairs = default_pairs() if pairs is None else pairs
        self.book: dict[str, str] = {}
        """cl_ord_id → txid of every order the exchange accepted."""
        self.bookings: list[str] = []
        """Every booking in order; a duplicate here is a duplicated order."""
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.deadlines: list[int | None] = []
        """The Kraken deadline each placement was sent with, stamped as a real client does."""
        self.send_queue_s: deque[float] = deque()
        """Per next placement call: how long it waits before it is signed (the key's send lock
        held by another call, rate-limit pacing)."""
        self.validate_flags: list[bool] = []
        self.probe_flags: list[bool] = []
        self.scripts: dict[str, deque[str]] = {}
        self.batch_scripts: deque[str] = deque()
        self.lookup_scripts: dict[str, deque[str]] = {}
        self.lookups: list[OrderLookup] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.after_add_order: Callable[[str, bool], None] | None = None
        """Called with ``(cl_ord_id, probe)`` after each AddOrder, e.g. to move the market."""
        self.raise_after_booking = 0
        """How many next AddOrder calls book the order and then raise (a dropped connection)."""
        self.clock_ahead = 0
        """How far the router's clock runs ahead of this exchange's (ns)."""
        self.chunk_plans: dict[str, ChunkPlan] = {}
        """Per pair, what :meth:`chunk_plan` answers (none: chunks go one after another)."""

    # -- scripting -------------------------------------------------------------------------

    def script(self, cl_ord_id: str, *steps: str) -> None:
        self.scripts.setdefault(cl_ord_id, deque()).extend(steps)

    def script_batch(self, *steps: str) -> None:
        self.batch_scripts.extend(steps)

    def script_lookup(self, cl_ord_id: str, *steps: str) -> None:
        """Steps: ``fail`` (lookup cannot be made) or ``real`` (answer from the book)."""
        self.lookup_scripts.setdefault(cl_ord_id, deque()).extend(steps)

    @property
    def placement_calls(self) -> list[tuple[str, tuple[str, ...]]]:
        return [call for call in self.calls if call[0] in ("add_order", "add_order_batch")]

    def call_count(self, kind: str) -> int:
        return sum(1 for call in self.calls if call[0] == kind)

    # -- ExchangeGateway -------------------------------------------------------------------

    async def add_order(
        self,
        order: OrderRequest,
        cl_ord_id: str,
        *,
        deadline: SendDeadline | None,
        validate: bool,
        probe: bool,
    ) -> PlacementReply:
        self.calls.append(("add_order", (cl_ord_id,)))
        await self._note(deadline, validate, probe)
        await self._occupy()
        step = self._next(self.scripts.get(cl_ord_id))
        reply = self._apply(step, cl_ord_id, validate, "AddOrder")
        if self.after_add_order is not None:
            self.after_add_order(cl_ord_id, probe)
        if self.raise_after_booking:
            self.raise_after_booking -= 1
            raise ConnectionResetError("connection reset after the request was sent")
        return reply

    async def add_order_batch(
        self,
        pair: str,
        orders: Sequence[tuple[OrderRequest, str]],
        *,
        deadline: SendDeadline | None,
        validate: bool,
        probe: bool,
    ) -> BatchPlacementReply:
        ids = tuple(cl_ord_id for _, cl_ord_id in orders)
        assert 2 <= len(ids) <= 15, "AddOrderBatch takes 2-15 orders"
        assert {order.pair for order, _ in orders} == {pair}, "one pair per batch"
        self.calls.append(("add_order_batch", ids))
        await self._note(deadline, validate, probe)
        await self._occupy()
        top = self._next(self.batch_scripts)
        if top == "unknown_placed":
            for cl_ord_id in ids:
                self._book(cl_ord_id)
            return BatchPlacementReply(failure=_unknown("AddOrderBatch"))
        if top == "unknown_lost":
            return BatchPlacementReply(failure=_unknown("AddOrderBatch"))
        if top.startswith("reject:"):
            return BatchPlacementReply(failure=_rejected(top, "AddOrderBatch"))
        entries = tuple(
            self._apply(self._next(self.scripts.get(cl_ord_id)), cl_ord_id, validate, None)
            for cl_ord_id in ids
        )
        return BatchPlacementReply(entries=entries)

    async def find_orders(self, lookups: Sequence[OrderLookup]) -> dict[str, LookupResult]:
        """One call for many orders (recorded as ``find_orders``, and per order as
        ``find_order`` so scripts and counts stay per order)."""
        self.calls.append(("find_orders", tuple(lookup.cl_ord_id for lookup in lookups)))
        await asyncio.sleep(0)
        return {lookup.cl_ord_id: self._find_one(lookup) for lookup in lookups}

    def _find_one(self, lookup: OrderLookup) -> LookupResult:
        cl_ord_id = lookup.cl_ord_id
        self.lookups.append(lookup)
        self.calls.append(("find_order", (cl_ord_id,)))
        step = self._next(self.lookup_scripts.get(cl_ord_id), default="real")
        if step == "fail":
            return LookupResult(found=False, lookup_failed=True)
        txid = self.book.get(cl_ord_id)
        if txid is None:
            return LookupResult(found=False)
        return LookupResult(found=True, txid=txid, status="open")

    def pair_rules(self, pair: str) -> PairRulesRecord | None:
        return self.pairs.get(pair)

    def clock_ahead_ns(self) -> int:
        return self.clock_ahead

    def chunk_plan(self, pair: str, order_count: int) -> ChunkPlan | None:
        return self.chunk_plans.get(pair)

    # -- internals -------------------------------------------------------------------------

    async def _note(self, deadline: SendDeadline | None, validate: bool, probe: bool) -> None:
        if self.send_queue_s:
            await self.clock.sleep(self.send_queue_s.popleft())
        self.deadlines.append(None if deadline is None else deadline.stamp(self.clock()))
        self.validate_flags.append(validate)
        self.probe_flags.append(probe)

    async def _occupy(self) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        for _ in range(3):
            await asyncio.sleep(0)
        self.in_flight -= 1

    @staticmethod
    def _next(script: deque[str] | None, default: str = "ok") -> str:
        if not script:
            return default
        return script.popleft()

    def _book(self, cl_ord_id: str) -> str:
        txid = f"O{len(self.bookings) + 1:05d}-TXID"
        self.book[cl_ord_id] = txid
        self.bookings.append(cl_ord_id)
        return txid

    def _apply(
        self, step: str, cl_ord_id: str, validate: bool, endpoint: str | None
    ) -> PlacementReply:
        failure_endpoint = endpoint or "AddOrderBatch"
        if step == "ok":
            if validate:
                return PlacementReply(ok=True)
            return PlacementReply(ok=True, txid=self._book(cl_ord_id))
        if step == "unknown_placed":
            self._book(cl_ord_id)
            return _unknown(failure_endpoint)
        if step == "unknown_lost":
            return _unknown(failure_endpoint)
        if step.startswith("reject:"):
            reply = _rejected(step, failure_endpoint)
            if endpoint is None:  # per-entry rejections carry no call event
                return PlacementReply(ok=False, errors=reply.errors)
            return reply
        raise AssertionError(f"unknown script step {step!r}")


def _failure(endpoint: str, errors: tuple[str, ...], *, unknown: bool) -> KrakenCallFailed:
    return KrakenCallFailed(
        ts_event=0,
        ts_init=0,
        scope="kraken.trading",
        endpoint=endpoint,
        operation=OperationKind.PLACE,
        latency_ns=1,
        errors=errors,
        outcome_unknown=unknown,
        transport_error="timeout" if unknown else None,
    )


def _unknown(endpoint: str) -> PlacementReply:
    errors = ("timeout",)
    return PlacementReply(
        ok=False,
        errors=errors,
        outcome_unknown=True,
        call_failure=_failure(endpoint, errors, unknown=True),
    )


def _rejected(step: str, endpoint: str) -> PlacementReply:
    errors = (step.removeprefix("reject:"),)
    return PlacementReply(
        ok=False, errors=errors, call_failure=_failure(endpoint, errors, unknown=False)
    )


# -- verdicts ---------------------------------------------------------------------------------


def retry_verdict(
    *, delay_s: float = 0.5, max_retries: int = 3, reconcile_first: bool = False
) -> RetryVerdict:
    return RetryVerdict(
        category="network",
        severity="transient",
        retry=True,
        delay_s=delay_s,
        strategy="exponential",
        max_retries=max_retries,
        reconcile_first=reconcile_first,
        breaker_scope="kraken.trading",
        breaker_state=BreakerState.CLOSED,
    )


def reject_verdict(category: str = "insufficient_funds") -> RetryVerdict:
    return RetryVerdict(
        category=category,
        severity="rejected",
        retry=False,
        delay_s=0.0,
        strategy="none",
        max_retries=0,
        reconcile_first=False,
        breaker_scope="kraken.trading",
        breaker_state=BreakerState.CLOSED,
        reason="Kraken refused the order",
    )


def refuse_verdict() -> RetryVerdict:
    """A transient error whose retry the classifier denies (budget spent)."""
    return RetryVerdict(
        category="rate_limit",
        severity="transient",
        retry=False,
        delay_s=0.0,
        strategy="exponential",
        max_retries=3,
        reconcile_first=False,
        breaker_scope="kraken.trading",
        breaker_state=BreakerState.CLOSED,
        reason="retry budget spent",
    )


class VerdictDouble:
    """Answers every failure with ``answer`` (``None`` = classifier silent)."""

    def __init__(self, answer: RetryVerdict | None = None) -> None:
        self.answer = answer if answer is not None else retry_verdict()
        self.silent = False
        self.asked: list[tuple[KrakenCallFailed, int, OperationKind]] = []

    async def verdict(
        self, failure: KrakenCallFailed, attempt: int, operation: OperationKind
    ) -> RetryVerdict | None:
        self.asked.append((failure, attempt, operation))
        await asyncio.sleep(0)
        return None if self.silent else self.answer


# -- breaker ----------------------------------------------------------------------------------


class BreakerDouble:
    """Trading breaker following a clock-based schedule of ``(at_ns, state)`` transitions.

    Waiters advance the fake clock in small steps and wake early on any change, like the
    real view wakes on a ``CircuitBreakerStateChanged`` event.
    """

    STEP_S = 0.1

    def __init__(self, clock: FakeClock, state: BreakerState = BreakerState.CLOSED) -> None:
        self._clock = clock
        self._state = state
        self._version = 0
        self.schedule: list[tuple[int, BreakerState]] = []
        self.probe_taken = False
        self.probes_granted = 0
        self.waits = 0

    def set_state(self, state: BreakerState) -> None:
        self._state = state
        self._version += 1

    def trading_state(self) -> BreakerState:
        while self.schedule and self.schedule[0][0] <= self._clock():
            _, state = self.schedule.pop(0)
            self.set_state(state)
        return self._state

    async def wait_for_change(self, timeout_s: float) -> None:
        self.waits += 1
        version = self._version
        waited = 0.0
        while waited < timeout_s:
            step_s = min(self.STEP_S, timeout_s - waited)
            await self._clock.sleep(step_s)
            waited += step_s
            self.trading_state()
            if self._version != version:
                return

    def try_acquire_probe(self) -> bool:
        if self.probe_taken:
            return False
        self.probe_taken = True
        self.probes_granted += 1
        return True

    def release_probe(self) -> None:
        self.probe_taken = False
        self._version += 1


# -- market -----------------------------------------------------------------------------------


class MarketDouble:
    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self.prices: dict[str, Decimal] = {
            "BTC/USD": Decimal("50000"),
            "ETH/USD": Decimal("3000"),
            "SOL/USD": Decimal("100"),
        }
        self.books: dict[str, BookUpdated] = {}
        """Fresh books (pair → book); a pair missing here has none, or only a stale one."""
        self.stale_until_ns: dict[str, int] = {}
        self.volatilities: dict[str, float] = {}
        self.calm_at_ns: dict[str, int] = {}
        """When a high volatility reading clears (pair → clock ns)."""
        self.kill_switch = False

    def reference_price(self, pair: str) -> Decimal | None:
        return self.prices.get(pair)

    def book(self, pair: str) -> BookUpdated | None:
        return self.books.get(pair)

    def is_stale(self, pair: str) -> bool:
        return self._clock() < self.stale_until_ns.get(pair, 0)

    def volatility(self, pair: str) -> float | None:
        if self._clock() >= self.calm_at_ns.get(pair, 0):
            return None
        return self.volatilities.get(pair)

    def kill_switch_active(self) -> bool:
        return self.kill_switch


class SinkDouble:
    def __init__(self) -> None:
        self.events: list[OutcomeEvent] = []

    async def emit(self, event: OutcomeEvent) -> None:
        self.events.append(event)

    async def emit_many(self, events: Sequence[OutcomeEvent]) -> None:
        for event in events:
            await self.emit(event)

    def of_type(self, kind: type[_T]) -> list[_T]:
        return [event for event in self.events if isinstance(event, kind)]

    def placed(self) -> list[OrderPlaced]:
        return self.of_type(OrderPlaced)

    def rejected(self) -> list[OrderRejected]:
        return self.of_type(OrderRejected)

    def failed(self) -> list[OrderFailed]:
        return self.of_type(OrderFailed)

    def completed(self) -> list[BatchCompleted]:
        return self.of_type(BatchCompleted)


# -- assembly ---------------------------------------------------------------------------------


@dataclass
class Router:
    """A processor wired to doubles, with the doubles at hand for assertions."""

    processor: OptimizedBatchProcessor
    exchange: ExchangeDouble
    verdicts: VerdictDouble
    breaker: BreakerDouble
    market: MarketDouble
    sink: SinkDouble
    clock: FakeClock
    config: ExecutionConfig = field(default_factory=ExecutionConfig)


def make_router(config: ExecutionConfig | None = None) -> Router:
    config = config if config is not None else ExecutionConfig()
    clock = FakeClock()
    exchange = ExchangeDouble(clock)
    verdicts = VerdictDouble()
    breaker = BreakerDouble(clock)
    market = MarketDouble(clock)
    sink = SinkDouble()
    processor = OptimizedBatchProcessor(
        config, exchange, verdicts, breaker, market, sink, clock, clock.sleep
    )
    return Router(processor, exchange, verdicts, breaker, market, sink, clock, config)


def limit_order(
    pair: str = "BTC/USD",
    *,
    side: OrderSide = OrderSide.BUY,
    volume: str = "0.01",
    price: str = "50000",
    **fields: object,
) -> OrderRequest:
    return OrderRequest(
        pair=pair,
        side=side,
        order_type=OrderType.LIMIT,
        volume=Decimal(volume),
        price=Decimal(price),
        **fields,  # type: ignore[arg-type]
    )


def market_order(
    pair: str = "BTC/USD",
    *,
    side: OrderSide = OrderSide.BUY,
    volume: str = "0.01",
    **fields: object,
) -> OrderRequest:
    return OrderRequest(
        pair=pair,
        side=side,
        order_type=OrderType.MARKET,
        volume=Decimal(volume),
        **fields,  # type: ignore[arg-type]
    )


def price_event(pair: str, price: Decimal) -> PriceUpdated:
    """A quote with bid, ask and last all at ``price``: its mid is ``price``."""
    return PriceUpdated(
        ts_event=1,
        ts_init=1,
        pair=pair,
        bid=price,
        ask=price,
        last=price,
        bid_size=Decimal(1),
        ask_size=Decimal(1),
        volume_24h=Decimal(10),
        vwap_24h=price,
        source=PriceSource.WS,
    )
