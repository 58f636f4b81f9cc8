"""The late-landing fault: an accepted private request reaches the matching engine late.

The API gateway has authenticated the request (its nonce is spent) and queued it; the engine
sees it ``hold_s`` later, and only then checks Kraken's ``deadline``. The client may hear back
then, or never (``answer: drop``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import suppress

from aiohttp import web

from kraken.sim.errors import SimError
from kraken.sim.scenario import LateLandingFault
from kraken.sim.wire import error_response

__all__ = ["SHUTDOWN_KEY", "land_late"]

SHUTDOWN_KEY = web.AppKey("shutdown", asyncio.Event)
"""Set when the server shuts down: held requests are released at once."""

_held: set[asyncio.Task[web.Response]] = set()
"""Requests still on their way to the engine (kept so none is collected early)."""


async def land_late(
    request: web.Request,
    fault: LateLandingFault,
    engine: Callable[[], web.Response],
) -> web.Response:
    """Run ``engine`` (the method on the exchange state) ``fault.hold_s`` from now."""
    shutdown = request.app[SHUTDOWN_KEY]

    async def held() -> web.Response:
        with suppress(TimeoutError):
            await asyncio.wait_for(shutdown.wait(), fault.hold_s)
        try:
            return engine()
        except SimError as e:
            return error_response(e.error)

    # Its own task: the order lands even if the client has given up on the connection.
    task = asyncio.create_task(held())
    _held.add(task)
    task.add_done_callback(_held.discard)
    if fault.answer == "drop":
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=204)
    return await asyncio.shield(task)
