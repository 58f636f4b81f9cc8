"""Recorder → replayer round trip through a real nats-server."""

from __future__ import annotations

from pathlib import Path

import nats
import pytest

from bus import Recorder, Subjects, encode, read_event_log, replay
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
