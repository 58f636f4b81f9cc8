"""The service facade: cache TTL, single-flight fetches, breakers, staleness, timer, health."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, cast

import numpy as np

from actors.market_data.service import EnhancedMarketDataService
from bus.clock import ManualClock
from schemas.config import MarketDataConfig, VolatilityConfig
from schemas.events import (
    BreakerState,
    CircuitBreakerStateChanged,
    ExchangeStatus,
    ExchangeStatusChanged,
    MarketSessionChanged,
    PriceRecovered,
    PriceSource,
    PriceStale,
    PriceUpdated,
    VolatilityUpdated,
)
from schemas.queries import ExchangeStatusQuery, PriceQuery

START_NS = 1_798_761_600_000_000_000  # 2027-01-01T00:00:00Z
SECOND = 1_000_000_000
PAIR = "BTC/USD"
CONFIG = MarketDataConfig(
    pairs=(PAIR, "ETH/USD"),
    cache_ttl_seconds=1.0,
    staleness_threshold_seconds=30.0,
    holiday_calendars=(),
    volatility=VolatilityConfig(timeframes=("1m",), window_bars=5),
)

Fetch = Callable[[str], Awaitable[PriceUpdated | None]]


def make_quote(clock: ManualClock, mid: float = 100.0, pair: str = PAIR) -> PriceUpdated:
    return PriceUpdated(
        pair=pair,
        bid=Decimal(str(mid)) - Decimal("0.5"),
        ask=Decimal(str(mid)) + Decimal("0.5"),
        last=Decimal(str(mid)),
        bid_size=Decimal(1),
        ask_size=Decimal(1),
        volume_24h=Decimal(10),
        vwap_24h=Decimal(str(mid)),
        source=PriceSource.WS,
        exchange_ts_ns=clock(),
        ts_event=clock(),
        ts_init=clock(),
    )


class RecordingFetch:
    """A REST fetch that can be held open until released and can be told to fail."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.calls: list[str] = []
        self.release = asyncio.Event()
        self.release.set()
        self.started = asyncio.Event()
        self.failure: Exception | None = None

    async def __call__(self, pair: str) -> PriceUpdated | None:
        self.calls.append(pair)
        self.started.set()
        await self.release.wait()
        if self.failure is not None:
            raise self.failure
        quote = make_quote(self.clock, 200.0, pair)
        return PriceUpdated(**{**_fields(quote), "source": PriceSource.REST})


def _fields(quote: PriceUpdated) -> dict[str, Any]:
    return {name: getattr(quote, name) for name in quote.__struct_fields__}


def breaker(
    state: BreakerState, since_ns: int, scope: str = "kraken.public"
) -> CircuitBreakerStateChanged:
    return CircuitBreakerStateChanged(
        scope=scope,
        state=state,
        previous=BreakerState.CLOSED,
        reason="test",
        since_ns=since_ns,
        ts_event=since_ns,
        ts_init=since_ns,
    )


def cache_stats(service: EnhancedMarketDataService) -> dict[str, Any]:
    return cast(dict[str, Any], service.health_check()["cache"])


def build() -> tuple[EnhancedMarketDataService, ManualClock, RecordingFetch]:
    clock = ManualClock(START_NS)
    fetch = RecordingFetch(clock)
    return EnhancedMarketDataService(CONFIG, clock, fetch), clock, fetch


async def test_get_price_when_within_ttl_then_served_from_cache_without_fetch() -> None:
    service, clock, fetch = build()
    quote = make_quote(clock)
    service.on_quote(quote)
    clock.advance(0.5)

    reply = await service.on_price_query(PriceQuery(pair=PAIR))

    assert (reply.quote, reply.age_ns, reply.stale, reply.error) == (
        quote,
        SECOND // 2,
        False,
        None,
    )
    assert fetch.calls == []
    assert service.health_check()["cache"] == {
        "entries": 1,
        "ttl_ns": SECOND,
        "hits": 1,
        "misses": 0,
        "rest_calls": 0,
        "coalesced_waits": 0,
        "fetch_failures": 0,
        "fetches_skipped_breaker_open": 0,
    }


async def test_fifty_concurrent_queries_when_cache_expired_then_exactly_one_fetch() -> None:
    service, clock, fetch = build()
    service.on_quote(make_quote(clock))
    clock.advance(5)
    fetch.release.clear()

    async with asyncio.timeout(10):
        tasks = [asyncio.create_task(service.get_price(PAIR)) for _ in range(50)]
        await fetch.started.wait()
        # Tasks run in creation order, so every caller is queued on the one fetch by now.
        assert cache_stats(service)["coalesced_waits"] == 49
        fetch.release.set()
        replies = await asyncio.gather(*tasks)

    assert fetch.calls == [PAIR]
    assert {r.quote.last for r in replies if r.quote is not None} == {Decimal(200)}
    assert all(not r.stale and r.age_ns == 0 for r in replies)
    cache = cache_stats(service)
    assert (cache["rest_calls"], cache["coalesced_waits"], cache["misses"]) == (1, 49, 50)
    published = service.drain_events()
    assert len(published) == 1
    assert isinstance(published[0], PriceUpdated)
    assert published[0].source is PriceSource.REST


async def test_fetch_failure_when_cache_expired_then_old_quote_flagged_stale_and_kept() -> None:
    service, clock, fetch = build()
    quote = make_quote(clock)
    service.on_quote(quote)
    clock.advance(3)
    fetch.failure = ConnectionError("refused")

    failed = await service.get_price(PAIR)
    fetch.failure = None
    recovered = await service.get_price(PAIR)

    assert (failed.quote, failed.stale, failed.age_ns) == (quote, True, 3 * SECOND)
    assert recovered.quote is not None
    assert (recovered.quote.last, recovered.stale) == (Decimal(200), False)
    health = cast(dict[str, Any], service.health_check())
    assert health["cache"]["fetch_failures"] == 1
    outcomes = [f["outcome"] for f in health["recent_fetches"]]
    assert outcomes == ["error: ConnectionError: refused", "ok"]


async def test_fetch_failure_with_empty_cache_then_error_reply() -> None:
    service, _, fetch = build()
    fetch.failure = TimeoutError()

    reply = await service.get_price(PAIR)

    assert (reply.quote, reply.stale) == (None, True)
    assert reply.error is not None


async def test_public_breaker_open_then_no_fetch_and_cached_quote_flagged_stale() -> None:
    service, clock, fetch = build()
    quote = make_quote(clock)
    service.on_quote(quote)
    service.on_breaker(breaker(BreakerState.OPEN, clock()))
    clock.advance(5)

    replies = await asyncio.gather(*(service.get_price(PAIR) for _ in range(50)))
    empty = await service.get_price("ETH/USD")

    assert fetch.calls == []
    assert all(r.quote == quote and r.stale for r in replies)
    assert (empty.quote, empty.stale) == (None, True)
    assert empty.error is not None
    assert "kraken.public" in empty.error
    assert not service.rest_allowed
    assert service.health_check()["breakers"] == {"kraken.public": "open"}


async def test_public_breaker_closing_then_fetches_resume_and_older_events_are_ignored() -> None:
    service, clock, fetch = build()
    service.on_breaker(breaker(BreakerState.OPEN, clock()))
    service.on_breaker(breaker(BreakerState.CLOSED, clock() + 1))
    service.on_breaker(breaker(BreakerState.OPEN, clock()))  # late, older event

    reply = await service.get_price(PAIR)

    assert service.rest_allowed
    assert fetch.calls == [PAIR]
    assert reply.quote is not None


def test_should_poll_rest_follows_ws_state_and_breakers() -> None:
    service, clock, _ = build()
    assert service.should_poll_rest  # no WebSocket yet
    service.set_ws_connected(True)
    assert not service.should_poll_rest
    service.on_breaker(breaker(BreakerState.OPEN, clock(), scope="kraken.ws"))
    assert not service.ws_allowed
    assert service.should_poll_rest
    service.on_breaker(breaker(BreakerState.OPEN, clock(), scope="kraken.public"))
    assert not service.should_poll_rest


async def test_unknown_pair_query_then_error_reply_without_fetch() -> None:
    service, _, fetch = build()
    reply = await service.get_price("DOGE/USD")
    assert reply.error is not None
    assert reply.quote is None
    assert fetch.calls == []


async def test_staleness_when_updates_stop_then_stale_once_and_recovered_on_data() -> None:
    service, clock, _ = build()
    service.on_quote(make_quote(clock))
    service.tick(clock())
    clock.advance(29)
    assert [e for e in service.tick(clock()) if isinstance(e, PriceStale)] == []
    clock.advance(1)

    first = [e for e in service.tick(clock()) if isinstance(e, PriceStale)]
    second = [e for e in service.tick(clock() + 5 * SECOND) if isinstance(e, PriceStale)]
    service.on_breaker(breaker(BreakerState.OPEN, clock()))  # keep the query from fetching
    stale_reply = await service.get_price(PAIR)
    clock.advance(10)
    intake = service.on_quote(make_quote(clock, 101.0))
    fresh_reply = await service.get_price(PAIR)

    assert [(e.pair, e.last_update_ns) for e in first] == [(PAIR, START_NS), ("ETH/USD", None)]
    assert second == []
    assert stale_reply.stale
    recovered = [e for e in intake.events if isinstance(e, PriceRecovered)]
    assert [(e.pair, e.stale_for_ns) for e in recovered] == [(PAIR, 40 * SECOND)]
    assert not fresh_reply.stale
    assert service.health_check()["stale_pairs"] == ["ETH/USD"]
    clock.advance(30)
    again = [e for e in service.tick(clock()) if isinstance(e, PriceStale)]
    assert [e.pair for e in again] == [PAIR]


def test_stale_pair_is_flagged_in_replies_before_the_timer_notices() -> None:
    service, clock, _ = build()
    service.on_quote(make_quote(clock))
    clock.advance(31)
    assert service.is_stale(PAIR)


def test_volatility_from_quotes_uses_mid_price_per_bar() -> None:
    """Realized volatility of 1m bars equals numpy's on the bars' closing mids."""
    service, clock, _ = build()
    mids = [100.0, 101.5, 99.0, 102.0, 100.5]
    events: list[Any] = []
    for minute, mid in enumerate(mids):
        clock.set(START_NS + minute * 60 * SECOND + 10 * SECOND)
        events += service.on_quote(make_quote(clock, mid)).events
    events += service.tick(START_NS + 5 * 60 * SECOND)

    closes = [e for e in events if isinstance(e, VolatilityUpdated) and e.pair == PAIR]
    assert [e.bar_close_ns for e in closes] == [START_NS + (m + 1) * 60 * SECOND for m in range(5)]
    expected = float(np.std(np.diff(np.log(mids)), ddof=1)) * math.sqrt(365 * 24 * 60)
    assert closes[-1].realized is not None
    assert abs(closes[-1].realized - expected) / expected <= 1e-9
    assert service.volatility(PAIR, "1m") == closes[-1]


def test_first_tick_announces_sessions_and_exchange_status() -> None:
    service, clock, _ = build()
    events = service.tick(clock())
    assert [type(e) for e in events if not isinstance(e, PriceStale)] == [
        ExchangeStatusChanged,
        MarketSessionChanged,
    ]
    assert service.tick(clock()) == []


def test_system_status_transitions_and_permissions() -> None:
    service, clock, _ = build()
    service.tick(clock())

    events = service.on_system_status("cancel_only", "ws")
    unknown = service.on_system_status("on_fire", "rest")

    assert [(e.status, e.source) for e in events if isinstance(e, ExchangeStatusChanged)] == [
        (ExchangeStatus.CANCEL_ONLY, "ws")
    ]
    assert len(events) == 1
    assert unknown == []
    assert not service.can_place()
    assert service.can_cancel()
    reply = service.on_exchange_status_query(ExchangeStatusQuery())
    assert (reply.exchange, reply.status, reply.can_place) == (
        "kraken",
        ExchangeStatus.CANCEL_ONLY,
        False,
    )
    assert service.health_check()["unknown_statuses"] == {"on_fire": 1}


def test_health_check_reports_feed_state() -> None:
    service, clock, _ = build()
    service.set_ws_connected(True)
    service.record_connection_failure()
    service.record_reconnect()
    service.on_quote(make_quote(clock))
    clock.advance(2)

    health = service.health_check()

    assert health["ws_connected"] is True
    assert (health["connection_failures"], health["reconnects"]) == (1, 1)
    assert health["pairs"] == {
        "BTC/USD": {"message_age_ns": 2 * SECOND, "stale": False, "source": "ws"},
        "ETH/USD": {"message_age_ns": None, "stale": False, "source": None},
    }
    assert health["accepted_quotes"] == {"ws": 1}
    assert health["exchange_status"] == {"kraken": "online"}
