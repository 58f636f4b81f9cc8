"""Trading sessions (Asia, Europe, US) in their local time zones, DST-aware via ``zoneinfo``.

A session is open from ``open`` (inclusive) to ``close`` (exclusive) local time, on weekdays
only by default (Monday–Friday in the session's own zone; ``weekdays_only=False`` opens it every
day). A close earlier than the open means the session runs overnight and belongs to the day it
opened on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from schemas.config import SessionConfig
from schemas.events import MarketSessionChanged

__all__ = ["MarketSession", "SessionCalendar"]

_NS_PER_SECOND = 1_000_000_000
_SATURDAY = 5
_LOOKAHEAD_DAYS = 8


def _to_datetime(now_ns: int) -> dt.datetime:
    seconds, remainder = divmod(now_ns, _NS_PER_SECOND)
    return dt.datetime.fromtimestamp(seconds, dt.UTC) + dt.timedelta(microseconds=remainder // 1000)


def _to_ns(moment: dt.datetime) -> int:
    delta = moment.astimezone(dt.UTC) - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * _NS_PER_SECOND + delta.microseconds * 1000


def _clock_time(text: str) -> dt.time:
    hours, minutes = text.split(":")
    return dt.time(int(hours), int(minutes))


@dataclass(frozen=True, slots=True)
class MarketSession:
    name: str
    zone: ZoneInfo
    open: dt.time
    close: dt.time
    weekdays_only: bool = True

    @classmethod
    def from_config(cls, config: SessionConfig, *, weekdays_only: bool = True) -> MarketSession:
        return cls(
            config.name,
            ZoneInfo(config.timezone),
            _clock_time(config.open),
            _clock_time(config.close),
            weekdays_only,
        )

    def _trades_on(self, day: dt.date) -> bool:
        return not self.weekdays_only or day.weekday() < _SATURDAY

    def _interval(self, day: dt.date) -> tuple[int, int]:
        """The session's UTC interval in nanoseconds for the local ``day`` it opens on."""
        opens = dt.datetime.combine(day, self.open, self.zone)
        close_day = day if self.close > self.open else day + dt.timedelta(days=1)
        closes = dt.datetime.combine(close_day, self.close, self.zone)
        return _to_ns(opens), _to_ns(closes)

    def _days_around(self, now_ns: int, before: int, after: int) -> list[dt.date]:
        local_day = _to_datetime(now_ns).astimezone(self.zone).date()
        return [local_day + dt.timedelta(days=offset) for offset in range(-before, after + 1)]

    def is_open(self, now_ns: int) -> bool:
        for day in self._days_around(now_ns, 1, 0):
            if self._trades_on(day):
                opens, closes = self._interval(day)
                if opens <= now_ns < closes:
                    return True
        return False

    def next_transition(self, now_ns: int) -> int | None:
        """The first open or close strictly after ``now_ns``."""
        candidates = [
            edge
            for day in self._days_around(now_ns, 1, _LOOKAHEAD_DAYS)
            if self._trades_on(day)
            for edge in self._interval(day)
            if edge > now_ns
        ]
        return min(candidates, default=None)


class SessionCalendar:
    """Which sessions are open; ``update`` emits ``MarketSessionChanged`` on every change.

    The first ``update`` always emits, announcing the current state (``opened`` = all active).
    """

    def __init__(self, sessions: Iterable[MarketSession]) -> None:
        self._sessions = tuple(sessions)
        self._active: tuple[str, ...] | None = None

    @classmethod
    def from_config(
        cls, sessions: Iterable[SessionConfig], *, weekdays_only: bool = True
    ) -> SessionCalendar:
        return cls(MarketSession.from_config(s, weekdays_only=weekdays_only) for s in sessions)

    def active_sessions(self, now_ns: int) -> tuple[str, ...]:
        return tuple(s.name for s in self._sessions if s.is_open(now_ns))

    def is_overlap(self, now_ns: int) -> bool:
        return len(self.active_sessions(now_ns)) > 1

    def update(self, now_ns: int) -> MarketSessionChanged | None:
        active = self.active_sessions(now_ns)
        previous = self._active
        if previous == active:
            return None
        self._active = active
        before = previous or ()
        return MarketSessionChanged(
            active=active,
            opened=tuple(name for name in active if name not in before),
            closed=tuple(name for name in before if name not in active),
            overlap=len(active) > 1,
            ts_event=now_ns,
            ts_init=now_ns,
        )

    def next_transition(self, now_ns: int) -> int | None:
        """When the next session opens or closes, so the shell can sleep until then."""
        edges = [s.next_transition(now_ns) for s in self._sessions]
        return min((edge for edge in edges if edge is not None), default=None)
