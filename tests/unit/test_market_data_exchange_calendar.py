"""Exchange status transitions, maintenance windows, permissions and holiday reporting."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from actors.market_data.exchange_calendar import (
    ExchangeCalendar,
    ExchangeCalendarRegistry,
    ScheduledWindow,
    can_cancel,
    can_place,
)
from actors.market_data.holidays import HolidayCalendars, YearHolidays
from schemas.config import MaintenanceWindow
from schemas.events import ExchangeStatus


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    moment = dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)
    return int(moment.timestamp()) * 1_000_000_000


WINDOW = MaintenanceWindow(start="2026-12-01T02:00:00Z", end="2026-12-01T04:00:00Z")


@pytest.mark.parametrize(
    ("status", "place", "cancel"),
    [
        (ExchangeStatus.ONLINE, True, True),
        (ExchangeStatus.POST_ONLY, True, True),
        (ExchangeStatus.LIMIT_ONLY, True, True),
        (ExchangeStatus.REDUCE_ONLY, True, True),
        (ExchangeStatus.CANCEL_ONLY, False, True),
        (ExchangeStatus.MAINTENANCE, False, False),
    ],
)
def test_can_place_and_cancel_follow_kraken_status_meanings(
    status: ExchangeStatus, place: bool, cancel: bool
) -> None:
    calendar = ExchangeCalendar("kraken")
    calendar.on_status(status, "rest", utc(2026, 12, 1))

    assert (can_place(status), can_cancel(status)) == (place, cancel)
    assert calendar.can_place(utc(2026, 12, 1)) is place
    assert calendar.can_cancel(utc(2026, 12, 1)) is cancel
    reply = calendar.reply(utc(2026, 12, 1))
    assert (reply.status, reply.can_place, reply.can_cancel) == (status, place, cancel)


def test_reported_status_changes_emit_once_per_transition_with_source() -> None:
    calendar = ExchangeCalendar("kraken")
    now = utc(2026, 12, 1)

    announced = calendar.tick(now)
    to_maintenance = calendar.on_status(ExchangeStatus.MAINTENANCE, "rest", now + 1)
    repeated = calendar.on_status(ExchangeStatus.MAINTENANCE, "ws", now + 2)
    to_cancel_only = calendar.on_status(ExchangeStatus.CANCEL_ONLY, "ws", now + 3)

    assert announced is not None
    assert (announced.status, announced.previous, announced.source) == (
        ExchangeStatus.ONLINE,
        None,
        "schedule",
    )
    assert to_maintenance is not None
    assert (to_maintenance.status, to_maintenance.previous, to_maintenance.source) == (
        ExchangeStatus.MAINTENANCE,
        ExchangeStatus.ONLINE,
        "rest",
    )
    assert (to_maintenance.can_place, to_maintenance.can_cancel) == (False, False)
    assert repeated is None
    assert to_cancel_only is not None
    assert to_cancel_only.source == "ws"
    assert (to_cancel_only.can_place, to_cancel_only.can_cancel) == (False, True)
    assert "cancellations allowed" in to_cancel_only.reason


def test_scheduled_window_starts_and_ends_maintenance_on_tick() -> None:
    calendar = ExchangeCalendar("kraken", [ScheduledWindow.from_config(WINDOW)])
    before = utc(2026, 12, 1, 1, 59)
    calendar.tick(before)

    assert calendar.next_transition(before) == utc(2026, 12, 1, 2)
    assert calendar.tick(utc(2026, 12, 1, 1, 59) + 1) is None
    started = calendar.tick(utc(2026, 12, 1, 2))
    during = calendar.reply(utc(2026, 12, 1, 3))
    ended = calendar.tick(utc(2026, 12, 1, 4))

    assert started is not None
    assert (started.status, started.source, started.can_place, started.can_cancel) == (
        ExchangeStatus.MAINTENANCE,
        "schedule",
        False,
        False,
    )
    assert "scheduled maintenance" in started.reason
    assert during.in_scheduled_maintenance
    assert not during.can_place
    assert ended is not None
    assert (ended.status, ended.previous) == (ExchangeStatus.ONLINE, ExchangeStatus.MAINTENANCE)
    assert calendar.next_transition(utc(2026, 12, 1, 4)) is None


def test_effective_status_is_the_most_restrictive_of_report_and_schedule() -> None:
    post_only = MaintenanceWindow(
        start="2026-12-01T02:00:00Z", end="2026-12-01T04:00:00Z", status="post_only"
    )
    calendar = ExchangeCalendar("kraken", [ScheduledWindow.from_config(post_only)])
    inside = utc(2026, 12, 1, 3)

    assert calendar.status(inside) is ExchangeStatus.POST_ONLY
    calendar.on_status(ExchangeStatus.CANCEL_ONLY, "ws", inside)
    assert calendar.status(inside) is ExchangeStatus.CANCEL_ONLY
    calendar.on_status(ExchangeStatus.ONLINE, "ws", inside)
    assert calendar.status(inside) is ExchangeStatus.POST_ONLY
    assert calendar.status(utc(2026, 12, 1, 5)) is ExchangeStatus.ONLINE


def test_window_with_end_before_start_is_refused() -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        ScheduledWindow.from_config(
            MaintenanceWindow(start="2026-12-01T04:00:00Z", end="2026-12-01T02:00:00+00:00")
        )


def test_registry_keeps_windows_per_exchange() -> None:
    other_window = MaintenanceWindow(
        start="2026-12-01T02:00:00Z", end="2026-12-01T04:00:00Z", exchange="other"
    )
    registry = ExchangeCalendarRegistry("kraken", [other_window])
    inside = utc(2026, 12, 1, 3)

    changes = registry.tick(inside)

    assert {(c.exchange, c.status) for c in changes} == {
        ("kraken", ExchangeStatus.ONLINE),
        ("other", ExchangeStatus.MAINTENANCE),
    }
    assert registry.reply(None, inside).can_place
    assert not registry.reply("other", inside).can_place
    unknown = registry.reply("nowhere", inside)
    assert unknown.error is not None
    assert not unknown.can_place


@pytest.mark.parametrize(
    ("moment", "reasons"),
    [
        (utc(2026, 12, 25, 15), ("XNYS holiday", "XLON holiday")),
        (utc(2026, 11, 26, 15), ("XNYS holiday",)),  # Thanksgiving
        (utc(2026, 11, 25, 15), ()),
        (utc(2026, 11, 28, 15), ()),  # a Saturday is not reported as a holiday
        (utc(2026, 12, 31, 16), ("XTKS holiday",)),  # Tokyo's year-end break
    ],
)
def test_holidays_of_nyse_lse_tse_are_reported_as_low_liquidity(
    moment: int, reasons: tuple[str, ...]
) -> None:
    calendar = ExchangeCalendar("kraken", holidays=HolidayCalendars(("XNYS", "XLON", "XTKS")))
    assert calendar.reply(moment).low_liquidity_reasons == reasons


def test_holiday_tables_load_once_per_calendar_and_year_and_bad_codes_are_skipped() -> None:
    loads: list[tuple[str, int]] = []

    def loader(code: str, year: int) -> YearHolidays:
        loads.append((code, year))
        if code == "NOPE":
            raise KeyError(code)
        return YearHolidays(ZoneInfo("America/New_York"), frozenset({dt.date(2026, 7, 3)}))

    holidays = HolidayCalendars(("XNYS", "NOPE"), loader)
    for hour in (14, 15, 16):
        assert holidays.reasons(utc(2026, 7, 3, hour)) == ("XNYS holiday",)

    assert sorted(loads) == [("NOPE", 2026), ("XNYS", 2026)]
    assert "NOPE" in holidays.errors
