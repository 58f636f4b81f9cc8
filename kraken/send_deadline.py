"""Kraken's ``deadline`` of a placement, fixed at the moment the request is signed and sent.

A placement may wait a long time between being planned and leaving the process (the per-key
send lock while another call's answer is held, rate-limit pacing, a WebSocket token fetch).
A deadline computed when planning would be spent in that queue, and the engine would refuse
the order as elapsed. So the caller hands the client a :class:`SendDeadline` (a span and an
optional cap), the client stamps it right before signing, and the caller reads back the
deadline actually sent (:attr:`SendDeadline.sent_ns`) — the only one that bounds when the
order can still reach the engine. The cap is read at the stamp too: what bounds it (e.g. an
ownership lease renewed in the background) may have moved on while the request waited.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["SendDeadline"]


class SendDeadline:
    """``stamp(now)`` = ``min(now + span_ns, not_after())``; ``sent_ns`` the latest stamped."""

    __slots__ = ("_not_after", "_sent_ns", "_span_ns")

    def __init__(self, span_ns: int, *, not_after: Callable[[], int | None] | None = None) -> None:
        if span_ns <= 0:
            raise ValueError(f"a deadline span must be positive, got {span_ns} ns")
        self._span_ns = span_ns
        self._not_after = not_after
        self._sent_ns: int | None = None

    def stamp(self, now_ns: int) -> int:
        """The deadline to send with a request signed at ``now_ns``; remembered as sent."""
        deadline = now_ns + self._span_ns
        cap = None if self._not_after is None else self._not_after()
        if cap is not None:
            deadline = min(deadline, cap)
        # A resend (e.g. after a refused token) is stamped again: the later one bounds landing.
        self._sent_ns = deadline if self._sent_ns is None else max(self._sent_ns, deadline)
        return deadline

    @property
    def sent_ns(self) -> int | None:
        """The latest deadline sent, or ``None`` if no request carrying it was signed."""
        return self._sent_ns

    def __repr__(self) -> str:
        return f"SendDeadline(span_ns={self._span_ns}, sent_ns={self._sent_ns})"
