"""Nonces for private REST calls: nanosecond wall time, never lower than the last one issued.

Scale: **nanoseconds**. Kraken remembers the highest nonce a key has used and there is no way
to lower it (KRAKEN.md §1.3), so one scale is used for every key and the process keeps a floor
per key: the next nonce is ``max(clock_ns(), last + 1)``. A wall clock stepping backwards
therefore never produces a lower nonce. The floor is process-wide (module-level
:data:`PROCESS_NONCES`) so two clients sharing a key in one process cannot collide.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable

__all__ = ["PROCESS_NONCES", "NonceSource", "send_lock"]


class NonceSource:
    """Issues strictly increasing nonces per API key from an injected ns wall clock."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}
        self._guard = threading.Lock()

    def next_nonce(self, api_key: str, clock_ns: Callable[[], int]) -> int:
        with self._guard:
            nonce = max(clock_ns(), self._last.get(api_key, 0) + 1)
            self._last[api_key] = nonce
            return nonce

    def floor(self, api_key: str) -> int:
        """The last nonce issued for ``api_key`` (0 if none)."""
        with self._guard:
            return self._last.get(api_key, 0)

    def raise_floor(self, api_key: str, value: int) -> None:
        """Never issue a nonce at or below ``value`` again (it can only go up)."""
        with self._guard:
            self._last[api_key] = max(self._last.get(api_key, 0), value)


PROCESS_NONCES = NonceSource()

_send_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def send_lock(api_key: str) -> asyncio.Lock:
    """The lock that serializes sign-and-send for ``api_key`` on the running event loop."""
    loop = asyncio.get_running_loop()
    locks = _send_locks.setdefault(loop, {})
    lock = locks.get(api_key)
    if lock is None:
        lock = locks[api_key] = asyncio.Lock()
    return lock
