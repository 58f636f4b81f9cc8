"""Injected time for the simulator: a clock is a callable returning Unix time in int nanoseconds."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Clock", "ManualClock", "system_clock"]

Clock = Callable[[], int]

_NANOS_PER_SECOND = 1_000_000_000


def system_clock() -> int:
    return time.time_ns()


class ManualClock:
    """A clock that only moves when told to, for tests that step time explicitly."""

    def __init__(self, start_ns: int = 1_762_820_224 * _NANOS_PER_SECOND) -> None:
        self._now_ns = start_ns

    def __call__(self) -> int:
        return self._now_ns

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._now_ns += round(seconds * _NANOS_PER_SECOND)
