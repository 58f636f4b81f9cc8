"""``galfriday tail`` in a pipe: lines arrive as they happen, ``| head`` ends it quietly, and a
server gone for good ends it with 1."""

from __future__ import annotations

import asyncio
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import nats
import pytest

from bus import Subjects, encode
from schemas import GalFridayConfig, NatsConfig, TradingResumed
from tests.support.cli import write_config
from tests.support.nats_server import running_nats_server

pytestmark = pytest.mark.nats

REPO_ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 30.0


def _tail(config_path: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "actors.cli.main", "tail", "--config", str(config_path), *extra],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.fixture
def stop_after() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


async def _publish(config: GalFridayConfig, count: int = 1) -> None:
    client = await nats.connect(config.nats.url)
    subject = Subjects(config.nats.subject_root).kill_switch()
    for _ in range(count):
        event = TradingResumed(ts_event=time.time_ns(), ts_init=time.time_ns(), reason="tail")
        await client.publish(subject, encode(event))
    await client.flush()
    await client.close()


def _first_line(process: subprocess.Popen[bytes], config: GalFridayConfig) -> bytes:
    """Publish until the tail prints a line (it subscribes a moment after starting)."""
    assert process.stdout is not None
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        asyncio.run(_publish(config))
        ready, _, _ = select.select([process.stdout], [], [], 0.3)
        if ready:
            return process.stdout.readline()
    raise AssertionError("tail printed nothing while its stdout is a pipe (block-buffered?)")


def test_lines_reach_a_pipe_at_once_and_a_closed_pipe_ends_it_quietly(
    tmp_path: Path, bus_config: GalFridayConfig, stop_after: list[subprocess.Popen[bytes]]
) -> None:
    process = _tail(write_config(tmp_path, bus_config))
    stop_after.append(process)

    first = _first_line(process, bus_config)
    event = msgspec.json.decode(first)
    assert event["event"]["type"] == "control.trading.resumed"

    assert process.stdout is not None
    process.stdout.close()  # `| head -1` has what it wanted
    deadline = time.monotonic() + DEADLINE_S
    while process.poll() is None and time.monotonic() < deadline:
        asyncio.run(_publish(bus_config, count=5))
        time.sleep(0.2)
    assert process.poll() == 0
    assert process.stderr is not None
    assert process.stderr.read() == b""


def test_a_server_gone_for_good_ends_the_tail_with_1(
    tmp_path: Path, subject_root: str, stop_after: list[subprocess.Popen[bytes]]
) -> None:
    with running_nats_server() as server:
        config = GalFridayConfig(nats=NatsConfig(url=server.url, subject_root=subject_root))
        process = _tail(write_config(tmp_path, config), "--reconnect-for", "1")
        stop_after.append(process)
        _first_line(process, config)
    try:
        code = process.wait(DEADLINE_S)
    except subprocess.TimeoutExpired:
        code = None
    assert code == 1
    assert process.stderr is not None
    assert b"lost the connection to NATS" in process.stderr.read()
