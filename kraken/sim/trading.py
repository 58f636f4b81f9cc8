"""The private REST methods, over an authenticated account: Kraken's argument rules and answers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from kraken.sim.errors import (
    DEADLINE_ELAPSED,
    DUPLICATE_CL_ORD_ID,
    MARKET_CANCEL_ONLY,
    MARKET_LIMIT_ONLY,
    MARKET_POST_ONLY,
    ORDER_RATE_LIMIT_EXCEEDED,
    ORDERS_LIMIT_EXCEEDED,
    UNKNOWN_ASSET_PAIR,
    UNKNOWN_ORDER,
    SimError,
    invalid_arguments,
)
from kraken.sim.exchange import Account, SimExchange
from kraken.sim.orders import OrderIntent, SimOrder, parse_flag, parse_order, text_param
from kraken.sim.pairs import ASSET_DECIMALS, PairSpec, find_pair
from kraken.sim.records import RECORD_METHODS
from kraken.sim.wire import NANOS_PER_SECOND, format_decimal, rfc3339_seconds
from kraken.sim.ws_tokens import TOKEN_LIFETIME_S

__all__ = ["PRIVATE_METHODS", "PrivateMethod", "place_order_batch"]

PrivateMethod = Callable[[SimExchange, Account, Mapping[str, Any]], Any]

_MAX_DEADLINE_S = 60
_MAX_DEAD_MAN_TIMEOUT_S = 86400
_BATCH_MIN, _BATCH_MAX = 2, 15
_QUERY_MAX_IDS = 50
_CLOSED_PAGE = 50


def _pair(params: Mapping[str, Any]) -> PairSpec:
    name = text_param(params.get("pair"))
    spec = find_pair(name) if name else None
    if spec is None:
        raise SimError(UNKNOWN_ASSET_PAIR)
    return spec


def _deadline_ns(params: Mapping[str, Any], now_ns: int) -> int | None:
    text = text_param(params.get("deadline"))
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SimError(invalid_arguments("deadline")) from None
    if parsed.tzinfo is None:
        raise SimError(invalid_arguments("deadline"))
    deadline_ns = round(parsed.timestamp() * NANOS_PER_SECOND)
    if deadline_ns > now_ns + _MAX_DEADLINE_S * NANOS_PER_SECOND:
        raise SimError(invalid_arguments("deadline"))
    return deadline_ns


def _check_mode(exchange: SimExchange, intent: OrderIntent) -> None:
    """System status first, then the pair's own AssetPairs status."""
    for status in (exchange.system_status, exchange.pair_status[intent.pair.pair_id]):
        if status == "cancel_only":
            raise SimError(MARKET_CANCEL_ONLY)
        if status == "post_only" and not intent.post_only:
            raise SimError(MARKET_POST_ONLY)
        if status == "limit_only" and intent.ordertype == "market":
            raise SimError(MARKET_LIMIT_ONLY)


def _charge_trading(account: Account, spec: PairSpec, cost: float) -> None:
    if account.trading_limiter.try_acquire(spec.pair_id, cost) > 0:
        raise SimError(ORDER_RATE_LIMIT_EXCEEDED)


def _check_deadline(exchange: SimExchange, deadline_ns: int | None) -> None:
    if deadline_ns is not None and exchange.clock() >= deadline_ns:
        raise SimError(DEADLINE_ELAPSED)


def _check_room(exchange: SimExchange, account: Account, intents: list[OrderIntent]) -> None:
    open_orders = exchange.open_orders_of(account.key)
    taken = {order.intent.cl_ord_id for order in open_orders if order.intent.cl_ord_id}
    for intent in intents:
        if intent.cl_ord_id is not None:
            if intent.cl_ord_id in taken:
                raise SimError(DUPLICATE_CL_ORD_ID)
            taken.add(intent.cl_ord_id)
    pair_id = intents[0].pair.pair_id
    in_pair = sum(1 for order in open_orders if order.pair.pair_id == pair_id)
    if in_pair + len(intents) > exchange.open_order_limit_of(account):
        raise SimError(ORDERS_LIMIT_EXCEEDED)


def balance(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> Any:
    return {
        asset: format_decimal(amount, ASSET_DECIMALS.get(asset, 8))
        for asset, amount in account.balances.items()
    }


def add_order(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> Any:
    spec = _pair(params)
    validate = parse_flag(params.get("validate"))
    now = exchange.clock()
    if not validate:
        # Kraken charges the fixed cost on receipt, even if validation then fails.
        _charge_trading(account, spec, account.trading_limiter.add_order_cost())
    quote = exchange.prices[spec.pair_id].quote
    intent = parse_order(params, spec, quote.ask, now, last_price=quote.last)
    deadline = _deadline_ns(params, now)
    _check_mode(exchange, intent)
    _check_room(exchange, account, [intent])
    if validate:
        return {"descr": {"order": intent.describe()}}
    _check_deadline(exchange, deadline)
    order = exchange.place(account, intent)
    return {"descr": {"order": intent.describe()}, "txid": [order.txid]}


def _batch_items(params: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    orders = params.get("orders")
    if not isinstance(orders, list) or not all(isinstance(item, dict) for item in orders):
        raise SimError(invalid_arguments("orders"))
    # Kraken documents 2-15 orders but no error string for a count outside it.
    if not _BATCH_MIN <= len(orders) <= _BATCH_MAX:
        raise SimError(invalid_arguments("orders"))
    return orders


def place_order_batch(
    exchange: SimExchange, account: Account, params: Mapping[str, Any]
) -> tuple[list[OrderIntent], list[SimOrder | SimError] | None]:
    """AddOrderBatch's checks and placements: the parsed orders, and each one's placed order or
    per-order rejection (None for ``validate``). Whole-batch problems raise ``SimError``."""
    spec = _pair(params)
    items = _batch_items(params)
    validate = parse_flag(params.get("validate"))
    now = exchange.clock()
    if not validate:
        _charge_trading(account, spec, account.trading_limiter.batch_add_cost(len(items)))
    quote = exchange.prices[spec.pair_id].quote
    # Whole-batch validation: the first invalid order rejects every order.
    intents = [parse_order(item, spec, quote.ask, now, last_price=quote.last) for item in items]
    deadline = _deadline_ns(params, now)
    for intent in intents:
        _check_mode(exchange, intent)
    _check_room(exchange, account, intents)
    if validate:
        return intents, None
    _check_deadline(exchange, deadline)
    placed: list[SimOrder | SimError] = []
    for intent in intents:
        try:
            placed.append(exchange.place(account, intent))
        except SimError as e:
            placed.append(e)
    return intents, placed


def add_order_batch(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> Any:
    intents, placed = place_order_batch(exchange, account, params)
    if placed is None:
        return {"orders": [{"descr": {"order": intent.describe()}} for intent in intents]}
    results: list[dict[str, Any]] = []
    for intent, outcome in zip(intents, placed, strict=True):
        if isinstance(outcome, SimError):
            results.append({"error": outcome.error})
        else:
            results.append({"txid": outcome.txid, "descr": {"order": intent.describe()}})
    return {"orders": results}


def _find_orders(
    exchange: SimExchange, account: Account, params: Mapping[str, Any]
) -> list[SimOrder]:
    txid = text_param(params.get("txid"))
    cl_ord_id = text_param(params.get("cl_ord_id"))
    if (txid is None) == (cl_ord_id is None):
        raise SimError(invalid_arguments("txid"))
    mine = [order for order in exchange.orders.values() if order.account == account.key]
    if cl_ord_id is not None:
        return [order for order in mine if order.intent.cl_ord_id == cl_ord_id and order.is_open]
    assert txid is not None
    if txid.lstrip("-").isdigit():
        return [order for order in mine if order.intent.userref == int(txid) and order.is_open]
    return [order for order in mine if order.txid == txid]


def cancel_order(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> Any:
    found = [order for order in _find_orders(exchange, account, params) if order.is_open]
    if not found:
        raise SimError(UNKNOWN_ORDER)
    for order in found:
        exchange.cancel(order)
    return {"count": len(found)}


def cancel_all(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> Any:
    found = exchange.open_orders_of(account.key)
    for order in found:
        exchange.close_order(order, "canceled", "User requested")
    for pair_id in {order.pair.pair_id for order in found}:
        account.trading_limiter.counter(pair_id).charge(1.0)
    return {"count": len(found)}


def cancel_all_orders_after(
    exchange: SimExchange, account: Account, params: Mapping[str, Any]
) -> Any:
    text = text_param(params.get("timeout"))
    if text is None or not text.isdigit() or int(text) >= _MAX_DEAD_MAN_TIMEOUT_S:
        raise SimError(invalid_arguments("timeout"))
    timeout_s = int(text)
    now = exchange.clock()
    if timeout_s == 0:
        account.dead_man_trigger_ns = None
        return {"currentTime": rfc3339_seconds(now), "triggerTime": "0"}
    trigger = now + timeout_s * NANOS_PER_SECOND
    account.dead_man_trigger_ns = trigger
    return {"currentTime": rfc3339_seconds(now), "triggerTime": rfc3339_seconds(trigger)}


def _filtered(orders: list[SimOrder], params: Mapping[str, Any]) -> list[SimOrder]:
    cl_ord_id = text_param(params.get("cl_ord_id"))
    userref = text_param(params.get("userref"))
    if cl_ord_id is not None:
        orders = [order for order in orders if order.intent.cl_ord_id == cl_ord_id]
    if userref is not None:
        orders = [order for order in orders if str(order.intent.userref) == userref]
    return orders


def open_orders(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> Any:
    found = _filtered(exchange.open_orders_of(account.key), params)
    trades = parse_flag(params.get("trades"))
    return {"open": {order.txid: order.to_json(with_trades=trades) for order in found}}


def closed_orders(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> Any:
    closed = [
        order
        for order in exchange.orders.values()
        if order.account == account.key and not order.is_open
    ]
    closed = _filtered(closed, params)
    start_text = text_param(params.get("start"))
    if start_text is not None:
        # Kraken's default ``closetime=both``: opened or closed after ``start`` (exclusive).
        try:
            start_ns = int(Decimal(start_text) * NANOS_PER_SECOND)
        except (InvalidOperation, ValueError):
            raise SimError(invalid_arguments("start")) from None
        closed = [
            order for order in closed if max(order.opentm_ns, order.closetm_ns or 0) > start_ns
        ]
    closed.sort(key=lambda order: order.closetm_ns or 0, reverse=True)
    offset_text = text_param(params.get("ofs")) or "0"
    if not offset_text.isdigit():
        raise SimError(invalid_arguments("ofs"))
    offset = int(offset_text)
    page = closed[offset : offset + _CLOSED_PAGE]
    trades = parse_flag(params.get("trades"))
    return {
        "closed": {order.txid: order.to_json(with_trades=trades) for order in page},
        "count": len(closed),
    }


def query_orders(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> Any:
    text = text_param(params.get("txid"))
    if not text:
        raise SimError(invalid_arguments("txid"))
    txids = [txid.strip() for txid in text.split(",") if txid.strip()]
    if len(txids) > _QUERY_MAX_IDS:
        raise SimError(invalid_arguments("txid"))
    mine = {
        txid: order
        for txid, order in exchange.orders.items()
        if order.account == account.key and txid in txids
    }
    # An unknown id is simply absent from the result, as on Kraken.
    trades = parse_flag(params.get("trades"))
    return {txid: mine[txid].to_json(with_trades=trades) for txid in txids if txid in mine}


def get_websockets_token(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> Any:
    return {"token": exchange.ws_tokens.issue(account.key), "expires": TOKEN_LIFETIME_S}


PRIVATE_METHODS: dict[str, PrivateMethod] = {
    "Balance": balance,
    "AddOrder": add_order,
    "AddOrderBatch": add_order_batch,
    "CancelOrder": cancel_order,
    "CancelAll": cancel_all,
    "CancelAllOrdersAfter": cancel_all_orders_after,
    "OpenOrders": open_orders,
    "ClosedOrders": closed_orders,
    "QueryOrders": query_orders,
    "GetWebSocketsToken": get_websockets_token,
    **RECORD_METHODS,
}
