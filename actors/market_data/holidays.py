"""Equity-market holidays (NYSE, LSE, TSE…) reported as low-liquidity days for crypto.

Built from the ``exchange_calendars`` library, imported and built lazily (it takes about a
second) and cached per calendar and year. A holiday is a weekday, in the calendar's own time
zone, that is not a trading session; weekends are not reported.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

__all__ = ["HolidayCalendars", "YearHolidays", "load_exchange_calendar_year"]

_NS_PER_SECOND = 1_000_000_000
_SATURDAY = 5


@dataclass(frozen=True, slots=True)
class YearHolidays:
    zone: ZoneInfo
    dates: frozenset[dt.date]


YearLoader = Callable[[str, int], YearHolidays]
"""``(calendar code, year) -> that year's holidays``; injectable for tests."""


def load_exchange_calendar_year(code: str, year: int) -> YearHolidays:
    # Imported here: the import alone takes most of a second.
    import exchange_calendars

    with warnings.catch_warnings():
        # exchange_calendars trips pandas deprecation warnings that are not ours to fix.
        warnings.simplefilter("ignore")
        calendar = exchange_calendars.get_calendar(code, start=f"{year}-01-01", end=f"{year}-12-31")
    sessions = {timestamp.date() for timestamp in calendar.sessions}
    day = dt.date(year, 1, 1)
    holidays: set[dt.date] = set()
    while day.year == year:
        if day.weekday() < _SATURDAY and day not in sessions:
            holidays.add(day)
        day += dt.timedelta(days=1)
    return YearHolidays(ZoneInfo(str(calendar.tz)), frozenset(holidays))


class HolidayCalendars:
    """Answers "which configured markets are on holiday now"; a failing calendar is skipped."""

    def __init__(self, codes: Iterable[str], loader: YearLoader = load_exchange_calendar_year):
        self._codes = tuple(codes)
        self._loader = loader
        self._years: dict[tuple[str, int], YearHolidays | None] = {}
        self.errors: dict[str, str] = {}

    @property
    def codes(self) -> tuple[str, ...]:
        return self._codes

    def reasons(self, now_ns: int) -> tuple[str, ...]:
        """E.g. ``("XNYS holiday",)`` on Thanksgiving; empty on a normal day."""
        utc = dt.datetime.fromtimestamp(now_ns // _NS_PER_SECOND, dt.UTC)
        found: list[str] = []
        for code in self._codes:
            # The zone is the same every year; the current year's table tells us which it is.
            table = self._year(code, utc.year)
            if table is None:
                continue
            local_day = utc.astimezone(table.zone).date()
            if local_day.year != utc.year:
                table = self._year(code, local_day.year)
                if table is None:
                    continue
            if local_day in table.dates:
                found.append(f"{code} holiday")
        return tuple(found)

    def preload(self, now_ns: int) -> None:
        """Builds this year's tables now; the shell runs it in a worker thread at start-up
        (``asyncio.to_thread``) so the first query does not stall the event loop."""
        self.reasons(now_ns)

    def _year(self, code: str, year: int) -> YearHolidays | None:
        key = (code, year)
        if key not in self._years:
            try:
                self._years[key] = self._loader(code, year)
            except Exception as e:  # an unknown code or a year out of the library's range
                self.errors[code] = f"{type(e).__name__}: {e}"
                self._years[key] = None
        return self._years[key]
