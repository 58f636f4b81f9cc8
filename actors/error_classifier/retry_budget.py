"""A retry budget per scope: granted retries may not exceed a share of recent calls."""

from __future__ import annotations

from actors.error_classifier.windows import SlidingCounter

__all__ = ["RETRY_BUDGET_FLOOR", "RetryBudget"]

RETRY_BUDGET_FLOOR = 3
"""Retries always allowed per window and scope, so the first failures after a quiet spell
(when the call count is still tiny) can retry."""

_BUCKET_NS = 1_000_000_000
_MAX_SCOPES = 32


class RetryBudget:
    """Over a sliding window, grants at most ``max(floor, ratio * calls)`` retries per scope.

    Calls are counted from both succeeded and failed call events. This caps retry
    amplification during an outage: with the default 10 %, a storm of failures cannot turn
    into more than one extra call per ten real ones.
    """

    def __init__(self, *, ratio: float, window_ns: int, floor: int = RETRY_BUDGET_FLOOR) -> None:
        self._ratio = ratio
        self._window_ns = window_ns
        self._floor = floor
        self._calls: dict[str, SlidingCounter] = {}
        self._granted: dict[str, SlidingCounter] = {}

    def record_call(self, scope: str, now_ns: int) -> None:
        counter = self._counter(self._calls, scope)
        if counter is not None:
            counter.add(now_ns)

    def allowance(self, scope: str, now_ns: int) -> int:
        calls = self._calls.get(scope)
        recent = calls.total(now_ns) if calls is not None else 0
        return max(self._floor, int(self._ratio * recent))

    def remaining(self, scope: str, now_ns: int) -> int:
        granted = self._granted.get(scope)
        used = granted.total(now_ns) if granted is not None else 0
        return max(0, self.allowance(scope, now_ns) - used)

    def try_acquire(self, scope: str, now_ns: int) -> bool:
        """Take one retry from the budget; False when it is spent."""
        if self.remaining(scope, now_ns) <= 0:
            return False
        counter = self._counter(self._granted, scope)
        if counter is None:
            return False
        counter.add(now_ns)
        return True

    def _counter(self, table: dict[str, SlidingCounter], scope: str) -> SlidingCounter | None:
        counter = table.get(scope)
        if counter is None:
            if len(table) >= _MAX_SCOPES:
                return None
            counter = table[scope] = SlidingCounter(self._window_ns, _BUCKET_NS)
        return counter
