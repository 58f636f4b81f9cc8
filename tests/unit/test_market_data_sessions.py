"""Market sessions in local time across both 2026 DST switch periods, overlaps, transitions."""

from __future__ import annotations

import datetime as dt

import pytest

from actors.market_data.sessions import SessionCalendar
from schemas.config import MarketDataConfig, SessionConfig


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    moment = dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)
    return int(moment.timestamp()) * 1_000_000_000


SECOND = 1_000_000_000


def default_calendar() -> SessionCalendar:
    return SessionCalendar.from_config(MarketDataConfig().sessions)


@pytest.mark.parametrize(
    ("day", "london_open_utc", "new_york_open_utc"),
    [
        ((2026, 3, 6), 8, 13),  # both on winter time
        ((2026, 3, 9), 8, 12),  # US switched on 8 March, UK not yet
        ((2026, 3, 27), 8, 12),  # last weekday before the UK switch on 29 March
        ((2026, 3, 30), 7, 12),  # both on summer time
        ((2026, 10, 23), 7, 12),  # both on summer time
        ((2026, 10, 26), 8, 12),  # UK switched back on 25 October, US not yet
        ((2026, 10, 30), 8, 12),
        ((2026, 11, 2), 8, 13),  # US switched back on 1 November
    ],
)
def test_sessions_open_at_local_time_when_dst_switches(
    day: tuple[int, int, int], london_open_utc: int, new_york_open_utc: int
) -> None:
    """London and New York open at 08:00 local, whatever the UTC offset that week."""
    calendar = default_calendar()
    london_open = utc(*day, london_open_utc)
    new_york_open = utc(*day, new_york_open_utc)

    assert "europe" not in calendar.active_sessions(london_open - 1)
    assert "europe" in calendar.active_sessions(london_open)
    assert "europe" in calendar.active_sessions(london_open + 9 * 3600 * SECOND - 1)
    assert "europe" not in calendar.active_sessions(london_open + 9 * 3600 * SECOND)
    assert "us" not in calendar.active_sessions(new_york_open - 1)
    assert "us" in calendar.active_sessions(new_york_open)
    assert "us" not in calendar.active_sessions(new_york_open + 9 * 3600 * SECOND)


def test_tokyo_session_has_no_dst() -> None:
    calendar = default_calendar()
    for day in [(2026, 3, 6), (2026, 3, 30), (2026, 10, 26), (2026, 11, 2)]:
        assert calendar.active_sessions(utc(*day, 0) - 1) == ()
        assert "asia" in calendar.active_sessions(utc(*day, 0))
        assert "asia" not in calendar.active_sessions(utc(*day, 9))


def test_update_walks_every_transition_of_a_monday_in_the_dst_gap_week() -> None:
    """2026-03-09: Tokyo 00–09, London 08–17, New York 12–21 UTC; overlaps are flagged."""
    calendar = default_calendar()
    now = utc(2026, 3, 8, 12)  # Sunday: nothing open
    first = calendar.update(now)
    assert first is not None
    assert first.active == ()

    changes = []
    for _ in range(6):
        next_edge = calendar.next_transition(now)
        assert next_edge is not None
        now = next_edge
        change = calendar.update(now)
        assert change is not None
        changes.append((now, change.opened, change.closed, change.active, change.overlap))

    assert changes == [
        (utc(2026, 3, 9, 0), ("asia",), (), ("asia",), False),
        (utc(2026, 3, 9, 8), ("europe",), (), ("asia", "europe"), True),
        (utc(2026, 3, 9, 9), (), ("asia",), ("europe",), False),
        (utc(2026, 3, 9, 12), ("us",), (), ("europe", "us"), True),
        (utc(2026, 3, 9, 17), (), ("europe",), ("us",), False),
        (utc(2026, 3, 9, 21), (), ("us",), (), False),
    ]
    assert calendar.update(now + SECOND) is None


def test_next_transition_skips_the_weekend() -> None:
    """After Friday's New York close the next edge is Tokyo's Monday 09:00 open (00:00 UTC)."""
    calendar = default_calendar()
    friday_close = utc(2026, 10, 30, 21)

    assert calendar.active_sessions(friday_close) == ()
    assert calendar.active_sessions(utc(2026, 10, 31, 12)) == ()
    assert calendar.next_transition(friday_close) == utc(2026, 11, 2, 0)


def test_sessions_open_on_weekends_when_weekdays_only_is_off() -> None:
    calendar = SessionCalendar.from_config(MarketDataConfig().sessions, weekdays_only=False)
    assert calendar.active_sessions(utc(2026, 10, 31, 12)) == ("europe", "us")


def test_overnight_session_belongs_to_the_day_it_opens() -> None:
    """22:00–02:00 New York: open late Friday into Saturday, not late Saturday."""
    calendar = SessionCalendar.from_config(
        [SessionConfig(name="late", timezone="America/New_York", open="22:00", close="02:00")]
    )
    friday_late = utc(2026, 11, 7, 3)  # Fri 6 Nov 22:00 EST
    assert calendar.active_sessions(friday_late) == ("late",)
    assert calendar.active_sessions(friday_late + 4 * 3600 * SECOND - 1) == ("late",)
    assert calendar.active_sessions(utc(2026, 11, 8, 3)) == ()  # Saturday 22:00 EST
