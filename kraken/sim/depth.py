"""The synthetic book as Kraken shows it: REST ``Depth`` and the WS v2 ``book`` channel.

WS v2 ``book`` (KRAKEN.md §5): depths 10, 25, 100, 500, 1000 (default 10); a ``snapshot`` of the
top ``depth`` levels a side, then ``update``s carrying only the levels that changed (``qty`` 0
removes one), each message with the CRC32 checksum of the top 10 levels after the update is
applied and the book truncated to the depth. The simulator sends a delete for every level that
left the subscribed window, so applying an update and truncating always gives exactly the view it
checksummed. Prices and quantities are JSON numbers, as on the wire. The book shows the market's
synthetic liquidity only (the simulated accounts' resting orders are not in it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kraken.book_checksum import book_checksum
from kraken.sim.book import Level, SyntheticBook
from kraken.sim.pairs import PairSpec
from kraken.sim.wire import NANOS_PER_SECOND, format_decimal, rfc3339_micros

__all__ = [
    "DEPTH_DEFAULT",
    "DEPTH_MAX",
    "WS_DEPTHS",
    "BookView",
    "book_message",
    "rest_depth",
    "view_of",
]

WS_DEPTHS = frozenset({10, 25, 100, 500, 1000})
DEPTH_DEFAULT = 100
DEPTH_MAX = 500

Side = dict[Decimal, Decimal]


def _top(levels: list[Level], count: int) -> list[tuple[Decimal, Decimal]]:
    return [(level.price, level.qty) for level in levels[:count]]


def rest_depth(book: SyntheticBook, count: int, now_ns: int) -> dict[str, Any]:
    """One pair's entry of REST ``Depth``: ``[price, volume, timestamp]`` rows as strings."""
    spec = book.spec
    stamp = now_ns // NANOS_PER_SECOND

    def rows(levels: list[Level]) -> list[list[Any]]:
        return [
            [
                format_decimal(price, spec.pair_decimals),
                format_decimal(qty, spec.lot_decimals),
                stamp,
            ]
            for price, qty in _top(levels, count)
        ]

    return {"asks": rows(book.asks), "bids": rows(book.bids)}


@dataclass(slots=True)
class BookView:
    """What one subscriber was last sent for one symbol."""

    depth: int
    asks: Side = field(default_factory=dict)
    bids: Side = field(default_factory=dict)


def view_of(book: SyntheticBook, depth: int) -> tuple[Side, Side]:
    return dict(_top(book.asks, depth)), dict(_top(book.bids, depth))


def _wire_levels(spec: PairSpec, levels: list[tuple[Decimal, Decimal]]) -> list[dict[str, float]]:
    return [
        {
            "price": float(round(price, spec.pair_decimals)),
            "qty": float(round(qty, spec.lot_decimals)),
        }
        for price, qty in levels
    ]


def _changes(old: Side, new: Side, *, reverse: bool) -> list[tuple[Decimal, Decimal]]:
    changed = [(price, qty) for price, qty in new.items() if old.get(price) != qty]
    removed = [(price, Decimal(0)) for price in old if price not in new]
    return sorted(removed + changed, reverse=reverse)


def book_message(
    book: SyntheticBook, view: BookView, now_ns: int, *, snapshot: bool
) -> dict[str, Any] | None:
    """The next message for ``view`` (updating it), or None when nothing in its window changed."""
    spec = book.spec
    asks, bids = view_of(book, view.depth)
    if snapshot:
        ask_levels, bid_levels = sorted(asks.items()), sorted(bids.items(), reverse=True)
    else:
        ask_levels = _changes(view.asks, asks, reverse=False)
        bid_levels = _changes(view.bids, bids, reverse=True)
        if not ask_levels and not bid_levels:
            return None
    view.asks, view.bids = asks, bids
    checksum = book_checksum(
        sorted(asks.items()),
        sorted(bids.items(), reverse=True),
        price_decimals=spec.pair_decimals,
        qty_decimals=spec.lot_decimals,
    )
    data: dict[str, Any] = {
        "symbol": spec.ws_symbol,
        "bids": _wire_levels(spec, bid_levels),
        "asks": _wire_levels(spec, ask_levels),
        "checksum": checksum,
    }
    if not snapshot:
        data["timestamp"] = rfc3339_micros(now_ns)
    return {"channel": "book", "type": "snapshot" if snapshot else "update", "data": [data]}
