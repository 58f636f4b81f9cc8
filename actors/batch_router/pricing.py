"""Which price of an order counts for cost, notional and collar checks."""

from __future__ import annotations

from decimal import Decimal

from schemas.orders import OrderRequest, OrderSide, OrderType

__all__ = [
    "LIMIT_TYPES",
    "PRICE2_TYPES",
    "TRIGGER_TYPES",
    "decimal_places",
    "limit_price",
    "notional",
]

TRIGGER_TYPES = frozenset(
    {
        OrderType.STOP_LOSS,
        OrderType.TAKE_PROFIT,
        OrderType.STOP_LOSS_LIMIT,
        OrderType.TAKE_PROFIT_LIMIT,
    }
)
"""Types whose ``price`` is a trigger price."""

PRICE2_TYPES = frozenset({OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT})
"""Types whose ``price2`` is the limit price."""

LIMIT_TYPES = PRICE2_TYPES | {OrderType.LIMIT}


def limit_price(order: OrderRequest) -> Decimal | None:
    """The price the order may trade at, if it has one (``None`` for market and plain stops)."""
    if order.order_type is OrderType.LIMIT:
        return order.price
    if order.order_type in PRICE2_TYPES:
        return order.price2
    return None


def notional(order: OrderRequest, reference: Decimal | None) -> Decimal | None:
    """Absolute quote value: volume × (limit price, else the reference price). A sell is
    valued at no less than the reference: selling cheap does not make the exposure small."""
    price = limit_price(order)
    if price is None:
        price = reference
    elif order.side is OrderSide.SELL and reference is not None and reference.is_finite():
        price = max(price, reference)
    if price is None or not price.is_finite() or not order.volume.is_finite():
        return None
    return abs(order.volume * price)


def decimal_places(value: Decimal) -> int:
    """Significant decimal places of a finite value (``1.50`` has 1, ``100`` has 0)."""
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite values only
    return max(0, -exponent)
