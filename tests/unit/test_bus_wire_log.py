"""The replay's one-pass encoder writes the bytes nats-py's publish would, and checks first."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.eventlog import EventLogError, EventLogWriter, LogRecord, _header_block, _line_templates
from bus.wire_log import encode_log


def _log(path: Path, records: list[LogRecord]) -> Path:
    with path.open("wb") as file:
        writer = EventLogWriter(file)
        for record in records:
            writer.write(record)
    return path


def _one_by_one(records: list[LogRecord], root: str) -> bytes:
    """What :func:`bus.eventlog.publish_records` (checked against nats-py) writes."""
    out = []
    for record in records:
        pub, hpub = _line_templates(root + record.subject)
        if record.headers:
            header = _header_block(record.headers)
            size = len(header) + len(record.payload)
            out.append(hpub % (len(header), size, header, record.payload))
        else:
            out.append(pub % (len(record.payload), record.payload))
    return b"".join(out)


def test_bytes_match_the_record_by_record_path(tmp_path: Path) -> None:
    headers = {"Nats-Msg-Id": "i", " k ": " a\nb "}
    records = [
        LogRecord(f"gf.md.price.P{n % 4}", headers if n % 3 == 0 else {}, n, bytes(n % 300))
        for n in range(20_000)
    ]
    wire = encode_log(_log(tmp_path / "x.gfl", records), lambda s: "moved." + s)
    assert b"".join(wire.chunks) == _one_by_one(records, "moved.")
    assert len(wire.chunks) > 1  # several read blocks
    assert wire.count == len(records)
    assert wire.subjects == {f"gf.md.price.P{n}" for n in range(4)}
    assert wire.largest_payload == 299
    assert wire.has_headers


def test_a_bad_subject_is_named_with_its_record(tmp_path: Path) -> None:
    records = [LogRecord("gf.a", {}, 1, b"x"), LogRecord("gf.b c", {}, 2, b"y")]
    with pytest.raises(EventLogError, match=r"record 2: bad subject 'gf\.b c'"):
        encode_log(_log(tmp_path / "x.gfl", records), lambda s: s)


def test_an_undecodable_record_is_named_not_a_traceback(tmp_path: Path) -> None:
    path = _log(tmp_path / "x.gfl", [LogRecord("gf.a", {}, 1, b"x")])
    with path.open("ab") as file:
        file.write(b"\x00\x00\x00\x02\xc1\xc1")
    with pytest.raises(EventLogError, match="record 2"):
        encode_log(path, lambda s: s)
