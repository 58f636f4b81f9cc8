"""Holiday tables built in a child process (issue 14, lean market-data): the same dates the
library gives in-process, for several years and every default calendar, and the actor's own
process never imports pandas."""

from __future__ import annotations

import subprocess
import sys

import pytest

from actors.market_data.holiday_table import SubprocessHolidayLoader
from actors.market_data.holidays import load_exchange_calendar_year
from schemas.config import MarketDataConfig

CODES = MarketDataConfig().holiday_calendars
YEARS = (2025, 2026, 2027)
"""Each in-process build takes about a second; the child runs the very same function."""


def test_the_child_gives_exactly_the_in_process_dates_for_every_year() -> None:
    loader = SubprocessHolidayLoader(CODES)
    for code in CODES:
        for year in YEARS:
            expected = load_exchange_calendar_year(code, year)
            got = loader(code, year)
            assert got.zone == expected.zone, (code, year)
            assert got.dates == expected.dates, (code, year)


def test_an_unknown_calendar_is_an_error_for_that_code_only() -> None:
    loader = SubprocessHolidayLoader(("XNYS", "NOPE"))
    assert loader("XNYS", 2026).dates
    with pytest.raises(LookupError, match="NOPE"):
        loader("NOPE", 2026)


def test_loading_tables_through_the_child_keeps_pandas_out_of_this_process() -> None:
    probe = (
        "import sys\n"
        "from actors.market_data.holiday_table import SubprocessHolidayLoader\n"
        "from actors.market_data.holidays import HolidayCalendars\n"
        "import actors.market_data.shell\n"
        "codes = ('XNYS', 'XLON', 'XTKS')\n"
        "calendars = HolidayCalendars(codes, loader=SubprocessHolidayLoader(codes))\n"
        "calendars.preload(1_795_705_200_000_000_000)\n"  # 2026-11-26 15:00 UTC, Thanksgiving
        "print(calendars.reasons(1_795_705_200_000_000_000))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'numpy')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    reasons, heavy = done.stdout.splitlines()
    assert "XNYS holiday" in reasons
    assert heavy == "[]"
