"""Which call reports were counted already: a redelivered report must not count twice."""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["SeenCalls"]


class SeenCalls:
    """The last ``capacity`` call ids, oldest forgotten first. An empty id (a producer that
    does not set one) is never a duplicate."""

    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self._capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()
        self.duplicates = 0

    def first_time(self, call_id: str) -> bool:
        """True the first time ``call_id`` is seen (and remembers it); False for a repeat."""
        if not call_id:
            return True
        if call_id in self._ids:
            self.duplicates += 1
            return False
        self._ids[call_id] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return True
