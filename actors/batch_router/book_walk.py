"""What a market order is expected to pay: one side of the L2 book walked for its volume."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

from schemas.events import BookLevel, BookUpdated
from schemas.orders import OrderSide

__all__ = ["BookWalk", "DepthShortfall", "walk_book"]

_EXACT_PRECISION = 80
"""Digits for the running sums: prices and sizes are bounded to 1e15 with 18 places, so a
product has at most 66 digits and the sums stay exact; only the final division rounds."""


@dataclass(frozen=True, slots=True)
class BookWalk:
    """The volume-weighted average fill price and the worst level the walk touched."""

    average_price: Decimal
    worst_price: Decimal


@dataclass(frozen=True, slots=True)
class DepthShortfall:
    """The visible side holds only ``visible`` (base units), less than the order's volume."""

    visible: Decimal


def walk_book(book: BookUpdated, side: OrderSide, volume: Decimal) -> BookWalk | DepthShortfall:
    """A buy takes the asks, cheapest first; a sell takes the bids, dearest first."""
    if not volume.is_finite() or volume <= 0:
        raise ValueError(f"a book walk needs a positive volume, got {volume}")
    buy = side is OrderSide.BUY
    levels = sorted(book.asks if buy else book.bids, key=_price, reverse=not buy)
    with localcontext() as exact:
        exact.prec = _EXACT_PRECISION
        remaining = volume
        cost = Decimal(0)
        visible = Decimal(0)
        for level in levels:
            if level.qty <= 0:
                continue
            visible += level.qty
            taken = min(level.qty, remaining)
            cost += taken * level.price
            remaining -= taken
            if remaining == 0:
                worst = level.price
                break
        else:
            return DepthShortfall(visible=visible)
    return BookWalk(average_price=cost / volume, worst_price=worst)


def _price(level: BookLevel) -> Decimal:
    return level.price
