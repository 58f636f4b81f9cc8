"""The market-data core: quotes in, events and answers out. No NATS, no network I/O.

The shell feeds it quotes (``on_quote``), exchange status (``on_system_status``), breaker
events (``on_breaker``) and timer ticks (``tick``), publishes every event it returns, and answers
price queries with ``get_price``. The only I/O is the injected ``fetch`` (one REST quote), which
runs only when the cache is older than its TTL and the ``kraken.public`` breaker is not open.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass, field
from decimal import Decimal

from actors.market_data.exchange_calendar import ExchangeCalendarRegistry
from actors.market_data.holidays import HolidayCalendars
from actors.market_data.price_cache import CachedQuote, Fetch, PriceCache
from actors.market_data.quote_validation import (
    QuoteRejection,
    QuoteValidator,
    RejectionReason,
    quote_time_ns,
)
from actors.market_data.sessions import SessionCalendar
from actors.market_data.single_flight import SingleFlight
from actors.market_data.staleness import StalenessMonitor
from actors.market_data.volatility import VolatilityEngine
from bus.clock import Clock
from schemas.base import Event
from schemas.config import MarketDataConfig
from schemas.events import (
    BreakerState,
    CircuitBreakerStateChanged,
    ExchangeStatus,
    ExchangeStatusChanged,
    PriceUpdated,
    VolatilityUpdated,
)
from schemas.queries import (
    ExchangeStatusQuery,
    ExchangeStatusReply,
    PriceQuery,
    PriceQueryReply,
)

__all__ = ["EnhancedMarketDataService", "FetchRecord", "QuoteIntake"]

_NS_PER_SECOND = 1_000_000_000
PUBLIC_BREAKER_SCOPE = "kraken.public"
WS_BREAKER_SCOPE = "kraken.ws"
_TWO = Decimal(2)


@dataclass(frozen=True, slots=True)
class QuoteIntake:
    """The result of ``on_quote``: events to publish, or why the quote was refused.

    An accepted quote is itself the first event (so rejected quotes never reach the bus),
    followed by any ``PriceRecovered`` and ``VolatilityUpdated`` it caused.
    """

    events: list[Event] = field(default_factory=list)
    rejection: QuoteRejection | None = None

    @property
    def accepted(self) -> bool:
        return self.rejection is None


@dataclass(frozen=True, slots=True)
class FetchRecord:
    pair: str
    started_ns: int
    finished_ns: int
    outcome: str
    """``ok``, ``empty``, ``error: …`` or ``rejected: <reason>``."""


class EnhancedMarketDataService:
    def __init__(
        self,
        config: MarketDataConfig,
        clock: Clock,
        fetch: Fetch,
        *,
        holidays: HolidayCalendars | None = None,
        weekdays_only_sessions: bool = True,
        recent_fetch_limit: int = 20,
    ) -> None:
        self.config = config
        self._clock = clock
        self._fetch_quote = fetch
        now_ns = clock()
        self._validator = QuoteValidator(config.pairs)
        self._cache = PriceCache(int(config.cache_ttl_seconds * _NS_PER_SECOND))
        self._staleness = StalenessMonitor(
            config.pairs, int(config.staleness_threshold_seconds * _NS_PER_SECOND), now_ns
        )
        self._volatility = VolatilityEngine(config.volatility, config.pairs)
        self._sessions = SessionCalendar.from_config(
            config.sessions, weekdays_only=weekdays_only_sessions
        )
        self._holidays = (
            holidays if holidays is not None else HolidayCalendars(config.holiday_calendars)
        )
        self._calendars = ExchangeCalendarRegistry(
            config.default_exchange, config.maintenance_windows, self._holidays
        )
        self._flight: SingleFlight[str, None] = SingleFlight()
        self._outbox: list[Event] = []
        self._breakers: dict[str, CircuitBreakerStateChanged] = {}
        self._rejections: collections.Counter[str] = collections.Counter()
        self._accepted: collections.Counter[str] = collections.Counter()
        self._recent_fetches: collections.deque[FetchRecord] = collections.deque(
            maxlen=recent_fetch_limit
        )
        self._fetch_failures = 0
        self._fetches_skipped = 0
        self._unknown_statuses: collections.Counter[str] = collections.Counter()
        self.ws_connected = False
        """Set by the shell when the WebSocket ticker subscription is live."""
        self.connection_failures = 0
        self.reconnects = 0

    @property
    def cache(self) -> PriceCache:
        return self._cache

    # -- QUOTES ------------------------------------------------------------------------------

    def on_quote(self, quote: PriceUpdated) -> QuoteIntake:
        """Validates a quote (WS or REST, already converted) and, if good, applies it."""
        rejection = self._validator.validate(quote)
        if rejection is not None:
            self._rejections[rejection.reason.value] += 1
            return QuoteIntake(rejection=rejection)
        now_ns = self._clock()
        self._validator.accept(quote)
        self._cache.put(quote, now_ns)
        self._accepted[quote.source.value] += 1
        events: list[Event] = [quote]
        recovered = self._staleness.record(quote.pair, now_ns)
        if recovered is not None:
            events.append(recovered)
        mid = float((quote.bid + quote.ask) / _TWO)
        events.extend(self._volatility.on_price(quote.pair, quote_time_ns(quote), mid, now_ns))
        return QuoteIntake(events=events)

    # -- QUERIES -----------------------------------------------------------------------------

    async def get_price(self, pair: str) -> PriceQueryReply:
        """The cached quote if within the TTL; else one shared REST fetch, unless the public
        breaker is open, in which case the cached quote comes back flagged stale."""
        if pair not in self._validator.pairs:
            return PriceQueryReply(
                pair=pair, quote=None, age_ns=None, stale=True, error=f"unknown pair {pair!r}"
            )
        now_ns = self._clock()
        entry = self._cache.lookup(pair, now_ns)
        if entry is not None:
            return self._reply(pair, entry, now_ns, "")
        if not self.rest_allowed:
            self._fetches_skipped += 1
            return self._reply(
                pair,
                self._cache.peek(pair),
                now_ns,
                f"no cached quote and the {PUBLIC_BREAKER_SCOPE} breaker is open",
            )
        await self._flight.run(pair, lambda: self._fetch_and_apply(pair))
        return self._reply(
            pair, self._cache.peek(pair), self._clock(), "no cached quote and the fetch failed"
        )

    async def on_price_query(self, query: PriceQuery) -> PriceQueryReply:
        return await self.get_price(query.pair)

    def on_exchange_status_query(self, query: ExchangeStatusQuery) -> ExchangeStatusReply:
        return self._calendars.reply(query.exchange, self._clock())

    def exchange_status(self, exchange: str | None = None) -> ExchangeStatusReply:
        return self._calendars.reply(exchange, self._clock())

    def can_place(self, exchange: str | None = None, now_ns: int | None = None) -> bool:
        calendar = self._calendars.get(exchange)
        return calendar is not None and calendar.can_place(self._now(now_ns))

    def can_cancel(self, exchange: str | None = None, now_ns: int | None = None) -> bool:
        calendar = self._calendars.get(exchange)
        return calendar is not None and calendar.can_cancel(self._now(now_ns))

    def volatility(self, pair: str, timeframe: str) -> VolatilityUpdated | None:
        return self._volatility.latest(pair, timeframe)

    def active_sessions(self, now_ns: int | None = None) -> tuple[str, ...]:
        return self._sessions.active_sessions(self._now(now_ns))

    def preload_holidays(self, now_ns: int | None = None) -> None:
        """Loads the holiday tables (about a second); run it with ``asyncio.to_thread``."""
        self._holidays.preload(self._now(now_ns))

    def is_stale(self, pair: str, now_ns: int | None = None) -> bool:
        return self._staleness.is_stale(pair, self._now(now_ns))

    # -- EXCHANGE STATUS AND BREAKERS --------------------------------------------------------

    def on_system_status(
        self,
        status: ExchangeStatus | str,
        source: str,
        now_ns: int | None = None,
        exchange: str | None = None,
    ) -> list[Event]:
        """A status from REST SystemStatus (``source="rest"``) or WS ``status`` (``"ws"``).

        A status string this code does not know is counted and ignored (no state change).
        """
        try:
            known = ExchangeStatus(status)
        except ValueError:
            self._unknown_statuses[str(status)] += 1
            return []
        change = self._calendars.calendar(exchange).on_status(known, source, self._now(now_ns))
        return [] if change is None else [change]

    def current_statuses(self, now_ns: int | None = None) -> list[ExchangeStatusChanged]:
        """Every venue's current status, to republish periodically (status is state)."""
        now = self._now(now_ns)
        return [self._calendars.calendar(name).current(now) for name in self._calendars.exchanges()]

    def status_publish_failed(self, event: ExchangeStatusChanged) -> None:
        """The shell could not publish ``event``: the next report announces it again."""
        self._calendars.calendar(event.exchange).publish_failed(event)

    def on_breaker(self, event: CircuitBreakerStateChanged) -> None:
        """Remembers the latest state per scope; an event older than the one held is ignored."""
        held = self._breakers.get(event.scope)
        if held is not None and event.since_ns < held.since_ns:
            return
        self._breakers[event.scope] = event

    def breaker_state(self, scope: str) -> BreakerState:
        held = self._breakers.get(scope)
        return BreakerState.CLOSED if held is None else held.state

    @property
    def rest_allowed(self) -> bool:
        """REST fetches may run: the public breaker is not open (half-open admits them)."""
        return self.breaker_state(PUBLIC_BREAKER_SCOPE) is not BreakerState.OPEN

    @property
    def ws_allowed(self) -> bool:
        """The shell may (re)connect the WebSocket: the ``kraken.ws`` breaker is not open."""
        return self.breaker_state(WS_BREAKER_SCOPE) is not BreakerState.OPEN

    @property
    def should_poll_rest(self) -> bool:
        """Poll REST Ticker every ``rest_poll_interval_s``: the WS feed is down and REST is up."""
        return self.rest_allowed and not (self.ws_connected and self.ws_allowed)

    # -- FEED HEALTH (set by the shell) ------------------------------------------------------

    def set_ws_connected(self, connected: bool) -> None:
        self.ws_connected = connected

    def record_connection_failure(self) -> None:
        self.connection_failures += 1

    def record_reconnect(self) -> None:
        self.reconnects += 1

    # -- TIMER -------------------------------------------------------------------------------

    def tick(self, now_ns: int) -> list[Event]:
        """Timer work: events from background fetches, bar closes, staleness, exchange
        schedule, sessions. The first tick also announces the session and exchange state."""
        events = self.drain_events()
        events.extend(self._volatility.flush(now_ns))
        events.extend(self._staleness.check(now_ns))
        events.extend(self._calendars.tick(now_ns))
        session_change = self._sessions.update(now_ns)
        if session_change is not None:
            events.append(session_change)
        return events

    def next_transition(self, now_ns: int) -> int | None:
        """The next session or maintenance-window edge, for the shell's timer."""
        edges = (self._sessions.next_transition(now_ns), self._calendars.next_transition(now_ns))
        return min((edge for edge in edges if edge is not None), default=None)

    def drain_events(self) -> list[Event]:
        """Events produced by fetches inside ``get_price`` (the fetched quote, recoveries…)."""
        events, self._outbox = self._outbox, []
        return events

    # -- HEALTH ------------------------------------------------------------------------------

    def health_check(self) -> dict[str, object]:
        now_ns = self._clock()
        pairs: dict[str, object] = {}
        for pair in sorted(self._validator.pairs):
            entry = self._cache.peek(pair)
            last = self._staleness.last_update_ns(pair)
            pairs[pair] = {
                "message_age_ns": None if last is None else max(0, now_ns - last),
                "stale": self._staleness.is_stale(pair, now_ns),
                "source": None if entry is None else entry.quote.source.value,
            }
        cache = self._cache
        return {
            "status": self._overall_status(now_ns),
            "ws_connected": self.ws_connected,
            "ws_allowed": self.ws_allowed,
            "rest_allowed": self.rest_allowed,
            "should_poll_rest": self.should_poll_rest,
            "connection_failures": self.connection_failures,
            "reconnects": self.reconnects,
            "pairs": pairs,
            "stale_pairs": list(self._staleness.stale_pairs()),
            "cache": {
                "entries": len(cache),
                "ttl_ns": cache.ttl_ns,
                "hits": cache.hits,
                "misses": cache.misses,
                "rest_calls": self._flight.calls,
                "coalesced_waits": self._flight.coalesced,
                "fetch_failures": self._fetch_failures,
                "fetches_skipped_breaker_open": self._fetches_skipped,
            },
            "recent_fetches": [
                {
                    "pair": r.pair,
                    "started_ns": r.started_ns,
                    "finished_ns": r.finished_ns,
                    "outcome": r.outcome,
                }
                for r in self._recent_fetches
            ],
            "breakers": {scope: e.state.value for scope, e in sorted(self._breakers.items())},
            "accepted_quotes": dict(self._accepted),
            "rejected_quotes": {k: v for k, v in sorted(self._rejections.items()) if v},
            "late_prices_for_bars": self._volatility.late_prices(),
            "exchange_status": {
                exchange: self._calendars.calendar(exchange).status(now_ns).value
                for exchange in self._calendars.exchanges()
            },
            "unknown_statuses": dict(self._unknown_statuses),
            "holiday_calendar_errors": dict(self._holidays.errors),
        }

    # -- INTERNALS ---------------------------------------------------------------------------

    def _now(self, now_ns: int | None) -> int:
        return self._clock() if now_ns is None else now_ns

    def _overall_status(self, now_ns: int) -> str:
        if any(self._staleness.is_stale(pair, now_ns) for pair in self._validator.pairs):
            return "degraded"
        return "ok" if self.ws_connected else "degraded"

    def _reply(
        self, pair: str, entry: CachedQuote | None, now_ns: int, error_if_empty: str
    ) -> PriceQueryReply:
        if entry is None:
            return PriceQueryReply(
                pair=pair, quote=None, age_ns=None, stale=True, error=error_if_empty
            )
        age_ns = entry.age_ns(now_ns)
        stale = not self._cache.is_fresh(entry, now_ns) or self._staleness.is_stale(pair, now_ns)
        return PriceQueryReply(pair=pair, quote=entry.quote, age_ns=age_ns, stale=stale)

    async def _fetch_and_apply(self, pair: str) -> None:
        # Runs once per single-flight; a failure leaves the cache exactly as it was.
        started_ns = self._clock()
        try:
            quote = await self._fetch_quote(pair)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self._fetch_failures += 1
            self._record_fetch(pair, started_ns, f"error: {type(e).__name__}: {e}")
            return
        if quote is None:
            self._record_fetch(pair, started_ns, "empty")
            return
        if quote.pair != pair:
            self._rejections[RejectionReason.WRONG_PAIR.value] += 1
            self._record_fetch(pair, started_ns, f"rejected: {RejectionReason.WRONG_PAIR.value}")
            return
        intake = self.on_quote(quote)
        if intake.rejection is not None:
            self._record_fetch(pair, started_ns, f"rejected: {intake.rejection.reason.value}")
            return
        self._outbox.extend(intake.events)
        self._record_fetch(pair, started_ns, "ok")

    def _record_fetch(self, pair: str, started_ns: int, outcome: str) -> None:
        self._recent_fetches.append(FetchRecord(pair, started_ns, self._clock(), outcome))
