"""Quote intake checks: a bad quote is refused with a reason before it touches any state."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from schemas.events import PriceUpdated

__all__ = ["QuoteRejection", "QuoteValidator", "RejectionReason", "quote_time_ns"]


class RejectionReason(enum.StrEnum):
    UNKNOWN_PAIR = "unknown_pair"
    NON_FINITE = "non_finite"
    NON_POSITIVE_PRICE = "non_positive_price"
    CROSSED = "crossed"
    NEGATIVE_SIZE = "negative_size"
    OUT_OF_ORDER = "out_of_order"
    WRONG_PAIR = "wrong_pair"
    """A REST fetch for one pair answered with a quote for another."""


@dataclass(frozen=True, slots=True)
class QuoteRejection:
    """Why a quote was refused; the shell logs and counts it, nothing else changes."""

    pair: str
    reason: RejectionReason
    detail: str


def quote_time_ns(quote: PriceUpdated) -> int:
    """The exchange time of a quote when known, else its event time."""
    return quote.exchange_ts_ns if quote.exchange_ts_ns is not None else quote.ts_event


class QuoteValidator:
    """Validates quotes for the configured pairs and remembers the last accepted exchange time.

    ``validate`` has no side effect; ``accept`` records an accepted quote's ``exchange_ts_ns`` so
    a later quote with an older exchange time is refused as out of order (equal times pass). A
    quote without an exchange time (REST Ticker has none; the shell stamps its receive time in
    ``ts_event``) cannot be ordered against the exchange's clock, so it skips that check.
    """

    def __init__(self, pairs: Iterable[str]) -> None:
        self._pairs = frozenset(pairs)
        self._last_accepted_ns: dict[str, int] = {}

    @property
    def pairs(self) -> frozenset[str]:
        return self._pairs

    def validate(self, quote: PriceUpdated) -> QuoteRejection | None:
        pair = quote.pair
        if pair not in self._pairs:
            return QuoteRejection(pair, RejectionReason.UNKNOWN_PAIR, f"{pair!r} is not configured")
        numbers: dict[str, Decimal] = {
            "bid": quote.bid,
            "ask": quote.ask,
            "last": quote.last,
            "bid_size": quote.bid_size,
            "ask_size": quote.ask_size,
            "volume_24h": quote.volume_24h,
            "vwap_24h": quote.vwap_24h,
        }
        for name, value in numbers.items():
            if not value.is_finite():
                return QuoteRejection(pair, RejectionReason.NON_FINITE, f"{name}={value}")
        for name in ("bid", "ask", "last"):
            if numbers[name] <= 0:
                return QuoteRejection(
                    pair, RejectionReason.NON_POSITIVE_PRICE, f"{name}={numbers[name]}"
                )
        if quote.bid > quote.ask:
            return QuoteRejection(
                pair, RejectionReason.CROSSED, f"bid {quote.bid} > ask {quote.ask}"
            )
        for name in ("bid_size", "ask_size", "volume_24h", "vwap_24h"):
            if numbers[name] < 0:
                return QuoteRejection(
                    pair, RejectionReason.NEGATIVE_SIZE, f"{name}={numbers[name]}"
                )
        last_ns = self._last_accepted_ns.get(pair)
        quote_ns = quote.exchange_ts_ns
        if last_ns is not None and quote_ns is not None and quote_ns < last_ns:
            return QuoteRejection(
                pair,
                RejectionReason.OUT_OF_ORDER,
                f"exchange time {quote_ns} is before the last accepted {last_ns}",
            )
        return None

    def accept(self, quote: PriceUpdated) -> None:
        if quote.exchange_ts_ns is not None:
            self._last_accepted_ns[quote.pair] = quote.exchange_ts_ns
