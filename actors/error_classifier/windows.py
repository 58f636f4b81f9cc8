"""A time-bucketed sliding-window counter: memory bounded by window / bucket width."""

from __future__ import annotations

from collections import deque

__all__ = ["SlidingCounter"]


class SlidingCounter:
    """Counts events over the last ``window_ns``, at ``bucket_ns`` resolution.

    An event at time ``t`` stays counted while ``now - t < window_ns`` rounded to whole
    buckets: the window covers the current bucket and the ``window/bucket - 1`` before it.
    Events are counted at the time they happened, not when they were reported: a late report
    lands in its own bucket, and one already outside the window is not counted at all.
    """

    def __init__(self, window_ns: int, bucket_ns: int) -> None:
        if window_ns <= 0 or bucket_ns <= 0:
            raise ValueError("window and bucket must be positive")
        self._bucket_ns = bucket_ns
        self._buckets_in_window = max(1, -(-window_ns // bucket_ns))
        self._buckets: deque[list[int]] = deque()  # [bucket index, count], oldest first

    def add(self, event_ns: int, count: int = 1, *, now_ns: int | None = None) -> bool:
        """Count ``count`` events that happened at ``event_ns`` (``now_ns`` defaults to it).

        An event from the future (clock skew between hosts) counts as now. Returns False when
        the event is already outside the window and was not counted.
        """
        now = event_ns if now_ns is None else now_ns
        current = now // self._bucket_ns
        self._expire(current)
        index = min(event_ns, now) // self._bucket_ns
        if index < self._oldest_kept(current):
            return False
        position = len(self._buckets)
        while position > 0 and self._buckets[position - 1][0] > index:
            position -= 1
        if position > 0 and self._buckets[position - 1][0] == index:
            self._buckets[position - 1][1] += count
        else:
            self._buckets.insert(position, [index, count])
        return True

    def covers(self, event_ns: int, now_ns: int) -> bool:
        """Whether an event at ``event_ns`` would still be counted at ``now_ns``."""
        current = now_ns // self._bucket_ns
        return min(event_ns, now_ns) // self._bucket_ns >= self._oldest_kept(current)

    def total(self, now_ns: int) -> int:
        self._expire(now_ns // self._bucket_ns)
        return sum(count for _, count in self._buckets)

    def clear(self) -> None:
        self._buckets.clear()

    def _oldest_kept(self, current_index: int) -> int:
        return current_index - self._buckets_in_window + 1

    def _expire(self, current_index: int) -> None:
        oldest_kept = self._oldest_kept(current_index)
        while self._buckets and self._buckets[0][0] < oldest_kept:
            self._buckets.popleft()
