"""Error statistics over the last minute, the last hour and since start, in bounded memory.

Per key, the minute window uses 5 s buckets and the hour window 1 min buckets, so counts are
exact to a bucket. At most :data:`MAX_KEYS` keys are tracked per dimension; later keys are
counted under ``other``. ``by_category``/``by_scope``/``by_operation`` count failed calls (the
worst error of each); ``by_error`` counts every error string of a response.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from actors.error_classifier.taxonomy import Classification
from actors.error_classifier.windows import SlidingCounter
from schemas.events import BreakerState, CircuitBreakerStateChanged, ErrorCount, ErrorStatistics

__all__ = ["MAX_KEYS", "TOP_ERRORS", "ErrorStatisticsTracker", "trend_of"]

MAX_KEYS = 256
TOP_ERRORS = 5
OVERFLOW_KEY = "other"
_NS_PER_S = 1_000_000_000
_MINUTE_NS = 60 * _NS_PER_S
_HOUR_NS = 60 * _MINUTE_NS
_MINUTE_BUCKET_NS = 5 * _NS_PER_S
_RISING_RATIO = 1.5
_FALLING_RATIO = 0.5


def trend_of(last_minute: int, last_hour: int, observed_ns: int) -> str:
    """``rising``/``falling``/``steady``: the last minute against the hour's average per minute.

    The average is taken over the time actually observed (at least one minute, at most an
    hour), so a freshly started tracker does not call everything rising.
    """
    minutes = min(60.0, max(1.0, observed_ns / _MINUTE_NS))
    per_minute = last_hour / minutes
    if last_minute > per_minute * _RISING_RATIO:
        return "rising"
    if last_minute < per_minute * _FALLING_RATIO:
        return "falling"
    return "steady"


def _minute_window() -> SlidingCounter:
    return SlidingCounter(_MINUTE_NS, _MINUTE_BUCKET_NS)


def _hour_window() -> SlidingCounter:
    return SlidingCounter(_HOUR_NS, _MINUTE_NS)


@dataclass(slots=True)
class _KeyCounts:
    minute: SlidingCounter = field(default_factory=_minute_window)
    hour: SlidingCounter = field(default_factory=_hour_window)
    total: int = 0


class _KeyedCounts:
    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self._max_keys = max_keys
        self._keys: dict[str, _KeyCounts] = {}

    def add(self, key: str, now_ns: int) -> None:
        counts = self._keys.get(key)
        if counts is None:
            if len(self._keys) >= self._max_keys - 1:  # the last slot is for ``other``
                key = OVERFLOW_KEY
            counts = self._keys.setdefault(key, _KeyCounts())
        counts.minute.add(now_ns)
        counts.hour.add(now_ns)
        counts.total += 1

    def counts(self, now_ns: int) -> tuple[ErrorCount, ...]:
        rows = [
            ErrorCount(
                key=key,
                last_minute=counts.minute.total(now_ns),
                last_hour=counts.hour.total(now_ns),
                total=counts.total,
            )
            for key, counts in self._keys.items()
        ]
        rows.sort(key=lambda row: (-row.last_hour, -row.total, row.key))
        return tuple(rows)


class ErrorStatisticsTracker:
    def __init__(self, started_ns: int) -> None:
        self._started_ns = started_ns
        self._by_category = _KeyedCounts()
        self._by_error = _KeyedCounts()
        self._by_scope = _KeyedCounts()
        self._by_operation = _KeyedCounts()
        self.retries_granted = 0
        self.retries_denied = 0
        self.retries_succeeded = 0
        self.retries_failed = 0
        self.breaker_transitions = 0
        self._open_ns: dict[str, int] = {}
        self._open_since: dict[str, int] = {}
        self._pending_retries: dict[tuple[str, str], int] = {}

    def record_failure(
        self, classification: Classification, scope: str, operation: str, now_ns: int
    ) -> None:
        self._by_category.add(str(classification.category), now_ns)
        self._by_scope.add(scope, now_ns)
        self._by_operation.add(operation, now_ns)
        for match in classification.matches:
            self._by_error.add(match.key, now_ns)

    def record_retry(self, *, granted: bool, scope: str, endpoint: str) -> None:
        if not granted:
            self.retries_denied += 1
            return
        self.retries_granted += 1
        key = (scope, endpoint)
        if key in self._pending_retries or len(self._pending_retries) < MAX_KEYS:
            self._pending_retries[key] = self._pending_retries.get(key, 0) + 1

    def record_call_outcome(self, *, scope: str, endpoint: str, succeeded: bool) -> None:
        """Attribute the next call on an endpoint after a granted retry to that retry. An
        approximation: call events carry no attempt number."""
        key = (scope, endpoint)
        pending = self._pending_retries.get(key, 0)
        if pending <= 0:
            return
        if pending == 1:
            del self._pending_retries[key]
        else:
            self._pending_retries[key] = pending - 1
        if succeeded:
            self.retries_succeeded += 1
        else:
            self.retries_failed += 1

    def record_transition(self, change: CircuitBreakerStateChanged) -> None:
        self.breaker_transitions += 1
        scope, now_ns = change.scope, change.ts_event
        if change.state is BreakerState.OPEN:
            self._open_since.setdefault(scope, now_ns)
            return
        since = self._open_since.pop(scope, None)
        if since is not None:
            self._open_ns[scope] = self._open_ns.get(scope, 0) + max(0, now_ns - since)

    def breaker_open_ns(self, now_ns: int) -> dict[str, int]:
        totals = dict(self._open_ns)
        for scope, since in self._open_since.items():
            totals[scope] = totals.get(scope, 0) + max(0, now_ns - since)
        return totals

    def statistics(self, now_ns: int) -> ErrorStatistics:
        by_error = self._by_error.counts(now_ns)
        observed = now_ns - self._started_ns
        top = tuple(row.key for row in by_error if row.last_hour > 0)[:TOP_ERRORS]
        trend = {
            row.key: trend_of(row.last_minute, row.last_hour, observed)
            for row in by_error
            if row.last_hour > 0
        }
        return ErrorStatistics(
            ts_event=now_ns,
            ts_init=now_ns,
            by_category=self._by_category.counts(now_ns),
            by_error=by_error,
            by_scope=self._by_scope.counts(now_ns),
            by_operation=self._by_operation.counts(now_ns),
            retries_granted=self.retries_granted,
            retries_denied=self.retries_denied,
            breaker_transitions=self.breaker_transitions,
            breaker_open_ns=self.breaker_open_ns(now_ns),
            top_errors=top,
            trend=trend,
        )

    def as_dict(self, now_ns: int) -> dict[str, Any]:
        """The statistics as plain JSON-ready data, plus the retry outcomes the event lacks."""
        data: dict[str, Any] = msgspec.to_builtins(self.statistics(now_ns))
        data["retries_succeeded"] = self.retries_succeeded
        data["retries_failed"] = self.retries_failed
        return data
