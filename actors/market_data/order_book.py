"""L2 order books from Kraken's WS v2 ``book`` channel, checksum-verified on every message.

Each pair's book applies a snapshot or an update (``qty`` 0 removes a level), truncates to the
subscribed depth, then compares Kraken's CRC32 of the top 10 levels (``kraken.book_checksum``)
with the message's. On a mismatch the book is marked out of sync and thrown away; the caller
resubscribes the symbol and the next snapshot rebuilds it (``resyncs`` counts these). Updates
arriving while out of sync are ignored.

``BookUpdated`` is published at most once per ``min_interval_ns`` per pair (the latest state
wins), carrying the top ``top_n`` levels a side. The price cache's mid and spread follow every
verified message; its depth near the mid is recomputed when an event is published. The
router's risk check would price a market order from a ``BookUpdated`` the way
:meth:`L2Book.expected_fill` does (walk the opposite side).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from kraken.book_checksum import CHECKSUM_LEVELS, book_checksum
from kraken.ws import BookLevel as WireLevel
from kraken.ws import BookUpdate
from schemas.events import BookLevel, BookUpdated

__all__ = ["BookMetrics", "L2Book", "OrderBooks"]

_BPS = Decimal(10_000)


class _Side:
    """Levels of one side, kept sorted best first (bids are keyed by negated price)."""

    def __init__(self, *, descending: bool) -> None:
        self._descending = descending
        self._keys: list[Decimal] = []
        self._levels: dict[Decimal, tuple[Decimal, Decimal]] = {}

    def clear(self) -> None:
        self._keys.clear()
        self._levels.clear()

    def set(self, price: Decimal, qty: Decimal) -> None:
        key = -price if self._descending else price
        if qty == 0:
            if self._levels.pop(key, None) is not None:
                del self._keys[bisect_left(self._keys, key)]
            return
        if key not in self._levels:
            insort(self._keys, key)
        self._levels[key] = (price, qty)

    def truncate(self, depth: int) -> None:
        for key in self._keys[depth:]:
            del self._levels[key]
        del self._keys[depth:]

    def levels(self, count: int | None = None) -> list[tuple[Decimal, Decimal]]:
        keys = self._keys if count is None else self._keys[:count]
        levels = self._levels
        return [levels[key] for key in keys]

    def best(self) -> Decimal | None:
        return self._levels[self._keys[0]][0] if self._keys else None

    def __len__(self) -> int:
        return len(self._keys)


@dataclass
class L2Book:
    symbol: str
    price_decimals: int
    qty_decimals: int
    depth: int
    synced: bool = False
    checksum: int = 0
    bids: _Side = field(default_factory=lambda: _Side(descending=True))
    asks: _Side = field(default_factory=lambda: _Side(descending=False))

    def apply(self, update: BookUpdate) -> bool:
        """Apply one message; False when its checksum does not match (the book is dropped)."""
        if update.snapshot:
            self.bids.clear()
            self.asks.clear()
            self.synced = True
        elif not self.synced:
            return True  # waiting for the snapshot of a resubscription
        self._apply_side(self.bids, update.bids)
        self._apply_side(self.asks, update.asks)
        self.bids.truncate(self.depth)
        self.asks.truncate(self.depth)
        computed = book_checksum(
            self.asks.levels(CHECKSUM_LEVELS),
            self.bids.levels(CHECKSUM_LEVELS),
            price_decimals=self.price_decimals,
            qty_decimals=self.qty_decimals,
        )
        if computed != update.checksum:
            self.synced = False
            self.bids.clear()
            self.asks.clear()
            return False
        self.checksum = computed
        return True

    @staticmethod
    def _apply_side(side: _Side, levels: Iterable[WireLevel]) -> None:
        for level in levels:
            side.set(level.price, level.qty)

    def mid(self) -> Decimal | None:
        bid, ask = self.bids.best(), self.asks.best()
        return None if bid is None or ask is None else (bid + ask) / 2

    def spread(self) -> Decimal | None:
        bid, ask = self.bids.best(), self.asks.best()
        return None if bid is None or ask is None else ask - bid

    def depth_within_bps(self, bps: Decimal) -> tuple[Decimal, Decimal]:
        """(bid qty, ask qty) resting within ``bps`` basis points of the mid."""
        mid = self.mid()
        if mid is None:
            return Decimal(0), Decimal(0)
        reach = mid * bps / _BPS
        bid_qty = ask_qty = Decimal(0)
        for price, qty in self.bids.levels():  # best first: stop at the first level too far
            if price < mid - reach:
                break
            bid_qty += qty
        for price, qty in self.asks.levels():
            if price > mid + reach:
                break
            ask_qty += qty
        return bid_qty, ask_qty

    def expected_fill(self, side: str, volume: Decimal) -> Decimal | None:
        """The volume-weighted price a market order of ``side`` would get; None if too thin."""
        levels = self.asks.levels() if side == "buy" else self.bids.levels()
        cost, left = Decimal(0), volume
        for price, qty in levels:
            take = min(left, qty)
            cost += take * price
            left -= take
            if left <= 0:
                return cost / volume
        return None


@dataclass(frozen=True, slots=True)
class BookMetrics:
    """What the price cache keeps per pair beside the quote."""

    mid: Decimal
    spread: Decimal
    depth_bid: Decimal
    depth_ask: Decimal
    checksum: int


@dataclass
class _Throttle:
    last_ns: int | None = None


class OrderBooks:
    """One :class:`L2Book` per pair, the resync counters and the throttled ``BookUpdated``."""

    def __init__(
        self,
        decimals: dict[str, tuple[int, int]],
        *,
        depth: int,
        top_n: int,
        min_interval_ns: int,
        depth_bps: Decimal = Decimal(10),
    ) -> None:
        self.books = {
            symbol: L2Book(symbol, price_dp, qty_dp, depth)
            for symbol, (price_dp, qty_dp) in decimals.items()
        }
        self.top_n = top_n
        self.min_interval_ns = min_interval_ns
        self.depth_bps = depth_bps
        self.resyncs: dict[str, int] = dict.fromkeys(decimals, 0)
        self.checksum_failures = 0
        self.updates = 0
        self.metrics: dict[str, BookMetrics] = {}
        self._throttles = {symbol: _Throttle() for symbol in decimals}

    def on_update(self, update: BookUpdate, now_ns: int) -> tuple[BookUpdated | None, bool]:
        """``(event to publish or None, resubscribe needed)`` for one message."""
        book = self.books.get(update.symbol)
        if book is None:
            return None, False
        self.updates += 1
        if not book.apply(update):
            self.checksum_failures += 1
            self.resyncs[update.symbol] += 1
            self.metrics.pop(update.symbol, None)
            return None, True
        if not book.synced:
            return None, False
        mid, spread = book.mid(), book.spread()
        if mid is None or spread is None:
            return None, False
        throttle = self._throttles[update.symbol]
        previous = self.metrics.get(update.symbol)
        if throttle.last_ns is not None and now_ns - throttle.last_ns < self.min_interval_ns:
            if previous is not None:  # mid and spread stay exact; depth refreshes when published
                self.metrics[update.symbol] = BookMetrics(
                    mid, spread, previous.depth_bid, previous.depth_ask, book.checksum
                )
            return None, False
        throttle.last_ns = now_ns
        depth_bid, depth_ask = book.depth_within_bps(self.depth_bps)
        self.metrics[update.symbol] = BookMetrics(mid, spread, depth_bid, depth_ask, book.checksum)
        event = BookUpdated(
            ts_event=update.received_ns or now_ns,
            ts_init=now_ns,
            pair=update.symbol,
            bids=tuple(BookLevel(p, q) for p, q in book.bids.levels(self.top_n)),
            asks=tuple(BookLevel(p, q) for p, q in book.asks.levels(self.top_n)),
            mid=mid,
            spread=spread,
            checksum=book.checksum,
            resyncs=self.resyncs[update.symbol],
        )
        return event, False

    def health(self) -> dict[str, object]:
        return {
            "updates": self.updates,
            "checksum_failures": self.checksum_failures,
            "resyncs": dict(self.resyncs),
            "synced": {symbol: book.synced for symbol, book in self.books.items()},
        }
