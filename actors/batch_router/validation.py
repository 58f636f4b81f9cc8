"""Local checks run before anything reaches Kraken. Each failure is a reason string
``"<code>: <detail>"``; the code part is stable and meant for dashboards and tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from decimal import Decimal

from actors.batch_router.client_ids import MAX_CL_ORD_ID_LENGTH, is_valid_cl_ord_id
from actors.batch_router.ports import PairRules
from actors.batch_router.pricing import (
    PRICE2_TYPES,
    TRIGGER_TYPES,
    decimal_places,
    limit_price,
)
from schemas.orders import OrderRequest, OrderType, TimeInForce

__all__ = ["batch_size_problem", "duplicate_cl_ord_ids", "order_problem"]


def batch_size_problem(order_count: int, max_batch_size: int) -> str | None:
    """Why a batch of ``order_count`` orders is refused whole, or ``None``."""
    if order_count == 0:
        return "batch_empty: a batch needs at least one order"
    if order_count > max_batch_size:
        return (
            f"batch_too_large: {order_count} orders, execution.max_batch_size is {max_batch_size}"
        )
    return None


def duplicate_cl_ord_ids(cl_ord_ids: Iterable[str]) -> frozenset[str]:
    """Client ids used by more than one order of the batch. Every order carrying one is
    rejected: which of them the client meant is unknowable, so none is sent."""
    return frozenset(value for value, count in Counter(cl_ord_ids).items() if count > 1)


def order_problem(
    order: OrderRequest,
    rules: PairRules | None,
    *,
    reference_price: Decimal | None,
    now_ns: int,
) -> str | None:
    """Why ``order`` must not be sent, or ``None`` when it passes every local check."""
    return (
        _client_id_problem(order)
        or (_unknown_pair(order) if rules is None else None)
        or _volume_problem(order)
        or _price_problem(order)
        or _flag_problem(order, now_ns)
        or (None if rules is None else _rules_problem(order, rules, reference_price))
    )


def _client_id_problem(order: OrderRequest) -> str | None:
    if order.cl_ord_id is None or is_valid_cl_ord_id(order.cl_ord_id):
        return None
    return (
        f"cl_ord_id_invalid: {order.cl_ord_id!r} is not 1-{MAX_CL_ORD_ID_LENGTH} "
        "printable ASCII characters"
    )


def _unknown_pair(order: OrderRequest) -> str:
    return f"unknown_pair: {order.pair!r} is not a tradable pair"


def _volume_problem(order: OrderRequest) -> str | None:
    if not order.volume.is_finite():
        return f"volume_invalid: volume must be a finite number (got {order.volume})"
    if order.volume <= 0:
        return f"volume_not_positive: volume must be > 0 (got {order.volume})"
    return None


def _price_problem(order: OrderRequest) -> str | None:
    for name, value in (("price", order.price), ("price2", order.price2)):
        if value is None:
            continue
        if not value.is_finite():
            return f"price_invalid: {name} must be a finite number (got {value})"
        if value <= 0:
            return f"price_not_positive: {name} must be > 0 (got {value})"
    kind = order.order_type
    if kind is OrderType.MARKET and order.price is not None:
        return "price_not_allowed: a market order takes no price"
    if (kind is OrderType.LIMIT or kind in TRIGGER_TYPES) and order.price is None:
        what = "limit price" if kind is OrderType.LIMIT else "trigger price"
        return f"price_missing: a {kind} order needs a {what} in `price`"
    if kind in PRICE2_TYPES and order.price2 is None:
        return f"price_missing: a {kind} order needs its limit price in `price2`"
    if kind not in PRICE2_TYPES and order.price2 is not None:
        return (
            f"price_not_allowed: `price2` is only for stop-loss-limit/take-profit-limit, not {kind}"
        )
    return None


def _flag_problem(order: OrderRequest, now_ns: int) -> str | None:
    if order.post_only and order.order_type is not OrderType.LIMIT:
        return f"post_only_not_allowed: post-only applies to limit orders, not {order.order_type}"
    if order.time_in_force is TimeInForce.GTD:
        if order.expire_time_ns is None:
            return "expire_time_missing: a GTD order needs `expire_time_ns`"
        if order.expire_time_ns <= now_ns:
            return f"expire_time_past: expire time {order.expire_time_ns} ns is not in the future"
    elif order.expire_time_ns is not None:
        return f"expire_time_not_allowed: `expire_time_ns` needs GTD, not {order.time_in_force}"
    return None


def _rules_problem(
    order: OrderRequest, rules: PairRules, reference_price: Decimal | None
) -> str | None:
    return (
        _status_problem(order, rules.status)
        or _precision_problem(order, rules)
        or _minimum_problem(order, rules, reference_price)
    )


def _status_problem(order: OrderRequest, status: str) -> str | None:
    allowed = (
        status == "online"
        or (status == "post_only" and order.post_only)
        or (status == "limit_only" and order.order_type is OrderType.LIMIT)
        or (status == "reduce_only" and order.reduce_only)
    )
    if allowed:
        return None
    return f"pair_not_tradable: {order.pair} is in status {status!r}, which refuses this order"


def _precision_problem(order: OrderRequest, rules: PairRules) -> str | None:
    if decimal_places(order.volume) > rules.lot_decimals:
        return (
            f"volume_precision: volume {order.volume} has more than {rules.lot_decimals} decimals"
        )
    for name, value in (("price", order.price), ("price2", order.price2)):
        if value is None:
            continue
        if decimal_places(value) > rules.price_decimals:
            return f"price_precision: {name} {value} has more than {rules.price_decimals} decimals"
        tick = rules.tick_size
        if tick is not None and tick > 0 and value % tick != 0:
            return f"price_tick: {name} {value} is not a multiple of the tick size {tick}"
    return None


def _minimum_problem(
    order: OrderRequest, rules: PairRules, reference_price: Decimal | None
) -> str | None:
    if rules.ordermin is not None and order.volume < rules.ordermin:
        return f"volume_below_minimum: volume {order.volume} is below ordermin {rules.ordermin}"
    if rules.costmin is None:
        return None
    price = limit_price(order) or order.price or reference_price
    if price is None or not price.is_finite():
        return None
    cost = order.volume * price
    if cost < rules.costmin:
        return f"cost_below_minimum: cost {cost} is below costmin {rules.costmin}"
    return None
