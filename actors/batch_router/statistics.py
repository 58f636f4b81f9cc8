"""Running performance statistics over completed batches, overall and per strategy."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.events import BatchCompleted
from schemas.orders import BatchStrategy

__all__ = ["PerformanceStatistics", "percentile"]

DEFAULT_WINDOW = 1000
"""Durations kept per strategy for percentiles; counts cover every batch."""


def percentile(sorted_values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile (``share`` in (0, 1]) of already sorted values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(slots=True)
class _Tally:
    window: int
    batches: int = 0
    orders: int = 0
    placed: int = 0
    rejected: int = 0
    failed: int = 0
    retries: int = 0
    api_calls: int = 0
    durations_ms: deque[float] = field(default_factory=deque)

    def add(self, batch: BatchCompleted) -> None:
        self.batches += 1
        self.orders += batch.total
        self.placed += batch.placed
        self.rejected += batch.rejected
        self.failed += batch.failed
        self.retries += batch.retries
        self.api_calls += batch.api_calls
        self.durations_ms.append(batch.duration_ns / 1_000_000)
        if len(self.durations_ms) > self.window:
            self.durations_ms.popleft()

    def report(self) -> dict[str, Any]:
        durations = sorted(self.durations_ms)
        return {
            "batches": self.batches,
            "orders": self.orders,
            "placed": self.placed,
            "rejected": self.rejected,
            "failed": self.failed,
            "retries": self.retries,
            "api_calls": self.api_calls,
            "success_rate": self.placed / self.orders if self.orders else 0.0,
            "execution_time_ms": {
                "p50": percentile(durations, 0.50),
                "p90": percentile(durations, 0.90),
                "p99": percentile(durations, 0.99),
                "max": durations[-1] if durations else None,
                "samples": len(durations),
            },
        }


class PerformanceStatistics:
    """Success rates, counts and execution-time percentiles (p50/p90/p99, in milliseconds)."""

    def __init__(self, window: int = DEFAULT_WINDOW) -> None:
        self._window = window
        self._overall = _Tally(window)
        self._by_strategy: dict[BatchStrategy, _Tally] = {}

    def record(self, batch: BatchCompleted) -> None:
        self._overall.add(batch)
        self._by_strategy.setdefault(batch.strategy, _Tally(self._window)).add(batch)

    def report(self) -> dict[str, Any]:
        return {
            "overall": self._overall.report(),
            "by_strategy": {
                str(strategy): tally.report()
                for strategy, tally in sorted(self._by_strategy.items())
            },
        }
