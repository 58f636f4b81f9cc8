"""Injected time: production uses the wall clock, tests and replays a manual one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["Clock", "ManualClock", "Sleep", "system_clock"]

Clock = Callable[[], int]
"""Returns int nanoseconds since the Unix epoch."""

Sleep = Callable[[float], Awaitable[None]]


def system_clock() -> int:
    return time.time_ns()


class ManualClock:
    """A clock that moves only when told; ``sleep`` advances it instead of waiting."""

    def __init__(self, start_ns: int = 1_700_000_000_000_000_000) -> None:
        self.now_ns = start_ns

    def __call__(self) -> int:
        return self.now_ns

    def set(self, now_ns: int) -> None:
        self.now_ns = max(self.now_ns, now_ns)

    def advance(self, seconds: float) -> None:
        self.now_ns += int(seconds * 1_000_000_000)

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)
