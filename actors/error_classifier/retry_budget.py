"""A retry budget per scope: granted retries may not exceed a share of recent calls.

The share depends on what the failures look like. Independent transient faults (a healthy
venue dropping one call in five) are what retries are for: the budget then admits up to one
retry per recent call. Correlated failures (most of the last few calls failed: an outage, or a
burst) are what budgets are for: the share falls to ``errors.retry_budget_ratio`` (10 %), and the
breakers take over from there.
"""

from __future__ import annotations

from collections import deque

from actors.error_classifier.windows import SlidingCounter

__all__ = ["HEALTHY_RETRY_RATIO", "RECENT_OUTCOMES", "RETRY_BUDGET_FLOOR", "RetryBudget"]

RETRY_BUDGET_FLOOR = 3
"""Retries always allowed per window and scope, so the first failures after a quiet spell
(when the call count is still tiny) can retry."""

HEALTHY_RETRY_RATIO = 1.0
"""Retries per recent call while failures look independent."""
RECENT_OUTCOMES = 10
"""How many of a scope's latest call outcomes tell independent faults from a burst."""
BURST_FAILURE_SHARE = 0.5
"""More than this share of failures among the recent outcomes means correlated failures."""

_BUCKET_NS = 1_000_000_000
_MAX_SCOPES = 32


class RetryBudget:
    """Over a sliding window, grants at most ``max(floor, share * calls)`` retries per scope.

    Calls are counted from both succeeded and failed call events. ``share`` is
    :data:`HEALTHY_RETRY_RATIO` while at most half of the scope's recent outcomes failed, and
    ``ratio`` otherwise: during an outage a storm of failures cannot turn into more than one
    extra call per ten real ones (with the default 10 %).
    """

    def __init__(self, *, ratio: float, window_ns: int, floor: int = RETRY_BUDGET_FLOOR) -> None:
        self._ratio = ratio
        self._window_ns = window_ns
        self._floor = floor
        self._calls: dict[str, SlidingCounter] = {}
        self._granted: dict[str, SlidingCounter] = {}
        self._outcomes: dict[str, deque[bool]] = {}

    def record_call(self, scope: str, now_ns: int, *, succeeded: bool = True) -> None:
        counter = self._counter(self._calls, scope)
        if counter is None:
            return
        counter.add(now_ns)
        outcomes = self._outcomes.get(scope)
        if outcomes is None:
            outcomes = self._outcomes[scope] = deque(maxlen=RECENT_OUTCOMES)
        outcomes.append(succeeded)

    def correlated(self, scope: str) -> bool:
        """Whether most of the scope's recent calls failed (an outage or a burst)."""
        outcomes = self._outcomes.get(scope)
        if not outcomes:
            return False
        failures = len(outcomes) - sum(outcomes)
        return failures > BURST_FAILURE_SHARE * len(outcomes)

    def allowance(self, scope: str, now_ns: int) -> int:
        calls = self._calls.get(scope)
        recent = calls.total(now_ns) if calls is not None else 0
        share = self._ratio if self.correlated(scope) else max(self._ratio, HEALTHY_RETRY_RATIO)
        return max(self._floor, int(share * recent))

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
