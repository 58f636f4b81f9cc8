"""Order and batch types: what users ask the batch router to do."""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Annotated

import msgspec

__all__ = [
    "BatchStrategy",
    "ClientOrderId",
    "OrderRequest",
    "OrderSide",
    "OrderType",
    "TimeInForce",
]

ClientOrderId = Annotated[str, msgspec.Meta(min_length=1, max_length=18, pattern=r"^[\x21-\x7e]+$")]
"""Kraken's free-text ``cl_ord_id``: up to 18 printable ASCII characters."""


class OrderSide(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(enum.StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP_LOSS = "stop-loss"
    TAKE_PROFIT = "take-profit"
    STOP_LOSS_LIMIT = "stop-loss-limit"
    TAKE_PROFIT_LIMIT = "take-profit-limit"


class TimeInForce(enum.StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    GTD = "GTD"


class BatchStrategy(enum.StrEnum):
    SEQUENTIAL = "SEQUENTIAL"
    PARALLEL = "PARALLEL"
    SMART_ROUTING = "SMART_ROUTING"
    RISK_AWARE = "RISK_AWARE"


class OrderRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One order of a batch.

    ``pair`` is the WS v2 symbol (``BTC/USD``); the Kraken adapter maps it to REST names.
    ``price`` is the limit price (limit) or trigger price (stop/take-profit);
    ``price2`` is the limit price of ``*-limit`` orders. The bus decoder refuses non-finite and
    absurdly large or precise numbers (``schemas.bounds``); everything else is the router's to
    validate, with a reason event.
    """

    pair: str
    side: OrderSide
    order_type: OrderType
    volume: Decimal
    price: Decimal | None = None
    price2: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    expire_time_ns: int | None = None
    post_only: bool = False
    reduce_only: bool = False
    cl_ord_id: str | None = None
