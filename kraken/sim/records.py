"""Private REST methods over trade-level records, and order edits (KRAKEN.md §3.2).

``TradesHistory``/``QueryTrades`` (trade objects), ``Ledgers``/``QueryLedgers``, ``TradeVolume``
(fee tier from 30-day volume), ``TradeBalance`` (in ZUSD; spot only, so no margin), ``BalanceEx``
(``hold_trade``: what open orders hold), ``CancelOrderBatch`` (up to 50 txids, userrefs and
cl_ord_ids; cancelled orders charge the batch-cancel penalty per order), ``EditOrder`` (a new
order replaces the old one) and ``AmendOrder`` (changes in place, same txid).

Choices where Kraken is silent: a trade/ledger id unknown to the account is simply absent from
``QueryTrades``/``QueryLedgers`` (as with ``QueryOrders``); ``AmendOrder`` to a quantity at or
below what has already filled is ``EGeneral:Invalid arguments:order_qty``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from kraken.sim.errors import UNKNOWN_ORDER, SimError, invalid_arguments
from kraken.sim.exchange import Account, SimExchange
from kraken.sim.fees import fee_tier
from kraken.sim.orders import SimOrder, parse_flag, parse_order, text_param
from kraken.sim.pairs import ASSET_DECIMALS, find_pair
from kraken.sim.wire import NANOS_PER_SECOND, format_decimal

__all__ = ["RECORD_METHODS"]

_PAGE = 50
_QUERY_MAX = 20
_CANCEL_BATCH_MAX = 50
_USD = "ZUSD"
# Amend/edit penalties on the trading counter by order age (KRAKEN.md §4.2): (under s, cost).
_AMEND_PENALTIES = ((5, 3), (10, 2), (15, 1))
_EDIT_PENALTIES = ((5, 6), (10, 5), (15, 4), (45, 2), (90, 1))


def _age_penalty(table: tuple[tuple[int, int], ...], age_ns: int) -> int:
    for limit_s, cost in table:
        if age_ns < limit_s * NANOS_PER_SECOND:
            return cost
    return 0


def _ids(params: Mapping[str, Any], name: str, limit: int) -> list[str]:
    text = text_param(params.get(name))
    ids = [part.strip() for part in (text or "").split(",") if part.strip()]
    if not ids or len(ids) > limit:
        raise SimError(invalid_arguments(name))
    return ids


def _page(params: Mapping[str, Any]) -> int:
    text = text_param(params.get("ofs")) or "0"
    if not text.isdigit():
        raise SimError(invalid_arguments("ofs"))
    return int(text)


def trades_history(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> Any:
    mine = [t for t in exchange.matcher.trades.values() if t.account == account.key]
    mine.sort(key=lambda t: t.time_ns, reverse=True)
    offset = _page(params)
    page = mine[offset : offset + _PAGE]
    return {"trades": {t.trade_id: t.to_json() for t in page}, "count": len(mine)}


def query_trades(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> Any:
    trades = exchange.matcher.trades
    return {
        txid: trades[txid].to_json()
        for txid in _ids(params, "txid", _QUERY_MAX)
        if txid in trades and trades[txid].account == account.key
    }


def ledgers(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> Any:
    entries = [e for e in exchange.matcher.ledger.values() if e.account == account.key]
    assets = {a.strip() for a in (text_param(params.get("asset")) or "all").split(",")}
    if "all" not in assets:
        entries = [e for e in entries if e.asset in assets]
    kind = text_param(params.get("type")) or "all"
    if kind != "all":
        entries = [e for e in entries if e.type == kind]
    entries.sort(key=lambda e: e.time_ns, reverse=True)
    offset = _page(params)
    page = entries[offset : offset + _PAGE]
    return {"ledger": {e.ledger_id: e.to_json() for e in page}, "count": len(entries)}


def query_ledgers(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> Any:
    book = exchange.matcher.ledger
    return {
        lid: book[lid].to_json()
        for lid in _ids(params, "id", _QUERY_MAX)
        if lid in book and book[lid].account == account.key
    }


def _fee_entry(volume: Decimal, *, maker: bool) -> dict[str, str | None]:
    percent, tier_volume, next_volume = fee_tier(volume, maker=maker)
    following = fee_tier(next_volume, maker=maker)[0] if next_volume is not None else None
    return {
        "fee": format_decimal(percent, 4),
        "minfee": format_decimal(fee_tier(Decimal(10) ** 12, maker=maker)[0], 4),
        "maxfee": format_decimal(fee_tier(Decimal(0), maker=maker)[0], 4),
        "nextfee": None if following is None else format_decimal(following, 4),
        "nextvolume": None if next_volume is None else format_decimal(next_volume, 4),
        "tiervolume": format_decimal(tier_volume, 4),
    }


def trade_volume(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> Any:
    volume = exchange.thirty_day_volume(account.key)
    result: dict[str, Any] = {"currency": _USD, "volume": format_decimal(volume, 4)}
    names = [n.strip() for n in (text_param(params.get("pair")) or "").split(",") if n.strip()]
    if names:
        specs = [find_pair(name) for name in names]
        if any(spec is None for spec in specs):
            raise SimError("EQuery:Unknown asset pair")
        result["fees"] = {s.pair_id: _fee_entry(volume, maker=False) for s in specs if s}
        result["fees_maker"] = {s.pair_id: _fee_entry(volume, maker=True) for s in specs if s}
    return result


def _usd_value(exchange: SimExchange, asset: str, amount: Decimal) -> Decimal:
    if asset in {_USD, "USDT"}:
        return amount
    for spec in exchange.prices.values():
        if spec.spec.base == asset and spec.spec.quote == _USD:
            return amount * spec.quote.bid
    return Decimal(0)


def trade_balance(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> Any:
    equivalent = sum(
        (_usd_value(exchange, asset, amount) for asset, amount in account.balances.items()),
        Decimal(0),
    )
    zero = format_decimal(Decimal(0), 4)
    eb = format_decimal(equivalent, 4)
    return {"eb": eb, "tb": eb, "m": zero, "n": zero, "c": zero, "v": zero, "e": eb, "mf": eb}


def balance_ex(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> Any:
    return {
        asset: {
            "balance": format_decimal(amount, ASSET_DECIMALS.get(asset, 8)),
            "hold_trade": format_decimal(
                exchange.held(account.key, asset), ASSET_DECIMALS.get(asset, 8)
            ),
        }
        for asset, amount in account.balances.items()
    }


def _list_param(params: Mapping[str, Any], name: str) -> list[str]:
    value = params.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise SimError(invalid_arguments(name))
    return [str(item) for item in value]


def cancel_order_batch(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> Any:
    ids = _list_param(params, "orders")
    cl_ord_ids = set(_list_param(params, "cl_ord_ids"))
    if (not ids and not cl_ord_ids) or len(ids) + len(cl_ord_ids) > _CANCEL_BATCH_MAX:
        raise SimError(invalid_arguments("orders"))
    found: list[SimOrder] = []
    for order in exchange.open_orders_of(account.key):
        userref = str(order.intent.userref) if order.intent.userref is not None else None
        if order.txid in ids or userref in ids or order.intent.cl_ord_id in cl_ord_ids:
            found.append(order)
    for order in found:
        # Kraken accepts a batch cancel even past the counter's cap (KRAKEN.md §4.2).
        exchange.cancel(order)
    return {"count": len(found)}


def _open_order(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> SimOrder:
    txid = text_param(params.get("txid"))
    cl_ord_id = text_param(params.get("cl_ord_id"))
    for order in exchange.open_orders_of(account.key):
        if (txid is not None and order.txid == txid) or (
            cl_ord_id is not None and order.intent.cl_ord_id == cl_ord_id
        ):
            return order
    raise SimError(UNKNOWN_ORDER)


def amend_order(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> Any:
    """In place: ``order_qty``, ``limit_price``, ``trigger_price``; the txid stays."""
    order = _open_order(exchange, account, params)
    spec = order.pair
    age = exchange.clock() - order.opentm_ns
    counter = account.trading_limiter.counter(spec.pair_id)
    counter.charge(1 + _age_penalty(_AMEND_PENALTIES, age))
    changes: dict[str, Any] = {"type": order.intent.side, "ordertype": order.intent.ordertype}
    changes["volume"] = text_param(params.get("order_qty")) or str(order.intent.volume)
    for wire, field in (("limit_price", "price"), ("trigger_price", "price")):
        if params.get(wire) is not None:
            changes[field] = text_param(params.get(wire))
    if "price" not in changes and order.intent.price is not None:
        changes["price"] = str(order.intent.price)
    if order.intent.price2 is not None:
        changes["price2"] = str(order.intent.price2)
    if order.intent.trail is not None:
        changes["price"] = (
            f"+{order.intent.trail.amount}{'%' if order.intent.trail.percent else ''}"
        )
    quote = exchange.prices[spec.pair_id].quote
    amended = parse_order(
        changes | {"oflags": ",".join(order.intent.oflags)},
        spec,
        quote.ask,
        exchange.clock(),
        last_price=quote.last,
    )
    if amended.volume <= order.vol_exec:
        raise SimError(invalid_arguments("order_qty"))
    exchange.amend(order, amended)
    return {"amend_id": exchange.new_id("T").replace("T", "TQ", 1)}


def edit_order(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> Any:
    """A new order with the edited fields replaces the old one (which is cancelled)."""
    order = _open_order(exchange, account, params)
    spec = order.pair
    age = exchange.clock() - order.opentm_ns
    account.trading_limiter.counter(spec.pair_id).charge(1 + _age_penalty(_EDIT_PENALTIES, age))
    intent = order.intent
    fields: dict[str, Any] = {
        "type": intent.side,
        "ordertype": intent.ordertype,
        "volume": text_param(params.get("volume")) or str(intent.volume),
        "oflags": text_param(params.get("oflags")) or ",".join(intent.oflags),
    }
    price = text_param(params.get("price")) or (None if intent.price is None else str(intent.price))
    if price is not None:
        fields["price"] = price
    price2 = text_param(params.get("price2")) or (
        None if intent.price2 is None else str(intent.price2)
    )
    if price2 is not None:
        fields["price2"] = price2
    if params.get("userref") is not None:
        fields["userref"] = params["userref"]
    quote = exchange.prices[spec.pair_id].quote
    edited = parse_order(fields, spec, quote.ask, exchange.clock(), last_price=quote.last)
    if parse_flag(params.get("validate")):
        return {"descr": {"order": edited.describe()}, "status": "ok"}
    new = exchange.replace_order(order, edited)
    return {
        "descr": {"order": edited.describe()},
        "txid": new.txid,
        "originaltxid": order.txid,
        "volume": format_decimal(edited.volume, spec.lot_decimals),
        "price": "0" if edited.price is None else format_decimal(edited.price, spec.pair_decimals),
        "price2": "0"
        if edited.price2 is None
        else format_decimal(edited.price2, spec.pair_decimals),
        "orders_cancelled": 1,
        "status": "ok",
    }


RECORD_METHODS = {
    "TradesHistory": trades_history,
    "QueryTrades": query_trades,
    "Ledgers": ledgers,
    "QueryLedgers": query_ledgers,
    "TradeVolume": trade_volume,
    "TradeBalance": trade_balance,
    "BalanceEx": balance_ex,
    "CancelOrderBatch": cancel_order_batch,
    "AmendOrder": amend_order,
    "EditOrder": edit_order,
}
