"""Holiday tables computed in a short-lived child process, so the market-data actor never
imports ``exchange_calendars`` (and with it pandas and numpy, about 50 MB of RSS) itself.

The child runs :func:`actors.market_data.holidays.load_exchange_calendar_year` — the same code
that used to run in-process, so the dates are exactly the library's — and prints JSON::

    python -m actors.market_data.holiday_table XNYS:2026 XNYS:2027 XLON:2026
    {"XNYS:2026": {"zone": "America/New_York", "dates": ["2026-01-01", ...]}, ...}

An entry the library cannot build (unknown code, year out of range) is ``{"error": "..."}``.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo

import orjson

from actors.market_data.holidays import YearHolidays, load_exchange_calendar_year

__all__ = ["SubprocessHolidayLoader", "main"]

CHILD_TIMEOUT_S = 60.0


class SubprocessHolidayLoader:
    """A ``YearLoader`` that asks a child process for every configured calendar at once, for
    the requested year and the next, and keeps only the dates."""

    def __init__(self, codes: Iterable[str], *, python: str = sys.executable) -> None:
        self._codes = tuple(codes)
        self._python = python
        self._cache: dict[tuple[str, int], YearHolidays | str] = {}
        self._lock = threading.Lock()  # preload runs in a worker thread

    def __call__(self, code: str, year: int) -> YearHolidays:
        with self._lock:
            if (code, year) not in self._cache:
                codes = self._codes if code in self._codes else (*self._codes, code)
                self._cache.update(self._fetch([(c, y) for c in codes for y in (year, year + 1)]))
            found = self._cache.get((code, year), f"no table for {code} {year}")
        if isinstance(found, str):
            raise LookupError(found)
        return found

    def _fetch(
        self, wanted: Sequence[tuple[str, int]]
    ) -> dict[tuple[str, int], YearHolidays | str]:
        command = [self._python, "-m", "actors.market_data.holiday_table"]
        command += [f"{code}:{year}" for code, year in wanted]
        done = subprocess.run(command, capture_output=True, timeout=CHILD_TIMEOUT_S, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"holiday table child failed: {done.stderr.decode()[-300:]}")
        tables: dict[tuple[str, int], YearHolidays | str] = {}
        for key, entry in orjson.loads(done.stdout).items():
            code, year = key.rsplit(":", 1)
            if "error" in entry:
                tables[(code, int(year))] = str(entry["error"])
            else:
                dates = frozenset(dt.date.fromisoformat(d) for d in entry["dates"])
                tables[(code, int(year))] = YearHolidays(ZoneInfo(entry["zone"]), dates)
        return tables


def _table(code: str, year: int) -> dict[str, object]:
    try:
        table = load_exchange_calendar_year(code, year)
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}
    return {"zone": table.zone.key, "dates": sorted(d.isoformat() for d in table.dates)}


def main(argv: Sequence[str]) -> int:
    result = {}
    for arg in argv:
        code, _, year = arg.rpartition(":")
        result[arg] = _table(code, int(year))
    sys.stdout.buffer.write(orjson.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
