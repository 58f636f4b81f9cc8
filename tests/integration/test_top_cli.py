"""``galfriday top --once`` against a real bus: stored breaker state shows before any event, and
actors that do not answer are shown as such."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import nats
import pytest

from bus import Subjects, encode
from bus.jetstream import BREAKERS_BUCKET, ensure_topology
from schemas import BreakerState, CircuitBreakerStateChanged, GalFridayConfig
from tests.support.cli import galfriday, write_config

pytestmark = pytest.mark.nats


async def _store_open_breaker(config: GalFridayConfig) -> None:
    subjects = Subjects(config.nats.subject_root)
    now = time.time_ns()
    event = CircuitBreakerStateChanged(
        ts_event=now,
        ts_init=now,
        scope="kraken.private",
        state=BreakerState.HALF_OPEN,
        previous=BreakerState.OPEN,
        reason="open_period_over",
        since_ns=now,
    )
    client = await nats.connect(config.nats.url)
    try:
        js = client.jetstream()
        await ensure_topology(js, subjects)
        kv = await js.key_value(subjects.bucket_name(BREAKERS_BUCKET))
        await kv.put("kraken.private", encode(event))
    finally:
        await client.close()


def test_top_once_prints_one_frame_with_the_stored_state(
    tmp_path: Path, bus_config: GalFridayConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_store_open_breaker(bus_config))

    code = galfriday("top", "--once", "0.2", "--config", write_config(tmp_path, bus_config))

    out = capsys.readouterr().out
    assert code == 0
    assert any("kraken.private" in line and "half_open" in line for line in out.splitlines())
    assert any("batch-router" in line and "no answer" in line for line in out.splitlines())
