"""The aiohttp middleware that applies injected faults to every ``/0/`` request."""

from __future__ import annotations

import asyncio
import json
from contextlib import suppress
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from kraken.sim.errors import SERVICE_BUSY, SERVICE_UNAVAILABLE
from kraken.sim.late_landing import SHUTDOWN_KEY
from kraken.sim.rest import EXCHANGE_KEY
from kraken.sim.scenario import LoseResponseFault, MalformedFault, OutageFault
from kraken.sim.wire import compact_json, error_response

__all__ = ["SHUTDOWN_KEY", "fault_middleware", "html_error_page", "wrong_types"]

_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
    520: "Web server is returning an unknown error",
}


def html_error_page(status: int) -> web.Response:
    """A gateway/CDN error page, the non-JSON body a client sees when Kraken is unreachable."""
    title = f"{status} {_REASONS.get(status, 'Server Error')}"
    body = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1>"
        "</center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
    )
    return web.Response(status=status, text=body, content_type="text/html")


def wrong_types(value: Any) -> Any:
    """Swap JSON types: numbers become strings, numeric strings numbers, string lists one string."""
    if isinstance(value, dict):
        return {key: wrong_types(item) for key, item in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(item, str) for item in value):
            return ",".join(value)
        return [wrong_types(item) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _malformed(response: web.Response, fault: MalformedFault) -> web.Response:
    body = response.body if isinstance(response.body, bytes) else b"{}"
    if fault.mode == "html":
        return web.Response(
            status=200,
            text="<!DOCTYPE html><html><head><title>Kraken</title></head>"
            "<body><p>Something went wrong.</p></body></html>",
            content_type="text/html",
        )
    if fault.mode == "truncated_json":
        return web.Response(body=body[: max(1, len(body) // 2)], content_type="application/json")
    payload = json.loads(body)
    if fault.mode == "missing_result":
        payload.pop("result", None)
    else:
        payload["result"] = wrong_types(payload.get("result"))
    return web.Response(text=compact_json(payload), content_type="application/json")


def _outage(fault: OutageFault) -> web.Response:
    if fault.response == "unavailable":
        return error_response(SERVICE_UNAVAILABLE)
    if fault.response == "busy":
        return error_response(SERVICE_BUSY)
    return html_error_page(fault.http_status)


async def _lose(
    request: web.Request, response: web.Response, fault: LoseResponseFault
) -> web.Response:
    if fault.mode == "http_502":
        return html_error_page(502)
    if fault.mode == "drop":
        if request.transport is not None:
            request.transport.abort()
        return response
    # Hold the answer past the client's timeout; a server shutdown releases it early.
    with suppress(TimeoutError):
        await asyncio.wait_for(request.app[SHUTDOWN_KEY].wait(), fault.hold_s)
    return response


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/0/"):
        return await handler(request)
    exchange = request.app[EXCHANGE_KEY]
    faults = exchange.faults
    endpoint = request.path.rsplit("/", 1)[-1]
    exchange.count_request(endpoint)
    delay_s = faults.latency_s(endpoint)
    if delay_s > 0:
        await asyncio.sleep(delay_s)
    outage = faults.outage(endpoint)
    if outage is not None:
        return _outage(outage)
    response = await handler(request)
    if not isinstance(response, web.Response):
        return response
    lost = faults.lost_response(endpoint)
    if lost is not None:
        return await _lose(request, response, lost)
    malformed = faults.malformed(endpoint)
    if malformed is not None:
        return _malformed(response, malformed)
    return response
