"""Every kind of bad quote is refused with a reason and leaves cache and volatility untouched."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest

from actors.market_data.quote_validation import RejectionReason
from actors.market_data.service import EnhancedMarketDataService
from bus.clock import ManualClock
from schemas.config import MarketDataConfig, VolatilityConfig
from schemas.events import PriceSource, PriceUpdated, VolatilityUpdated

START_NS = 1_798_761_600_000_000_000  # 2027-01-01T00:00:00Z
SECOND = 1_000_000_000
CONFIG = MarketDataConfig(
    pairs=("BTC/USD",),
    holiday_calendars=(),
    volatility=VolatilityConfig(timeframes=("1m",), window_bars=3),
)


def make_quote(offset_s: float, mid: float, **overrides: Any) -> PriceUpdated:
    ts = START_NS + int(offset_s * SECOND)
    fields: dict[str, Any] = {
        "pair": "BTC/USD",
        "bid": Decimal(str(mid)) - Decimal("0.5"),
        "ask": Decimal(str(mid)) + Decimal("0.5"),
        "last": Decimal(str(mid)),
        "bid_size": Decimal("1.5"),
        "ask_size": Decimal("2"),
        "volume_24h": Decimal("1000"),
        "vwap_24h": Decimal(str(mid)),
        "source": PriceSource.WS,
        "exchange_ts_ns": ts,
        "ts_event": ts,
        "ts_init": ts,
    }
    fields.update(overrides)
    return PriceUpdated(**fields)


GOOD_BEFORE = [make_quote(0, 100.0), make_quote(30, 101.0), make_quote(61, 102.0)]
GOOD_AFTER = [make_quote(62, 103.0), make_quote(125, 99.0), make_quote(190, 104.0)]
FAR_FUTURE_S = 10_000.0
BAD_QUOTES: dict[str, tuple[RejectionReason, dict[str, Any]]] = {
    "unknown_pair": (RejectionReason.UNKNOWN_PAIR, {"pair": "DOGE/USD"}),
    "nan_bid": (RejectionReason.NON_FINITE, {"bid": Decimal("NaN")}),
    "infinite_ask": (RejectionReason.NON_FINITE, {"ask": Decimal("Infinity")}),
    "nan_size": (RejectionReason.NON_FINITE, {"bid_size": Decimal("sNaN")}),
    "zero_bid": (RejectionReason.NON_POSITIVE_PRICE, {"bid": Decimal(0)}),
    "negative_ask": (RejectionReason.NON_POSITIVE_PRICE, {"ask": Decimal(-1)}),
    "zero_last": (RejectionReason.NON_POSITIVE_PRICE, {"last": Decimal(0)}),
    "crossed": (RejectionReason.CROSSED, {"bid": Decimal(200), "ask": Decimal(199)}),
    "negative_bid_size": (RejectionReason.NEGATIVE_SIZE, {"bid_size": Decimal("-0.1")}),
    "negative_ask_size": (RejectionReason.NEGATIVE_SIZE, {"ask_size": Decimal(-1)}),
    "negative_volume": (RejectionReason.NEGATIVE_SIZE, {"volume_24h": Decimal(-5)}),
}


def volatility_events(events: list[Any]) -> list[VolatilityUpdated]:
    return [e for e in events if isinstance(e, VolatilityUpdated)]


def run(
    service: EnhancedMarketDataService, clock: ManualClock, quotes: list[PriceUpdated]
) -> list[Any]:
    events: list[Any] = []
    for quote in quotes:
        clock.set(quote.ts_event)
        intake = service.on_quote(quote)
        assert intake.accepted, intake.rejection
        events += intake.events
    return events


def expected_after_good_quotes_only() -> list[VolatilityUpdated]:
    clock = ManualClock(START_NS)
    service = EnhancedMarketDataService(CONFIG, clock, _never_fetch)
    run(service, clock, GOOD_BEFORE)
    events = volatility_events(run(service, clock, GOOD_AFTER))
    assert len(events) == 2  # the comparison below must be about real bar closes
    return events


async def _never_fetch(pair: str) -> PriceUpdated | None:
    raise AssertionError(f"no fetch expected for {pair}")


@pytest.mark.parametrize("kind", sorted(BAD_QUOTES))
async def test_bad_quote_when_received_then_rejected_and_state_untouched(kind: str) -> None:
    reason, overrides = BAD_QUOTES[kind]
    clock = ManualClock(START_NS)
    service = EnhancedMarketDataService(CONFIG, clock, _never_fetch)
    run(service, clock, GOOD_BEFORE)
    cached_before = await service.get_price("BTC/USD")
    # A far-future time: if accepted it would close bars and move the ordering watermark.
    bad = make_quote(
        FAR_FUTURE_S,
        5_000.0,
        **{"exchange_ts_ns": START_NS + int(FAR_FUTURE_S * SECOND), **overrides},
    )

    intake = service.on_quote(bad)

    assert intake.rejection is not None
    assert intake.rejection.reason is reason
    assert intake.events == []
    cached_after = await service.get_price("BTC/USD")
    assert cached_after.quote == GOOD_BEFORE[-1] == cached_before.quote
    assert volatility_events(run(service, clock, GOOD_AFTER)) == expected_after_good_quotes_only()
    assert service.health_check()["rejected_quotes"] == {reason.value: 1}


async def test_out_of_order_quote_when_received_then_rejected_and_state_untouched() -> None:
    clock = ManualClock(START_NS)
    service = EnhancedMarketDataService(CONFIG, clock, _never_fetch)
    run(service, clock, GOOD_BEFORE)
    older = make_quote(1, 5_000.0)

    intake = service.on_quote(older)

    assert intake.rejection is not None
    assert intake.rejection.reason is RejectionReason.OUT_OF_ORDER
    assert intake.events == []
    assert (await service.get_price("BTC/USD")).quote == GOOD_BEFORE[-1]
    assert volatility_events(run(service, clock, GOOD_AFTER)) == expected_after_good_quotes_only()


def test_quote_with_equal_exchange_time_is_accepted() -> None:
    clock = ManualClock(START_NS)
    service = EnhancedMarketDataService(CONFIG, clock, _never_fetch)
    run(service, clock, [make_quote(5, 100.0)])
    same_time = msgspec.structs.replace(make_quote(5, 100.2), source=PriceSource.REST)
    assert service.on_quote(same_time).accepted


def test_locked_book_with_bid_equal_to_ask_is_accepted() -> None:
    service = EnhancedMarketDataService(CONFIG, ManualClock(START_NS), _never_fetch)
    locked = make_quote(1, 100.0, bid=Decimal(100), ask=Decimal(100))
    intake = service.on_quote(locked)
    assert intake.accepted
    assert intake.events[0] == locked


def test_quote_without_exchange_time_skips_ordering_and_keeps_the_watermark() -> None:
    """A REST quote has no exchange time: it is accepted, and the WS ordering still holds."""
    clock = ManualClock(START_NS)
    service = EnhancedMarketDataService(CONFIG, clock, _never_fetch)
    run(service, clock, [make_quote(10, 100.0)])
    rest = make_quote(9, 100.1, exchange_ts_ns=None, source=PriceSource.REST)
    older_ws = make_quote(9.5, 100.2)

    assert service.on_quote(rest).accepted
    rejection = service.on_quote(older_ws).rejection
    assert rejection is not None
    assert rejection.reason is RejectionReason.OUT_OF_ORDER
