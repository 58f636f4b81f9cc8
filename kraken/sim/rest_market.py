"""Public REST market data beyond the ticker: ``Depth``, ``Trades``, ``Spread``, ``Assets``.

Shapes follow Kraken's public endpoints: ``Depth`` rows ``[price, volume, timestamp]``, at most
500 levels (``count``, default 100); ``Trades`` rows ``[price, volume, time, side, type, misc,
trade_id]`` with ``last`` a nanosecond cursor string; ``Spread`` rows ``[time, bid, ask]`` with
``last`` in seconds. Any other ``/0/public/<name>`` answers Kraken's JSON envelope with
``EGeneral:Unknown method`` rather than a plain-text 404.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kraken.sim.depth import DEPTH_DEFAULT, DEPTH_MAX, rest_depth
from kraken.sim.errors import UNKNOWN_METHOD, SimError, invalid_arguments
from kraken.sim.pairs import ASSET_DECIMALS, PAIRS
from kraken.sim.rest import EXCHANGE_KEY, _pairs_asked, _params
from kraken.sim.wire import NANOS_PER_SECOND, error_response, format_decimal, ok_response

__all__ = ["add_market_routes"]

_TRADES_PAGE = 1000
_ALTNAMES = {"XXBT": "XBT", "XETH": "ETH", "ZUSD": "USD"}
_DISPLAY_DECIMALS = {"ZUSD": 2, "XXBT": 5, "XETH": 5, "SOL": 5, "USDT": 4}


def _one_pair(params: dict[str, str]) -> tuple[str, Any]:
    asked = _pairs_asked(params, required=True)
    if len(asked) != 1:
        raise SimError(invalid_arguments("pair"))
    return asked[0]


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    text = params.get(name, str(default))
    if not text.isdigit():
        raise SimError(invalid_arguments(name))
    return int(text)


async def depth_handler(request: web.Request) -> web.Response:
    exchange = request.app[EXCHANGE_KEY]
    params = await _params(request)
    try:
        key, spec = _one_pair(params)
        count = _int_param(params, "count", DEPTH_DEFAULT)
        if not 1 <= count <= DEPTH_MAX:
            raise SimError(invalid_arguments("count"))
    except SimError as e:
        return error_response(e.error)
    book = exchange.books[spec.pair_id]
    return ok_response({key: rest_depth(book, count, exchange.clock())})


async def trades_handler(request: web.Request) -> web.Response:
    exchange = request.app[EXCHANGE_KEY]
    params = await _params(request)
    try:
        key, spec = _one_pair(params)
        since = _int_param(params, "since", 0)
        count = _int_param(params, "count", _TRADES_PAGE)
    except SimError as e:
        return error_response(e.error)
    # ``since`` is accepted in seconds or nanoseconds, as Kraken's cursor is.
    since_ns = since if since > 10**12 else since * NANOS_PER_SECOND
    trades = [t for t in exchange.prices[spec.pair_id].trades if t.time_ns > since_ns][:count]
    rows = [
        [
            format_decimal(t.price, spec.pair_decimals),
            format_decimal(t.volume, spec.lot_decimals),
            round(t.time_ns / NANOS_PER_SECOND, 4),
            t.side,
            "l",
            "",
            index + 1,
        ]
        for index, t in enumerate(trades)
    ]
    last = str(trades[-1].time_ns) if trades else str(since_ns)
    return ok_response({key: rows, "last": last})


async def spread_handler(request: web.Request) -> web.Response:
    exchange = request.app[EXCHANGE_KEY]
    params = await _params(request)
    try:
        key, spec = _one_pair(params)
        since = _int_param(params, "since", 0)
    except SimError as e:
        return error_response(e.error)
    spreads = [
        s for s in exchange.prices[spec.pair_id].spreads if s.time_ns // NANOS_PER_SECOND > since
    ]
    rows = [
        [
            s.time_ns // NANOS_PER_SECOND,
            format_decimal(s.bid, spec.pair_decimals),
            format_decimal(s.ask, spec.pair_decimals),
        ]
        for s in spreads
    ]
    last = spreads[-1].time_ns // NANOS_PER_SECOND if spreads else since
    return ok_response({key: rows, "last": last})


async def assets_handler(request: web.Request) -> web.Response:
    params = await _params(request)
    known = sorted({asset for spec in PAIRS for asset in (spec.base, spec.quote)})
    asked = [name.strip() for name in params.get("asset", "").split(",") if name.strip()]
    by_name = {name: asset for asset in known for name in (asset, _ALTNAMES.get(asset, asset))}
    if any(name.upper() not in by_name for name in asked):
        return error_response("EQuery:Unknown asset")
    chosen = [by_name[name.upper()] for name in asked] if asked else known
    return ok_response(
        {
            asset: {
                "aclass": "currency",
                "altname": _ALTNAMES.get(asset, asset),
                "decimals": ASSET_DECIMALS.get(asset, 8),
                "display_decimals": _DISPLAY_DECIMALS.get(asset, 5),
                "status": "enabled",
            }
            for asset in chosen
        }
    )


async def unknown_public_handler(request: web.Request) -> web.Response:
    return error_response(UNKNOWN_METHOD)


def add_market_routes(app: web.Application) -> None:
    """Register after ``add_rest_routes``: the catch-all must come after the named methods."""
    handlers = {
        "Depth": depth_handler,
        "Trades": trades_handler,
        "Spread": spread_handler,
        "Assets": assets_handler,
    }
    for name, handler in handlers.items():
        app.router.add_route("GET", f"/0/public/{name}", handler)
        app.router.add_route("POST", f"/0/public/{name}", handler)
    app.router.add_route("*", "/0/public/{method}", unknown_public_handler)
