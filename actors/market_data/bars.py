"""OHLC bars on UTC-aligned buckets, built from a price stream."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Bar", "BarBuilder"]


@dataclass(slots=True)
class Bar:
    start_ns: int
    end_ns: int
    open: float
    high: float
    low: float
    close: float
    count: int

    def include(self, price: float) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        self.count += 1


class BarBuilder:
    """One timeframe's bars. A bar closes when a price lands in a later bucket, or on ``flush``.

    Buckets with no prices produce no bar (no synthetic flat bars): the next bar's return then
    spans the gap. A price older than the open bar's bucket (or a bucket already closed) is
    counted in ``late`` and ignored, so a closed bar is never reopened.
    """

    def __init__(self, timeframe_ns: int) -> None:
        if timeframe_ns <= 0:
            raise ValueError("timeframe_ns must be > 0")
        self.timeframe_ns = timeframe_ns
        self._open_bar: Bar | None = None
        self._closed_until_ns: int | None = None
        self.late = 0

    @property
    def open_bar(self) -> Bar | None:
        return self._open_bar

    def add(self, ts_ns: int, price: float) -> Bar | None:
        """Adds a price; returns the bar this price closed, if any."""
        start = ts_ns - ts_ns % self.timeframe_ns
        if self._closed_until_ns is not None and start < self._closed_until_ns:
            self.late += 1
            return None
        bar = self._open_bar
        if bar is not None and start < bar.start_ns:
            self.late += 1
            return None
        if bar is not None and start == bar.start_ns:
            bar.include(price)
            return None
        closed = self._close()
        self._open_bar = Bar(start, start + self.timeframe_ns, price, price, price, price, 1)
        return closed

    def flush(self, now_ns: int) -> Bar | None:
        """Closes the open bar once ``now_ns`` has reached its bucket's end."""
        bar = self._open_bar
        if bar is None or now_ns < bar.end_ns:
            return None
        return self._close()

    def _close(self) -> Bar | None:
        bar = self._open_bar
        if bar is not None:
            self._closed_until_ns = bar.end_ns
            self._open_bar = None
        return bar
