"""Exchange status per venue: reported status (REST SystemStatus / WS ``status``) combined with
configured maintenance windows, plus equity-market holidays as low-liquidity notes.

The effective status is the most restrictive of the reported one and every scheduled window in
force. Until a status is reported the venue is assumed online (the shell polls SystemStatus at
start). What each status permits, per Kraken's SystemStatus documentation:

| status                               | place | cancel |
|--------------------------------------|-------|--------|
| online                               | yes   | yes    |
| post_only, limit_only, reduce_only   | yes, restricted (the reason says how) | yes |
| cancel_only                          | no    | yes    |
| maintenance                          | no    | no     |
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass

from actors.market_data.holidays import HolidayCalendars
from schemas.config import MaintenanceWindow
from schemas.events import ExchangeStatus, ExchangeStatusChanged
from schemas.queries import ExchangeStatusReply

__all__ = [
    "ExchangeCalendar",
    "ExchangeCalendarRegistry",
    "ScheduledWindow",
    "StatusSource",
    "can_cancel",
    "can_place",
]

_NS_PER_SECOND = 1_000_000_000


class StatusSource(enum.StrEnum):
    REST = "rest"
    WS = "ws"
    SCHEDULE = "schedule"


_RESTRICTIVENESS = {
    ExchangeStatus.ONLINE: 0,
    ExchangeStatus.POST_ONLY: 1,
    ExchangeStatus.LIMIT_ONLY: 1,
    ExchangeStatus.REDUCE_ONLY: 1,
    ExchangeStatus.CANCEL_ONLY: 2,
    ExchangeStatus.MAINTENANCE: 3,
}

_RESTRICTION = {
    ExchangeStatus.POST_ONLY: "only post-only limit orders may be placed",
    ExchangeStatus.LIMIT_ONLY: "only limit orders may be placed",
    ExchangeStatus.REDUCE_ONLY: "only position-reducing orders may be placed",
    ExchangeStatus.CANCEL_ONLY: "no new orders; cancellations allowed",
    ExchangeStatus.MAINTENANCE: "exchange offline: no orders, no cancellations",
}


def can_place(status: ExchangeStatus) -> bool:
    return status not in (ExchangeStatus.CANCEL_ONLY, ExchangeStatus.MAINTENANCE)


def can_cancel(status: ExchangeStatus) -> bool:
    return status is not ExchangeStatus.MAINTENANCE


def _parse_rfc3339_ns(text: str) -> int:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * _NS_PER_SECOND + delta.microseconds * 1000


@dataclass(frozen=True, slots=True)
class ScheduledWindow:
    start_ns: int
    end_ns: int
    status: ExchangeStatus
    label: str

    @classmethod
    def from_config(cls, window: MaintenanceWindow) -> ScheduledWindow:
        start_ns = _parse_rfc3339_ns(window.start)
        end_ns = _parse_rfc3339_ns(window.end)
        if end_ns <= start_ns:
            raise ValueError(
                f"maintenance window ends before it starts: {window.start}–{window.end}"
            )
        return cls(start_ns, end_ns, ExchangeStatus(window.status), f"{window.start}–{window.end}")

    def contains(self, now_ns: int) -> bool:
        return self.start_ns <= now_ns < self.end_ns


class ExchangeCalendar:
    """One venue's status; emits ``ExchangeStatusChanged`` when the effective status changes."""

    def __init__(
        self,
        exchange: str,
        windows: Iterable[ScheduledWindow] = (),
        holidays: HolidayCalendars | None = None,
    ) -> None:
        self.exchange = exchange
        self._windows = tuple(sorted(windows, key=lambda w: w.start_ns))
        self._holidays = holidays
        self._reported = ExchangeStatus.ONLINE
        self._reported_source: str | None = None
        self._announced: ExchangeStatus | None = None

    @property
    def reported_status(self) -> ExchangeStatus:
        return self._reported

    def active_windows(self, now_ns: int) -> tuple[ScheduledWindow, ...]:
        return tuple(w for w in self._windows if w.contains(now_ns))

    def status(self, now_ns: int) -> ExchangeStatus:
        candidates = [self._reported, *(w.status for w in self.active_windows(now_ns))]
        return max(candidates, key=_RESTRICTIVENESS.__getitem__)

    def can_place(self, now_ns: int) -> bool:
        return can_place(self.status(now_ns))

    def can_cancel(self, now_ns: int) -> bool:
        return can_cancel(self.status(now_ns))

    def on_status(
        self, status: ExchangeStatus, source: str, now_ns: int
    ) -> ExchangeStatusChanged | None:
        """A status reported by REST SystemStatus (``rest``) or the WS status channel (``ws``)."""
        self._reported = status
        self._reported_source = source
        return self._announce(source, now_ns)

    def current(self, now_ns: int) -> ExchangeStatusChanged:
        """The current status as an event, announced again even though it did not change:
        the shell republishes it periodically, so a lost announcement is repaired."""
        status = self.status(now_ns)
        previous = self._announced
        self._announced = status
        return self._event(status, previous, self._reported_source or StatusSource.SCHEDULE, now_ns)

    def publish_failed(self, event: ExchangeStatusChanged) -> None:
        """``event`` was not published: forget it was announced, so the next report of the
        same status announces it again (unless something newer was announced since)."""
        if self._announced == event.status:
            self._announced = event.previous

    def tick(self, now_ns: int) -> ExchangeStatusChanged | None:
        """Applies the maintenance schedule; call at least at every ``next_transition``."""
        return self._announce(StatusSource.SCHEDULE, now_ns)

    def next_transition(self, now_ns: int) -> int | None:
        edges = [e for w in self._windows for e in (w.start_ns, w.end_ns) if e > now_ns]
        return min(edges, default=None)

    def low_liquidity_reasons(self, now_ns: int) -> tuple[str, ...]:
        return () if self._holidays is None else self._holidays.reasons(now_ns)

    def reply(self, now_ns: int) -> ExchangeStatusReply:
        status = self.status(now_ns)
        return ExchangeStatusReply(
            exchange=self.exchange,
            status=status,
            can_place=can_place(status),
            can_cancel=can_cancel(status),
            in_scheduled_maintenance=bool(self.active_windows(now_ns)),
            low_liquidity_reasons=self.low_liquidity_reasons(now_ns),
        )

    def _announce(self, source: str, now_ns: int) -> ExchangeStatusChanged | None:
        status = self.status(now_ns)
        previous = self._announced
        if status == previous:
            return None
        self._announced = status
        return self._event(status, previous, source, now_ns)

    def _event(
        self, status: ExchangeStatus, previous: ExchangeStatus | None, source: str, now_ns: int
    ) -> ExchangeStatusChanged:
        return ExchangeStatusChanged(
            exchange=self.exchange,
            status=status,
            previous=previous,
            source=source,
            can_place=can_place(status),
            can_cancel=can_cancel(status),
            reason=self._reason(status, source, now_ns),
            ts_event=now_ns,
            ts_init=now_ns,
        )

    def _reason(self, status: ExchangeStatus, source: str, now_ns: int) -> str:
        parts: list[str] = []
        windows = [w for w in self.active_windows(now_ns) if w.status == status]
        if windows:
            parts.append(f"scheduled {status.value} {windows[0].label}")
        elif self._reported_source is None:
            parts.append(f"assumed {status.value}: no status reported yet")
        else:
            parts.append(f"reported {self._reported.value} via {self._reported_source}")
        restriction = _RESTRICTION.get(status)
        if restriction is not None:
            parts.append(restriction)
        return "; ".join(parts)


class ExchangeCalendarRegistry:
    """Calendars keyed by exchange id; the default exchange always exists."""

    def __init__(
        self,
        default_exchange: str,
        windows: Iterable[MaintenanceWindow] = (),
        holidays: HolidayCalendars | None = None,
    ) -> None:
        self.default_exchange = default_exchange
        self._holidays = holidays
        by_exchange: dict[str, list[ScheduledWindow]] = {default_exchange: []}
        for window in windows:
            by_exchange.setdefault(window.exchange, []).append(ScheduledWindow.from_config(window))
        self._calendars = {
            exchange: ExchangeCalendar(exchange, scheduled, holidays)
            for exchange, scheduled in by_exchange.items()
        }

    def get(self, exchange: str | None = None) -> ExchangeCalendar | None:
        return self._calendars.get(exchange or self.default_exchange)

    def calendar(self, exchange: str | None = None) -> ExchangeCalendar:
        """The calendar of ``exchange``, created on first use (no schedule) if unknown."""
        key = exchange or self.default_exchange
        found = self._calendars.get(key)
        if found is None:
            found = self._calendars[key] = ExchangeCalendar(key, (), self._holidays)
        return found

    def exchanges(self) -> tuple[str, ...]:
        return tuple(self._calendars)

    def tick(self, now_ns: int) -> list[ExchangeStatusChanged]:
        changes = [calendar.tick(now_ns) for calendar in self._calendars.values()]
        return [change for change in changes if change is not None]

    def next_transition(self, now_ns: int) -> int | None:
        edges = [c.next_transition(now_ns) for c in self._calendars.values()]
        return min((edge for edge in edges if edge is not None), default=None)

    def reply(self, exchange: str | None, now_ns: int) -> ExchangeStatusReply:
        calendar = self.get(exchange)
        if calendar is None:
            return ExchangeStatusReply(
                exchange=exchange or self.default_exchange,
                status=ExchangeStatus.ONLINE,
                can_place=False,
                can_cancel=False,
                in_scheduled_maintenance=False,
                error=f"unknown exchange {exchange!r}",
            )
        return calendar.reply(now_ns)
