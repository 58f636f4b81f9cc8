"""Chaos: a router whose NATS link stalled (a frozen proxy) mid-batch, long enough to lose its
batch lease and its API-key lease renewals, then thawed. Asked to stop (SIGTERM), it must end
promptly (a graceful stop is bounded), and its log must say what happened to the key lease,
not blame another process for a key only it holds.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import pytest_asyncio
from nats.aio.client import Client

from bus import Subjects
from kraken.sim import LatencyFault, RunningSim
from schemas import GalFridayConfig
from tests.chaos.harness import (
    batch,
    chaos_sim,
    spawn_router,
    stop,
    submit,
    wait_until_serving,
    write_router_config,
)
from tests.support.tcp_proxy import freezing_proxy
from tests.support.waiting import eventually

pytestmark = [pytest.mark.nats, pytest.mark.sim, pytest.mark.timeout(300)]

ACK_WAIT_S = 2.0
FROZEN_S = 12.0
"""Longer than the key lease's renewal attempts (2 x the lease) and the batch lease."""
ORDERS = 20
"""At 800 ms an AddOrder, more work than a stop may wait for after the thaw."""
STOP_WITHIN_S = 10.0
"""A liveness bound, not a benchmark: the graceful stop is bounded well under it."""


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with chaos_sim(seed=71) as running:
        yield running


async def _exit_code_within(process: subprocess.Popen[bytes], timeout_s: float) -> int | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return process.returncode
        await asyncio.sleep(0.1)
    return None


async def test_a_thawed_router_stops_promptly_on_sigterm_and_says_what_happened(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, tmp_path: Path
) -> None:
    subjects = Subjects(bus_config.nats.subject_root)
    server = urlparse(bus_config.nats.url)
    log = tmp_path / "router.log"
    async with freezing_proxy(server.hostname or "127.0.0.1", server.port or 4222) as proxy:
        config = write_router_config(
            tmp_path / "router.yaml",
            nats_url=proxy.url,
            root=subjects.root,
            sim=sim,
            batch_ack_wait_s=ACK_WAIT_S,
            placement_deadline_s=2.0,
        )
        router = spawn_router(config, log)
        try:
            await wait_until_serving(client, subjects)
            sim.exchange.faults.add(LatencyFault(endpoints=("AddOrder",), ms=800.0))
            for n in range(2):
                await submit(client, subjects, batch(f"thaw-{n}", ORDERS))
            await eventually(lambda: len(sim.exchange.ledger()) >= 1, timeout=60)
            proxy.freeze()
            await asyncio.sleep(FROZEN_S)
            proxy.thaw()
            await asyncio.sleep(ACK_WAIT_S)  # the held traffic flows; the router carries on
            assert router.poll() is None
            router.terminate()
            asked_at = time.monotonic()
            code = await _exit_code_within(router, STOP_WITHIN_S)
            print(f"  stopped {time.monotonic() - asked_at:.1f} s after SIGTERM (code {code})")
        finally:
            proxy.thaw()
            stop(router, grace_s=5.0)
    text = log.read_text(errors="replace")
    assert code == 0, f"SIGTERM not honoured within {STOP_WITHIN_S} s; log:\n{text[-4000:]}"
    assert "in use by another process" not in text, text[-4000:]
