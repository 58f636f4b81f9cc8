"""How far this host's clock may run ahead of Kraken's, bounded from HTTP ``Date`` headers.

Kraken checks a placement's ``deadline`` on its own clock. A host whose clock runs ahead stamps
deadlines later than it believes, and a "the deadline has passed" decided on the host's clock
comes too early: an order still queued at the venue could land after it was called absent. The
bound below is added to every wait that ends at a venue deadline.

A ``Date`` header names the second in which the venue answered (its clock at that moment was in
``[D, D + 1 s)``), and the host received the answer at ``r``, after the venue wrote it. So the
host was at most ``r - D`` ahead then. The smallest such value over recent answers is the bound;
recent only, so that a clock stepped by NTP stops counting the old samples soon.
"""

from __future__ import annotations

import collections
import email.utils

__all__ = ["UNKNOWN_AHEAD_NS", "VenueClockBound"]

_NS = 1_000_000_000
UNKNOWN_AHEAD_NS = 5 * _NS
"""Assumed before any answer carried a readable ``Date`` (fail closed: wait longer)."""
_SAMPLES = 64


class VenueClockBound:
    def __init__(self) -> None:
        self._samples: collections.deque[int] = collections.deque(maxlen=_SAMPLES)
        self._last_header = ""
        self._last_header_ns = 0

    def observe(self, date_header: str | None, received_ns: int) -> None:
        """One answer's ``Date`` header and the host's wall-clock time it arrived."""
        if not date_header:
            return
        if date_header != self._last_header:
            try:
                stamped = email.utils.parsedate_to_datetime(date_header)
            except (TypeError, ValueError):
                return
            if stamped.tzinfo is None:
                return  # RFC 7231 dates are GMT; a zone-less one cannot be placed in time
            self._last_header = date_header
            self._last_header_ns = int(stamped.timestamp()) * _NS
        self._samples.append(received_ns - self._last_header_ns)

    def ahead_ns(self) -> int:
        """At most this far ahead of the venue (0 when the host is in step or behind)."""
        if not self._samples:
            return UNKNOWN_AHEAD_NS
        return max(0, min(self._samples))
