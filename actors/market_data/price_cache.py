"""Latest accepted quote per pair, with its receive time and hit/miss counters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from actors.market_data.order_book import BookMetrics
from schemas.events import PriceUpdated

__all__ = ["CachedQuote", "Fetch", "PriceCache"]

Fetch = Callable[[str], Awaitable[PriceUpdated | None]]
"""Fetches one pair's quote over REST; ``None`` when the venue had nothing for it."""


@dataclass(frozen=True, slots=True)
class CachedQuote:
    quote: PriceUpdated
    received_ns: int

    def age_ns(self, now_ns: int) -> int:
        return max(0, now_ns - self.received_ns)


class PriceCache:
    """Holds only quotes that passed validation; a failed fetch never replaces an entry."""

    def __init__(self, ttl_ns: int) -> None:
        self.ttl_ns = ttl_ns
        self._entries: dict[str, CachedQuote] = {}
        self.books: dict[str, BookMetrics] = {}
        """Mid, spread and depth near the mid per pair, from the checksum-verified L2 book."""
        self.hits = 0
        self.misses = 0

    def put(self, quote: PriceUpdated, received_ns: int) -> None:
        self._entries[quote.pair] = CachedQuote(quote, received_ns)

    def peek(self, pair: str) -> CachedQuote | None:
        return self._entries.get(pair)

    def lookup(self, pair: str, now_ns: int) -> CachedQuote | None:
        """The entry if it is within the TTL (a hit), else ``None`` (a miss)."""
        entry = self._entries.get(pair)
        if entry is not None and entry.age_ns(now_ns) <= self.ttl_ns:
            self.hits += 1
            return entry
        self.misses += 1
        return None

    def is_fresh(self, entry: CachedQuote, now_ns: int) -> bool:
        return entry.age_ns(now_ns) <= self.ttl_ns

    def __len__(self) -> int:
        return len(self._entries)
