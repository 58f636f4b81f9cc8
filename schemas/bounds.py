"""Bounds every Decimal arriving on the bus must meet before any code does arithmetic with it.

``Decimal`` decodes ``NaN``, ``sNaN``, ``Infinity`` and ``1E+999999`` without complaint; the
first arithmetic or comparison on them raises (``InvalidOperation``, ``Overflow``,
``DivisionImpossible``). The bus codec calls :func:`bound_violation` on every decoded message,
so such a message is rejected with a reason at the boundary instead of throwing in a handler.
Objects built in-process are not checked here: e.g. market-data validates Kraken's quotes with
reasons of its own before publishing them.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from schemas.events import BookUpdated, OrderBatchRequested, PriceUpdated
from schemas.orders import OrderRequest

__all__ = [
    "BOUNDED_TYPES",
    "MAX_DECIMAL_PLACES",
    "MAX_MAGNITUDE",
    "bound_violation",
    "check_bounded",
]

MAX_MAGNITUDE = Decimal("1e15")
"""Far above any price or quantity on Kraken, far below where arithmetic overflows."""
MAX_DECIMAL_PLACES = 18


def check_bounded(name: str, value: Decimal | None, *, positive: bool = False) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is finite and within bounds."""
    if value is None:
        return
    if not value.is_finite():
        raise ValueError(f"{name} must be a finite number, got {value}")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite values have an int exponent
    if exponent < -MAX_DECIMAL_PLACES and value != 0:
        raise ValueError(f"{name} has more than {MAX_DECIMAL_PLACES} decimal places")
    if abs(value) > MAX_MAGNITUDE:
        raise ValueError(f"{name} exceeds {MAX_MAGNITUDE:.0E} in magnitude")
    if positive and value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")


def _check_book(book: BookUpdated) -> None:
    check_bounded("mid", book.mid)
    check_bounded("spread", book.spread)
    for side, levels in (("bids", book.bids), ("asks", book.asks)):
        for level in levels:
            check_bounded(f"{side}.price", level.price)
            check_bounded(f"{side}.qty", level.qty)


def _check_quote(quote: PriceUpdated) -> None:
    check_bounded("bid", quote.bid, positive=True)
    check_bounded("ask", quote.ask, positive=True)
    check_bounded("last", quote.last)
    check_bounded("bid_size", quote.bid_size)
    check_bounded("ask_size", quote.ask_size)
    check_bounded("volume_24h", quote.volume_24h)
    check_bounded("vwap_24h", quote.vwap_24h)


def _check_order(order: OrderRequest, where: str = "") -> None:
    # Sign, lot size and tick size are the router's to judge, with a reason event per order.
    check_bounded(f"{where}volume", order.volume)
    check_bounded(f"{where}price", order.price)
    check_bounded(f"{where}price2", order.price2)


def _check_batch(batch: OrderBatchRequested) -> None:
    for index, order in enumerate(batch.orders):
        _check_order(order, f"orders[{index}].")


_CHECKS: dict[type, Callable[[object], None]] = {
    PriceUpdated: _check_quote,  # type: ignore[dict-item]
    BookUpdated: _check_book,  # type: ignore[dict-item]
    OrderBatchRequested: _check_batch,  # type: ignore[dict-item]
    OrderRequest: _check_order,  # type: ignore[dict-item]
}
BOUNDED_TYPES = frozenset(_CHECKS)


def bound_violation(message: object) -> str | None:
    """Why ``message`` carries a number no arithmetic survives, or ``None``."""
    check = _CHECKS.get(type(message))
    if check is None:
        return None
    try:
        check(message)
    except ValueError as e:
        return str(e)
    return None
