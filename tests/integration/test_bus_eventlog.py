"""Recorder → replayer round trip through a real nats-server."""

from __future__ import annotations

from pathlib import Path

import nats
import pytest

from bus import LogRecord, Recorder, Subjects, encode, read_event_log, replay
from bus.eventlog import publish_records
from schemas import GalFridayConfig
from tests.support.probe_actor import quote
from tests.support.waiting import eventually

pytestmark = pytest.mark.nats


async def test_recorded_messages_replay_to_an_identical_log(
    bus_config: GalFridayConfig, tmp_path: Path
) -> None:
    subjects = Subjects(bus_config.nats.subject_root)
    client = await nats.connect(bus_config.nats.url)
    first, second = tmp_path / "first.gfl", tmp_path / "second.gfl"
    sent = [(subjects.price(pair), encode(quote(pair))) for pair in ("BTC/USD", "ETH/USD")]
    sent.append((subjects.dlq("x"), b"\xc1 not msgpack"))
    async with Recorder(client, first, [subjects.everything()]) as recorder:
        for subject, payload in sent:
            await client.publish(subject, payload, headers={"k": "v"})
        await client.flush()
        await eventually(lambda: recorder.writer is not None and recorder.writer.count == 3)
    recorded = list(read_event_log(first))
    assert [(r.subject, r.payload) for r in recorded] == sent
    assert all(r.headers == {"k": "v"} for r in recorded)

    async def publish(record: object) -> None:
        await client.publish(record.subject, record.payload, headers=record.headers)  # type: ignore[attr-defined]

    async with Recorder(client, second, [subjects.everything()]) as recorder:
        assert await replay(recorded, publish) == 3
        await client.flush()
        await eventually(lambda: recorder.writer is not None and recorder.writer.count == 3)
    replayed = list(read_event_log(second))
    assert [(r.subject, r.headers, r.payload) for r in replayed] == [
        (r.subject, r.headers, r.payload) for r in recorded
    ]
    await client.close()


async def test_publish_records_delivers_what_publish_would(
    bus_config: GalFridayConfig, tmp_path: Path
) -> None:
    """The replay's bulk path: many messages per write, headers and empty payloads kept,
    subjects moved by the map, order preserved across write batches."""
    subjects = Subjects(bus_config.nats.subject_root)
    moved = Subjects(bus_config.nats.subject_root + "moved")
    client = await nats.connect(bus_config.nats.url)
    records = [
        LogRecord(
            subjects.price("BTC/USD"),
            {"Nats-Msg-Id": f"m{n}", "k": "line\r\nbreak"} if n % 7 == 0 else {},
            n,
            encode(quote("BTC/USD")) if n % 5 else b"",
        )
        for n in range(5000)
    ]
    target = {subjects.price("BTC/USD"): moved.price("BTC/USD")}
    log = tmp_path / "published.gfl"
    async with Recorder(client, log, [moved.everything()]) as recorder:
        assert await publish_records(client, records, target) == len(records)
        await client.flush()
        await eventually(lambda: recorder.writer is not None and recorder.writer.count == 5000)
    got = list(read_event_log(log))
    assert [r.subject for r in got] == [moved.price("BTC/USD")] * len(records)
    assert [r.payload for r in got] == [r.payload for r in records]
    assert [r.headers for r in got] == [
        {"Nats-Msg-Id": r.headers["Nats-Msg-Id"], "k": "line  break"} if r.headers else {}
        for r in records
    ]
    await client.close()


async def test_publish_records_on_a_closed_connection_raises_instead_of_dropping(
    bus_config: GalFridayConfig,
) -> None:
    client = await nats.connect(bus_config.nats.url)
    await client.close()
    with pytest.raises(ConnectionError, match="closed after 0 records"):
        await publish_records(client, [LogRecord("gf.x", {}, 1, b"x")])
