"""Single-flight: concurrent callers for one key share one in-flight call."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["SingleFlight"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """Runs at most one call per key at a time; later callers await the same result.

    The call runs in its own task, so a cancelled caller never cancels it for the others. An
    exception raised by the call reaches every caller that was waiting for it.
    """

    def __init__(self) -> None:
        self._in_flight: dict[K, asyncio.Task[V]] = {}
        self.calls = 0
        self.coalesced = 0

    def in_flight(self, key: K) -> bool:
        return key in self._in_flight

    async def run(self, key: K, call: Callable[[], Awaitable[V]]) -> V:
        task = self._in_flight.get(key)
        if task is None:
            self.calls += 1
            task = asyncio.ensure_future(call())
            self._in_flight[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        else:
            self.coalesced += 1
        return await asyncio.shield(task)

    def _forget(self, key: K, done: asyncio.Task[V]) -> None:
        if not done.cancelled():
            # Marks the error as seen even when every caller was cancelled meanwhile.
            done.exception()
        if self._in_flight.get(key) is done:
            del self._in_flight[key]
