"""Control endpoints under ``/sim/`` (outside Kraken's ``/0/``): ledger, faults, prices, status."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from kraken.sim.exchange import SimExchange
from kraken.sim.rest import EXCHANGE_KEY
from kraken.sim.scenario import ScenarioError

__all__ = ["add_control_routes"]


class _BadControlRequest(Exception):
    pass


def _exchange(request: web.Request) -> SimExchange:
    return request.app[EXCHANGE_KEY]


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except json.JSONDecodeError as e:
        raise _BadControlRequest(f"body is not JSON: {e}") from None
    if not isinstance(body, dict | list):
        raise _BadControlRequest("body must be a JSON object")
    return body if isinstance(body, dict) else {"items": body}


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


async def ledger_handler(request: web.Request) -> web.Response:
    exchange = _exchange(request)
    return web.json_response(
        {
            "orders": [entry.to_json() for entry in exchange.ledger()],
            "requests": exchange.request_counts(),
        }
    )


async def faults_get(request: web.Request) -> web.Response:
    return web.json_response({"faults": _exchange(request).faults.describe()})


async def faults_post(request: web.Request) -> web.Response:
    try:
        body = await _body(request)
        ids = _exchange(request).faults.add_json(body.get("items", body))
    except (_BadControlRequest, ScenarioError) as e:
        return _bad(str(e))
    return web.json_response({"ids": ids})


async def faults_delete(request: web.Request) -> web.Response:
    _exchange(request).faults.clear()
    return web.json_response({"cleared": True})


async def price_handler(request: web.Request) -> web.Response:
    exchange = _exchange(request)
    try:
        body = await _body(request)
        quote = exchange.set_price(str(body["pair"]), Decimal(str(body["price"])))
    except (_BadControlRequest, KeyError, InvalidOperation) as e:
        return _bad(f"expected {{'pair': name, 'price': decimal}}: {e}")
    return web.json_response(
        {"bid": str(quote.bid), "ask": str(quote.ask), "last": str(quote.last)}
    )


async def step_handler(request: web.Request) -> web.Response:
    try:
        body = await _body(request)
        steps = int(body.get("steps", 1))
    except (_BadControlRequest, ValueError, TypeError) as e:
        return _bad(str(e))
    _exchange(request).step_prices(steps)
    return web.json_response({"steps": steps})


async def status_handler(request: web.Request) -> web.Response:
    exchange = _exchange(request)
    try:
        body = await _body(request)
        status = str(body["status"])
        if "pair" in body:
            exchange.set_pair_status(str(body["pair"]), status)
        else:
            exchange.set_status(status)
    except (_BadControlRequest, KeyError, ValueError) as e:
        return _bad(str(e))
    return web.json_response({"status": exchange.system_status})


async def ws_disconnect_handler(request: web.Request) -> web.Response:
    try:
        body = await _body(request)
    except _BadControlRequest as e:
        return _bad(str(e))
    _exchange(request).disconnect_websockets(abrupt=bool(body.get("abrupt", False)))
    return web.json_response({"disconnected": True})


async def ws_silence_handler(request: web.Request) -> web.Response:
    try:
        body = await _body(request)
        duration_s = float(body.get("duration_s", 10))
    except (_BadControlRequest, ValueError, TypeError) as e:
        return _bad(str(e))
    _exchange(request).silence_websockets(duration_s)
    return web.json_response({"silenced_s": duration_s})


async def reset_handler(request: web.Request) -> web.Response:
    _exchange(request).reset()
    return web.json_response({"reset": True})


def add_control_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/sim/ledger", ledger_handler)
    router.add_get("/sim/faults", faults_get)
    router.add_post("/sim/faults", faults_post)
    router.add_delete("/sim/faults", faults_delete)
    router.add_post("/sim/price", price_handler)
    router.add_post("/sim/step", step_handler)
    router.add_post("/sim/status", status_handler)
    router.add_post("/sim/ws/disconnect", ws_disconnect_handler)
    router.add_post("/sim/ws/silence", ws_silence_handler)
    router.add_post("/sim/reset", reset_handler)
