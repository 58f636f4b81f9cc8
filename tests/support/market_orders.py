"""Market-order batches for suites that judge duplicates on the simulator's ledger: a market
order FILLS at once, so a second placement of it would really land (a resting limit order would
hide it: Kraken's ``cl_ord_id`` is unique only among open orders)."""

from __future__ import annotations

import time
from decimal import Decimal

from schemas.events import OrderBatchRequested
from schemas.orders import BatchStrategy, OrderRequest, OrderSide, OrderType

__all__ = ["market_batch", "market_order"]


def market_order(
    volume: str = "0.0001", *, side: OrderSide = OrderSide.BUY, cl_ord_id: str | None = None
) -> OrderRequest:
    return OrderRequest(
        pair="BTC/USD",
        side=side,
        order_type=OrderType.MARKET,
        volume=Decimal(volume),
        cl_ord_id=cl_ord_id,
    )


def market_batch(
    batch_id: str, orders: int = 1, *, cl_ord_id: str | None = None, ts_ns: int | None = None
) -> OrderBatchRequested:
    """``orders`` market buys of BTC/USD in one SEQUENTIAL batch, stamped now unless ``ts_ns``
    is given; ``cl_ord_id`` names a single order (derived ids otherwise)."""
    now = time.time_ns() if ts_ns is None else ts_ns
    return OrderBatchRequested(
        ts_event=now,
        ts_init=now,
        batch_id=batch_id,
        orders=(market_order(cl_ord_id=cl_ord_id),) * orders,
        strategy=BatchStrategy.SEQUENTIAL,
    )
