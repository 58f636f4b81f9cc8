"""The router core's ports implemented over the bus: verdicts, breaker and market views, sink.

The views are plain in-memory state fed by the actor's handlers and by KV reads, so the core can
read them synchronously. Control state carried by both an event and a KV entry is ordered by KV
revision, never by a publisher's ``ts_event``; events may only make trading safer before the
stored state confirms them, and unreadable state fails closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from decimal import Decimal

from actors.batch_router.ports import OutcomeEvent
from actors.batch_router.stored_state import StoredStateReader
from bus.jetstream import BREAKERS_BUCKET, CONTROL_BUCKET
from bus.ports import BusContext
from bus.subjects import Subjects
from schemas.events import (
    BatchCompleted,
    BatchRejected,
    BookUpdated,
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
    "KillSwitch",
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
    """The ``kraken.trading`` breaker, plus this process's probe slot.

    The KV entry (ordered by revision) is the state; an event is applied at once only when it
    makes trading safer (OPEN, HALF_OPEN from CLOSED). An event that relaxes the breaker waits
    for the KV entry the classifier writes right after publishing it (see ``relaxes``), so a
    forged or replayed ``CLOSED`` cannot reopen trading. An unreadable entry counts as OPEN.
    """

    def __init__(self) -> None:
        self._state = BreakerState.CLOSED
        self._revision = -1
        """The KV revision applied last (0: key never written); -1 before the first read."""
        self._probe_taken = False
        self._changed = asyncio.Event()
        self.reader = StoredStateReader(BREAKERS_BUCKET)

    def relaxes(self, event: CircuitBreakerStateChanged) -> bool:
        """True when ``event`` would lift a restriction: only the stored state may do that."""
        return _BREAKER_STRICTNESS[event.state] < _BREAKER_STRICTNESS[self._state]

    def apply(self, event: CircuitBreakerStateChanged) -> None:
        """A breaker event from the bus; only tightening ones take effect before KV confirms."""
        if event.scope != TRADING_BREAKER_SCOPE or self.relaxes(event):
            return
        self._set(event.state)

    async def load(self, context: BusContext) -> None:
        """Apply the stored state if its revision is newer than the last one applied."""
        read = await self.reader.read(context, TRADING_BREAKER_SCOPE)
        if not read.readable:
            self._revision = -1  # whatever is readable next is applied
            self._set(BreakerState.OPEN)
            return
        if read.revision <= self._revision:
            return
        self._revision = read.revision
        event = read.event
        stored = event.state if isinstance(event, CircuitBreakerStateChanged) else None
        self._set(stored or BreakerState.CLOSED)

    def _set(self, state: BreakerState) -> None:
        previous = self._state
        self._state = state
        if state is not BreakerState.HALF_OPEN:
            self._probe_taken = False
        if state is not previous:
            self._notify()

    def trading_state(self) -> BreakerState:
        return self._state

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


_BREAKER_STRICTNESS = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class KillSwitch:
    """Halted, running, or unknown (unreadable: treated as halted).

    A ``TradingHalted`` event halts at once; only a stored state with a newer KV revision than
    the one seen when the halt arrived lifts it. Timestamps chosen by a publisher play no part.
    """

    def __init__(self) -> None:
        self.reader = StoredStateReader(CONTROL_BUCKET)
        self._halted = False
        self._known = False
        self._revision = -1
        """The KV revision the current state rests on; -1 before the first read."""

    @property
    def active(self) -> bool:
        return self._halted or not self._known

    @property
    def revision(self) -> int:
        """The KV revision the known state rests on; -1 while unreadable."""
        return self._revision if self._known else -1

    def on_event(self, event: TradingHalted | TradingResumed) -> None:
        if isinstance(event, TradingHalted):
            self._halted = True

    async def load(self, context: BusContext) -> None:
        read = await self.reader.read(context, KILL_SWITCH_KEY)
        if not read.readable:
            self._known = False
            self._revision = -1  # a recreated bucket starts again at revision 1
            return
        if read.revision < self._revision or (read.revision == self._revision and self._known):
            return
        self._revision = read.revision
        self._known = True
        self._halted = isinstance(read.event, TradingHalted)

    def describe(self) -> str:
        if not self._known:
            return "unknown (stored state unreadable: failing closed)"
        return "halted" if self._halted else "running"


class BusMarketView:
    """Reference prices (mid), L2 books, staleness, volatility and the kill switch, in memory.

    A price older than ``staleness_threshold_ns`` (by the receive clock) counts as stale even
    without a ``PriceStale`` event, so a silent market-data actor fails closed; a ``PriceStale``
    counts only until a newer price arrives (freshness is state, not an edge that can be lost).
    A book older than the same threshold is not offered at all: risk then prices by the
    reference, as it does for a pair whose book never arrived.
    """

    def __init__(
        self,
        clock: Callable[[], int],
        staleness_threshold_ns: int,
        volatility_timeframe: str = "1m",
    ) -> None:
        self._clock = clock
        self._staleness_threshold_ns = staleness_threshold_ns
        self._volatility_timeframe = volatility_timeframe
        self._prices: dict[str, tuple[Decimal, int]] = {}
        self._books: dict[str, tuple[BookUpdated, int]] = {}
        self._stale_since: dict[str, int] = {}
        self._volatility: dict[str, float] = {}
        self.kill_switch = KillSwitch()

    # -- feeding ---------------------------------------------------------------------------

    def on_price(self, event: PriceUpdated, age_ns: int = 0) -> None:
        """``age_ns``: how old the quote already was when it arrived (a queried snapshot)."""
        mid = (event.bid + event.ask) / 2
        seen_ns = self._clock() - max(0, age_ns)
        known = self._prices.get(event.pair)
        if known is None or known[1] <= seen_ns:
            self._prices[event.pair] = (mid, seen_ns)

    def on_book(self, event: BookUpdated) -> None:
        self._books[event.pair] = (event, self._clock())

    def on_stale(self, event: PriceStale) -> None:
        self._stale_since[event.pair] = self._clock()

    def on_recovered(self, event: PriceRecovered) -> None:
        self._stale_since.pop(event.pair, None)

    def on_volatility(self, event: VolatilityUpdated) -> None:
        if event.timeframe != self._volatility_timeframe:
            return  # another timeframe's reading: not the one RISK_AWARE is configured for
        for reading in (event.ewma, event.realized, event.parkinson):
            if reading is not None:
                self._volatility[event.pair] = reading
                return

    def on_kill_switch(self, event: TradingHalted | TradingResumed) -> None:
        self.kill_switch.on_event(event)

    async def load_kill_switch(self, context: BusContext) -> None:
        await self.kill_switch.load(context)

    # -- MarketView ------------------------------------------------------------------------

    def reference_price(self, pair: str) -> Decimal | None:
        seen = self._prices.get(pair)
        return None if seen is None else seen[0]

    def book(self, pair: str) -> BookUpdated | None:
        seen = self._books.get(pair)
        if seen is None or self._clock() - seen[1] > self._staleness_threshold_ns:
            return None
        return seen[0]

    def is_stale(self, pair: str) -> bool:
        seen = self._prices.get(pair)
        marked_ns = self._stale_since.get(pair)
        if marked_ns is not None and (seen is None or seen[1] <= marked_ns):
            return True
        return seen is not None and self._clock() - seen[1] > self._staleness_threshold_ns

    def volatility(self, pair: str) -> float | None:
        return self._volatility.get(pair)

    def kill_switch_active(self) -> bool:
        return self.kill_switch.active

    def snapshot(self) -> dict[str, object]:
        return {
            "pairs_priced": len(self._prices),
            "stale_pairs": sorted(p for p in self._prices if self.is_stale(p)),
            "kill_switch_active": self.kill_switch_active(),
            "kill_switch": self.kill_switch.describe(),
        }


class BusEventSink:
    """Publishes every outcome durably; the msg ids make a resumed batch's repeats harmless."""

    def __init__(self, context: BusContext) -> None:
        self._context = context

    async def emit(self, event: OutcomeEvent) -> None:
        subject, msg_id = route_outcome(self._context.subjects, event)
        await self._context.publish_durable(subject, event, msg_id=msg_id)

    async def emit_many(self, events: Sequence[OutcomeEvent]) -> None:
        routed = [(event, *route_outcome(self._context.subjects, event)) for event in events]
        await self._context.publish_durable_many(
            [(subject, event, msg_id) for event, subject, msg_id in routed]
        )


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
