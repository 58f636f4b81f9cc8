"""Event-log files: round trip, version header, truncation and secret headers."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.clock import ManualClock
from bus.eventlog import EventLogError, EventLogWriter, LogRecord, read_event_log, replay


def _write(path: Path, records: list[LogRecord]) -> None:
    with path.open("wb") as file:
        writer = EventLogWriter(file)
        for record in records:
            writer.write(record)


def test_written_records_read_back_equal(tmp_path: Path) -> None:
    records = [
        LogRecord("gf.md.price.BTC-USD", {"traceparent": "x"}, 10, b"\x81\xa1a\x01"),
        LogRecord("gf.dlq.x", {}, 20, b"garbage\x00"),
    ]
    path = tmp_path / "log.gfl"
    _write(path, records)
    assert list(read_event_log(path)) == records


def test_secret_headers_are_not_recorded(tmp_path: Path) -> None:
    path = tmp_path / "log.gfl"
    _write(path, [LogRecord("s", {"API-Sign": "abc", "API-Key": "k", "ok": "1"}, 1, b"")])
    (record,) = read_event_log(path)
    assert record.headers == {"ok": "1"}


def test_a_file_without_the_magic_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.bin"
    path.write_bytes(b"NOTALOG!....")
    with pytest.raises(EventLogError, match="bad magic"):
        list(read_event_log(path))


def test_a_truncated_record_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "log.gfl"
    _write(path, [LogRecord("s", {}, 1, b"x" * 100)])
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(EventLogError, match="truncated"):
        list(read_event_log(path))


async def test_replay_moves_the_manual_clock_and_paces_recorded_gaps() -> None:
    records = [LogRecord("s", {}, 1_000_000_000, b""), LogRecord("s", {}, 3_500_000_000, b"")]
    clock = ManualClock(start_ns=0)
    seen: list[int] = []
    slept: list[float] = []

    async def deliver(record: LogRecord) -> None:
        seen.append(clock())

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    count = await replay(records, deliver, paced=True, clock=clock, sleep=fake_sleep)
    assert count == 2
    assert seen == [1_000_000_000, 3_500_000_000]
    assert slept == [2.5]
