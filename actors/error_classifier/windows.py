"""A time-bucketed sliding-window counter: memory bounded by window / bucket width."""

from __future__ import annotations

from collections import deque

__all__ = ["SlidingCounter"]


class SlidingCounter:
    """Counts events over the last ``window_ns``, at ``bucket_ns`` resolution.

    An event at time ``t`` stays counted while ``now - t < window_ns`` rounded to whole
    buckets: the window covers the current bucket and the ``window/bucket - 1`` before it.
    """

    def __init__(self, window_ns: int, bucket_ns: int) -> None:
        if window_ns <= 0 or bucket_ns <= 0:
            raise ValueError("window and bucket must be positive")
        self._bucket_ns = bucket_ns
        self._buckets_in_window = max(1, -(-window_ns // bucket_ns))
        self._buckets: deque[list[int]] = deque()  # [bucket index, count], oldest first

    def add(self, now_ns: int, count: int = 1) -> None:
        index = now_ns // self._bucket_ns
        self._expire(index)
        if self._buckets and self._buckets[-1][0] == index:
            self._buckets[-1][1] += count
        elif self._buckets and self._buckets[-1][0] > index:
            # A late event (clock skew between sources) lands in the newest bucket.
            self._buckets[-1][1] += count
        else:
            self._buckets.append([index, count])

    def total(self, now_ns: int) -> int:
        self._expire(now_ns // self._bucket_ns)
        return sum(count for _, count in self._buckets)

    def clear(self) -> None:
        self._buckets.clear()

    def _expire(self, current_index: int) -> None:
        oldest_kept = current_index - self._buckets_in_window + 1
        while self._buckets and self._buckets[0][0] < oldest_kept:
            self._buckets.popleft()
