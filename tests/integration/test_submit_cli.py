"""``galfriday submit`` says what happened: bad files refused before anything is sent, a timeout
is a timeout, a duplicate answers at once, a breaker that holds the batch is named."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import nats
import pytest

from bus import Subjects, encode
from bus.jetstream import BREAKERS_BUCKET, MSG_ID_HEADER, ensure_topology
from schemas import (
    BatchCompleted,
    BatchStrategy,
    BreakerState,
    CircuitBreakerStateChanged,
    GalFridayConfig,
)
from schemas.events import OrderOutcome, OrderResult
from tests.support.cli import galfriday, write_config

pytestmark = pytest.mark.nats

BATCH = """\
batch_id: {batch_id}
strategy: SEQUENTIAL
orders:
  - {{pair: BTC/USD, side: buy, order_type: limit, volume: "0.01", price: "99000.0"}}
"""


def _batch_file(directory: Path, batch_id: str, text: str = BATCH) -> Path:
    path = directory / f"{batch_id}.yaml"
    path.write_text(text.format(batch_id=batch_id))
    return path


async def _stream_count(config: GalFridayConfig) -> int:
    subjects = Subjects(config.nats.subject_root)
    client = await nats.connect(config.nats.url)
    try:
        js = client.jetstream()
        await ensure_topology(js, subjects)
        info = await js.stream_info(subjects.stream_name("orders"))
        return int(info.state.messages)
    finally:
        await client.close()


# -- strict batch files (issue 13 point 4) ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (
            BATCH.replace('price: "99000.0"', 'price: "99000.0", post_onyl: true'),
            "orders[0].post_onyl",
        ),
        (BATCH + "dealine_ns: 5\n", "`dealine_ns`"),
        ("batch_id: {batch_id}\nstrategy: SEQUENTIAL\norders: []\n", "batch_empty"),
    ],
    ids=["misspelt_order_key", "misspelt_batch_key", "empty_batch"],
)
def test_a_bad_batch_file_exits_2_with_one_reason_and_sends_nothing(
    tmp_path: Path,
    bus_config: GalFridayConfig,
    capsys: pytest.CaptureFixture[str],
    text: str,
    named: str,
) -> None:
    config = write_config(tmp_path, bus_config)
    before = asyncio.run(_stream_count(bus_config))

    code = galfriday("submit", _batch_file(tmp_path, "strict-1", text), "--config", config)

    err = capsys.readouterr().err
    assert code == 2, err
    assert named in err
    assert len(err.strip().splitlines()) == 1
    assert asyncio.run(_stream_count(bus_config)) == before


def test_a_batch_over_max_batch_size_exits_2_naming_the_limit(
    tmp_path: Path, bus_config: GalFridayConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, bus_config, execution={"max_batch_size": 1})
    order = '  - {{pair: BTC/USD, side: buy, order_type: market, volume: "0.01"}}\n'
    text = "batch_id: {batch_id}\nstrategy: PARALLEL\norders:\n" + order * 2

    code = galfriday("submit", _batch_file(tmp_path, "too-big", text), "--config", config)

    err = capsys.readouterr().err
    assert code == 2, err
    assert "batch_too_large" in err
    assert "max_batch_size is 1" in err


# -- submit --wait says what happened (issue 13 point 3) ----------------------------------------


def test_a_wait_that_times_out_says_timed_out_not_cannot_reach_nats(
    tmp_path: Path, bus_config: GalFridayConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, bus_config)
    batch = _batch_file(tmp_path, "nobody-routes")

    code = galfriday("submit", batch, "--wait", "--timeout", "0.5", "--config", config)

    err = capsys.readouterr().err
    assert code == 1
    assert "timed out after 0.5 s" in err
    assert "cannot reach NATS" not in err


def test_a_duplicate_batch_id_is_answered_at_once(
    tmp_path: Path, bus_config: GalFridayConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, bus_config)
    batch = _batch_file(tmp_path, "twice")
    assert galfriday("submit", batch, "--config", config) == 0
    capsys.readouterr()

    # A generous timeout: a duplicate must not wait for it to pass.
    code = galfriday("submit", batch, "--wait", "--timeout", "30", "--config", config)

    err = capsys.readouterr().err
    assert code == 1
    assert "already submitted (duplicate batch id)" in err
    assert "no stored outcome yet" in err
    assert "timed out" not in err


async def _store_completed(config: GalFridayConfig, batch_id: str) -> None:
    subjects = Subjects(config.nats.subject_root)
    now = time.time_ns()
    completed = BatchCompleted(
        ts_event=now,
        ts_init=now,
        batch_id=batch_id,
        strategy=BatchStrategy.SEQUENTIAL,
        results=(
            OrderResult(
                index=0,
                pair="BTC/USD",
                cl_ord_id="c1",
                outcome=OrderOutcome.PLACED,
                txid="OTXID1-AAAAA-BBBBBB",
            ),
        ),
        total=1,
        placed=1,
        rejected=0,
        failed=0,
        success_rate=1.0,
        duration_ns=12_000_000,
        retries=0,
        api_calls=1,
        exposure_used=Decimal("990"),
    )
    client = await nats.connect(config.nats.url)
    try:
        js = client.jetstream()
        await ensure_topology(js, subjects)
        await js.publish(
            subjects.batch_completed(), encode(completed), headers={MSG_ID_HEADER: f"c-{batch_id}"}
        )
    finally:
        await client.close()


def test_a_duplicate_shows_the_stored_outcome(
    tmp_path: Path, bus_config: GalFridayConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, bus_config)
    batch = _batch_file(tmp_path, "done-before")
    assert galfriday("submit", batch, "--config", config) == 0
    asyncio.run(_store_completed(bus_config, "done-before"))
    capsys.readouterr()

    code = galfriday("submit", batch, "--wait", "--timeout", "30", "--config", config)

    out, err = capsys.readouterr()
    assert code == 1
    assert "duplicate" in err
    assert "OTXID1-AAAAA-BBBBBB" in out
    assert "placed" in out


async def _open_breaker(config: GalFridayConfig, retry_at_ns: int) -> None:
    subjects = Subjects(config.nats.subject_root)
    now = time.time_ns()
    event = CircuitBreakerStateChanged(
        ts_event=now,
        ts_init=now,
        scope="kraken.trading",
        state=BreakerState.OPEN,
        previous=BreakerState.CLOSED,
        reason="failure_rate",
        since_ns=now,
        retry_at_ns=retry_at_ns,
        open_count=1,
    )
    client = await nats.connect(config.nats.url)
    try:
        js = client.jetstream()
        await ensure_topology(js, subjects)
        kv = await js.key_value(subjects.bucket_name(BREAKERS_BUCKET))
        await kv.put("kraken.trading", encode(event))
    finally:
        await client.close()


def test_a_batch_held_by_an_open_breaker_names_it_and_its_retry_time(
    tmp_path: Path, bus_config: GalFridayConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, bus_config)
    retry_at_ns = 1_900_000_000 * 10**9  # 2030-03-17T17:46:40Z
    asyncio.run(_open_breaker(bus_config, retry_at_ns))

    code = galfriday(
        "submit", _batch_file(tmp_path, "held"), "--wait", "--timeout", "0.5", "--config", config
    )

    err = capsys.readouterr().err
    assert code == 1
    assert "waiting on breaker kraken.trading (open: failure_rate)" in err
    assert "until 2030-03-17T17:46:40+00:00" in err
    assert "timed out after 0.5 s" in err
