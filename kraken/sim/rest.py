"""REST handlers under ``/0/``: the public market-data methods and the private-method gateway."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import ROUND_CEILING, Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from kraken.sim.auth import authenticate
from kraken.sim.errors import (
    REST_RATE_LIMIT_EXCEEDED,
    SERVICE_UNAVAILABLE,
    TEMPORARY_LOCKOUT,
    UNKNOWN_ASSET_PAIR,
    UNKNOWN_METHOD,
    SimError,
    invalid_arguments,
)
from kraken.sim.exchange import SimExchange
from kraken.sim.late_landing import land_late
from kraken.sim.pairs import PAIRS, PairSpec, find_pair, result_key
from kraken.sim.prices import PriceProcess
from kraken.sim.trading import PRIVATE_METHODS
from kraken.sim.wire import (
    NANOS_PER_SECOND,
    error_response,
    format_decimal,
    ok_response,
    rfc1123,
    rfc3339_seconds,
)

__all__ = ["EXCHANGE_KEY", "add_rest_routes", "parse_form"]

EXCHANGE_KEY = web.AppKey("exchange", SimExchange)

_OHLC_INTERVALS = frozenset({1, 5, 15, 30, 60, 240, 1440, 10080, 21600})
_OHLC_MAX_ROWS = 720
_PAIR_INFO_FIELDS = {
    "leverage": ("leverage_buy", "leverage_sell"),
    "fees": ("fees", "fees_maker", "fee_volume_currency"),
    "margin": ("margin_call", "margin_stop"),
}


def _exchange(request: web.Request) -> SimExchange:
    return request.app[EXCHANGE_KEY]


async def _params(request: web.Request) -> dict[str, str]:
    params = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        params.update(parse_qsl((await request.read()).decode(), keep_blank_values=True))
    return params


def _pairs_asked(params: Mapping[str, str], *, required: bool) -> list[tuple[str, PairSpec]]:
    text = params.get("pair", "")
    if not text:
        if required:
            raise SimError(invalid_arguments("pair"))
        return [(spec.pair_id, spec) for spec in PAIRS]
    asked: list[tuple[str, PairSpec]] = []
    for name in (part.strip() for part in text.split(",")):
        spec = find_pair(name)
        if spec is None:
            raise SimError(UNKNOWN_ASSET_PAIR)
        asked.append((result_key(name, spec), spec))
    return asked


# -- public ------------------------------------------------------------------------------


async def time_handler(request: web.Request) -> web.Response:
    now = _exchange(request).clock()
    return ok_response({"unixtime": now // NANOS_PER_SECOND, "rfc1123": rfc1123(now)})


async def system_status_handler(request: web.Request) -> web.Response:
    exchange = _exchange(request)
    return ok_response(
        {"status": exchange.system_status, "timestamp": rfc3339_seconds(exchange.clock())}
    )


async def asset_pairs_handler(request: web.Request) -> web.Response:
    exchange = _exchange(request)
    params = await _params(request)
    info = params.get("info", "info")
    if info not in {"info", *_PAIR_INFO_FIELDS}:
        return error_response(invalid_arguments("info"))
    try:
        asked = _pairs_asked(params, required=False)
    except SimError as e:
        return error_response(e.error)
    result: dict[str, Any] = {}
    for key, spec in asked:
        entry = spec.asset_pair_json(exchange.pair_status[spec.pair_id])
        if info != "info":
            entry = {name: entry[name] for name in _PAIR_INFO_FIELDS[info]}
        result[key] = entry
    return ok_response(result)


def _ticker_json(process: PriceProcess) -> dict[str, Any]:
    spec, quote = process.spec, process.quote
    places = max(spec.pair_decimals, 5)

    def price(value: Decimal) -> str:
        return format_decimal(value, places)

    def side(value: Decimal, qty: Decimal) -> list[str]:
        whole = max(1, int(qty.to_integral_value(rounding=ROUND_CEILING)))
        return [price(value), str(whole), format_decimal(qty, 3)]

    volume = format_decimal(quote.volume, spec.lot_decimals)
    return {
        "a": side(quote.ask, quote.ask_qty),
        "b": side(quote.bid, quote.bid_qty),
        "c": [price(quote.last), format_decimal(quote.last_qty, spec.lot_decimals)],
        "v": [volume, volume],
        "p": [price(quote.vwap), price(quote.vwap)],
        "t": [quote.trades, quote.trades],
        "l": [price(quote.low), price(quote.low)],
        "h": [price(quote.high), price(quote.high)],
        "o": price(quote.open),
    }


async def ticker_handler(request: web.Request) -> web.Response:
    exchange = _exchange(request)
    try:
        asked = _pairs_asked(await _params(request), required=False)
    except SimError as e:
        return error_response(e.error)
    return ok_response({key: _ticker_json(exchange.prices[spec.pair_id]) for key, spec in asked})


async def ohlc_handler(request: web.Request) -> web.Response:
    exchange = _exchange(request)
    params = await _params(request)
    try:
        [(key, spec)] = _pairs_asked(params, required=True)
    except ValueError:
        return error_response(invalid_arguments("pair"))
    except SimError as e:
        return error_response(e.error)
    interval_text = params.get("interval", "1")
    since_text = params.get("since", "0")
    if not interval_text.isdigit() or int(interval_text) not in _OHLC_INTERVALS:
        return error_response(invalid_arguments("interval"))
    if not since_text.isdigit():
        return error_response(invalid_arguments("since"))
    width = int(interval_text) * 60
    since = int(since_text)
    buckets: dict[int, list[Any]] = {}
    for trade in exchange.prices[spec.pair_id].trades:
        start = trade.time_ns // NANOS_PER_SECOND // width * width
        row = buckets.get(start)
        if row is None:
            buckets[start] = [
                start,
                trade.price,
                trade.price,
                trade.price,
                trade.price,
                trade.price * trade.volume,
                trade.volume,
                1,
            ]
            continue
        row[2] = max(row[2], trade.price)
        row[3] = min(row[3], trade.price)
        row[4] = trade.price
        row[5] += trade.price * trade.volume
        row[6] += trade.volume
        row[7] += 1
    rows = [buckets[start] for start in sorted(buckets) if start > since][-_OHLC_MAX_ROWS:]
    places = spec.pair_decimals
    wire_rows = [
        [
            start,
            format_decimal(open_, places),
            format_decimal(high, places),
            format_decimal(low, places),
            format_decimal(close, places),
            format_decimal(notional / volume, places),
            format_decimal(volume, spec.lot_decimals),
            count,
        ]
        for start, open_, high, low, close, notional, volume, count in rows
    ]
    # ``last`` is the newest committed candle; the final row is the one still forming.
    last = wire_rows[-1][0] - width if wire_rows else since
    return ok_response({key: wire_rows, "last": last})


# -- private -----------------------------------------------------------------------------


def _set_path(target: dict[str, Any], path: list[str], value: str) -> None:
    """Place ``orders[0][type]=buy`` style keys into nested lists and dicts."""
    node: Any = target
    for index, part in enumerate(path):
        last = index == len(path) - 1
        nxt: Any = value if last else ([] if path[index + 1].isdigit() else {})
        if isinstance(node, list):
            position = int(part)
            while len(node) <= position:
                node.append(None)
            if last or node[position] is None:
                node[position] = nxt
            node = node[position]
        else:
            if last or part not in node:
                node[part] = nxt
            node = node[part]


def parse_form(body: bytes) -> dict[str, Any]:
    """A form-encoded body, with bracketed keys (``orders[0][volume]``) decoded as nesting."""
    params: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False):
        if "[" in key and key.endswith("]"):
            head, _, rest = key.partition("[")
            _set_path(params, [head, *rest[:-1].split("][")], value)
        else:
            params[key] = value
    return params


def _parse_private_body(request: web.Request, body: bytes) -> dict[str, Any]:
    if request.content_type == "application/json":
        try:
            parsed = json.loads(body) if body else {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise SimError(invalid_arguments()) from None
        if not isinstance(parsed, dict):
            raise SimError(invalid_arguments())
        return parsed
    try:
        return parse_form(body)
    except (UnicodeDecodeError, ValueError, TypeError):
        raise SimError(invalid_arguments()) from None


async def private_handler(request: web.Request) -> web.Response:
    exchange = _exchange(request)
    name = request.match_info["method"]
    method = PRIVATE_METHODS.get(name)
    if method is None:
        return error_response(UNKNOWN_METHOD)
    try:
        if exchange.faults.locked_out():
            raise SimError(TEMPORARY_LOCKOUT)
        body = await request.read()
        params = _parse_private_body(request, body)
        credential = authenticate(
            exchange.credentials,
            api_key=request.headers.get("API-Key"),
            api_sign=request.headers.get("API-Sign"),
            url_path=request.path,
            body=body,
            nonce=params.get("nonce"),
        )
        if exchange.system_status == "maintenance":
            raise SimError(SERVICE_UNAVAILABLE)
        account = exchange.accounts[credential.key]
        if account.rest_limiter.try_acquire(name) > 0:
            raise SimError(REST_RATE_LIMIT_EXCEEDED)
        late = exchange.faults.late_landing(name)
        if late is not None:
            return await land_late(
                request, late, lambda: ok_response(method(exchange, account, params))
            )
        result = method(exchange, account, params)
    except SimError as e:
        return error_response(e.error)
    return ok_response(result)


def add_rest_routes(app: web.Application) -> None:
    public = {
        "Time": time_handler,
        "SystemStatus": system_status_handler,
        "AssetPairs": asset_pairs_handler,
        "Ticker": ticker_handler,
        "OHLC": ohlc_handler,
    }
    for name, handler in public.items():
        app.router.add_route("GET", f"/0/public/{name}", handler)
        app.router.add_route("POST", f"/0/public/{name}", handler)
    app.router.add_route("POST", "/0/private/{method}", private_handler)
