"""The router core's ports implemented over the bus: verdicts, breaker and market views, sink.

The views are plain in-memory state fed by the actor's handlers (and an initial KV read), so
the core can read them synchronously. State carried by both an event and a KV entry keeps the
newest by ``ts_event``, which makes re-reading the KV at any time harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from decimal import Decimal

from actors.batch_router.ports import OutcomeEvent
from bus.codec import EVENTS
from bus.jetstream import BREAKERS_BUCKET, CONTROL_BUCKET
from bus.ports import BusContext
from bus.subjects import Subjects
from schemas.events import (
    BatchCompleted,
    BatchRejected,
    BreakerState,
    CircuitBreakerStateChanged,
    KrakenCallFailed,
    OperationKind,
    OrderFailed,
    OrderPlaced,
    OrderRejected,
    PriceRecovered,
    PriceStale,
    PriceUpdated,
    TradingHalted,
    TradingResumed,
    VolatilityUpdated,
)
from schemas.queries import RetryVerdict, VerdictRequest

__all__ = [
    "KILL_SWITCH_KEY",
    "TRADING_BREAKER_SCOPE",
    "BusBreakerView",
    "BusEventSink",
    "BusMarketView",
    "BusVerdictSource",
]

_log = logging.getLogger(__name__)

TRADING_BREAKER_SCOPE = "kraken.trading"
KILL_SWITCH_KEY = "trading"
_NS = 1_000_000_000


class BusVerdictSource:
    """Asks the error classifier; silence, an error reply or a broken link all mean ``None``."""

    def __init__(self, context: BusContext, timeout_s: float) -> None:
        self._context = context
        self._timeout_s = timeout_s
        self.unanswered = 0

    async def verdict(
        self, failure: KrakenCallFailed, attempt: int, operation: OperationKind
    ) -> RetryVerdict | None:
        request = VerdictRequest(call=failure, attempt=attempt, operation=operation)
        try:
            reply = await self._context.request(
                self._context.subjects.verdict(), request, self._timeout_s
            )
        except Exception as e:  # timeout, no responders, error reply
            self.unanswered += 1
            _log.warning("verdict.unanswered endpoint=%s error=%s", failure.endpoint, e)
            return None
        if not isinstance(reply, RetryVerdict):
            self.unanswered += 1
            return None
        return reply


class BusBreakerView:
    """The ``kraken.trading`` breaker as last broadcast, plus this process's probe slot."""

    def __init__(self) -> None:
        self._latest: CircuitBreakerStateChanged | None = None
        self._probe_taken = False
        self._changed = asyncio.Event()

    def apply(self, event: CircuitBreakerStateChanged) -> None:
        if event.scope != TRADING_BREAKER_SCOPE:
            return
        if self._latest is not None and event.ts_event < self._latest.ts_event:
            return
        previous = self.trading_state()
        self._latest = event
        if event.state is not BreakerState.HALF_OPEN:
            self._probe_taken = False
        if event.state is not previous:
            self._notify()

    async def load(self, context: BusContext) -> None:
        """Apply the breaker state stored in the KV bucket, if there is one."""
        store = await context.key_value(BREAKERS_BUCKET)
        try:
            entry = await store.get(TRADING_BREAKER_SCOPE)
        except Exception:  # nats raises KeyNotFoundError for a key never written
            return
        value = getattr(entry, "value", None)
        if value:
            event = EVENTS.decode(value)
            if isinstance(event, CircuitBreakerStateChanged):
                self.apply(event)

    def trading_state(self) -> BreakerState:
        return BreakerState.CLOSED if self._latest is None else self._latest.state

    async def wait_for_change(self, timeout_s: float) -> None:
        changed = self._changed
        try:
            await asyncio.wait_for(changed.wait(), timeout=max(0.0, timeout_s))
        except TimeoutError:
            return

    def try_acquire_probe(self) -> bool:
        if self.trading_state() is not BreakerState.HALF_OPEN or self._probe_taken:
            return False
        self._probe_taken = True
        return True

    def release_probe(self) -> None:
        self._probe_taken = False
        self._notify()

    def _notify(self) -> None:
        # Wake every waiter, then arm a fresh event for the next change.
        self._changed.set()
        self._changed = asyncio.Event()


class BusMarketView:
    """Reference prices (mid), staleness, volatility and the kill switch, in memory.

    A price older than ``staleness_threshold_ns`` (by the receive clock) counts as stale even
    without a ``PriceStale`` event, so a silent market-data actor fails closed.
    """

    def __init__(self, clock: Callable[[], int], staleness_threshold_ns: int) -> None:
        self._clock = clock
        self._staleness_threshold_ns = staleness_threshold_ns
        self._prices: dict[str, tuple[Decimal, int]] = {}
        self._stale: set[str] = set()
        self._volatility: dict[str, float] = {}
        self._kill: TradingHalted | TradingResumed | None = None

    # -- feeding ---------------------------------------------------------------------------

    def on_price(self, event: PriceUpdated) -> None:
        mid = (event.bid + event.ask) / 2
        self._prices[event.pair] = (mid, self._clock())

    def on_stale(self, event: PriceStale) -> None:
        self._stale.add(event.pair)

    def on_recovered(self, event: PriceRecovered) -> None:
        self._stale.discard(event.pair)

    def on_volatility(self, event: VolatilityUpdated) -> None:
        for reading in (event.ewma, event.realized, event.parkinson):
            if reading is not None:
                self._volatility[event.pair] = reading
                return

    def on_kill_switch(self, event: TradingHalted | TradingResumed) -> None:
        if self._kill is not None and event.ts_event < self._kill.ts_event:
            return
        self._kill = event

    async def load_kill_switch(self, context: BusContext) -> None:
        store = await context.key_value(CONTROL_BUCKET)
        try:
            entry = await store.get(KILL_SWITCH_KEY)
        except Exception:  # never halted: no key
            return
        value = getattr(entry, "value", None)
        if value:
            event = EVENTS.decode(value)
            if isinstance(event, TradingHalted | TradingResumed):
                self.on_kill_switch(event)

    # -- MarketView ------------------------------------------------------------------------

    def reference_price(self, pair: str) -> Decimal | None:
        seen = self._prices.get(pair)
        return None if seen is None else seen[0]

    def is_stale(self, pair: str) -> bool:
        if pair in self._stale:
            return True
        seen = self._prices.get(pair)
        return seen is not None and self._clock() - seen[1] > self._staleness_threshold_ns

    def volatility(self, pair: str) -> float | None:
        return self._volatility.get(pair)

    def kill_switch_active(self) -> bool:
        return isinstance(self._kill, TradingHalted)

    def snapshot(self) -> dict[str, object]:
        return {
            "pairs_priced": len(self._prices),
            "stale_pairs": sorted(self._stale),
            "kill_switch_active": self.kill_switch_active(),
        }


class BusEventSink:
    """Publishes every outcome durably; the msg ids make a resumed batch's repeats harmless."""

    def __init__(self, context: BusContext) -> None:
        self._context = context

    async def emit(self, event: OutcomeEvent) -> None:
        subject, msg_id = route_outcome(self._context.subjects, event)
        await self._context.publish_durable(subject, event, msg_id=msg_id)


def route_outcome(subjects: Subjects, event: OutcomeEvent) -> tuple[str, str]:
    """The subject and ``Nats-Msg-Id`` of an outcome event."""
    if isinstance(event, OrderPlaced):
        state = "placed"
    elif isinstance(event, OrderRejected):
        state = "rejected"
    elif isinstance(event, OrderFailed):
        state = "failed"
    elif isinstance(event, BatchCompleted):
        return subjects.batch_completed(), f"{event.batch_id}:completed"
    else:
        assert isinstance(event, BatchRejected)
        return subjects.batch_rejected(), f"{event.batch_id}:rejected"
    return subjects.order_event(state), f"{event.batch_id}:{event.index}:{state}"
