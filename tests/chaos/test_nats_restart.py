"""Chaos: nats-server itself is killed with SIGKILL in the middle of the run, again and again,
and started again on the same port with its JetStream store (streams, consumers, KV). The
router loses its bus mid-batch each time: it must stop placing while it cannot prove it owns a
batch, reconnect, and finish every batch with every market order placed exactly once.

``GF_CHAOS_BATCHES`` / ``GF_CHAOS_ORDERS`` / ``GF_CHAOS_NATS_KILLS`` size it.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client

from bus import Subjects
from kraken.sim import LatencyFault, RunningSim
from tests.chaos.harness import (
    BATCHES,
    ORDERS,
    batch,
    chaos_sim,
    judge,
    spawn_router,
    stop,
    stored_events,
    submit,
    wait_for_terminal,
    wait_until_serving,
    write_router_config,
)
from tests.support.nats_server import RestartableNatsServer
from tests.support.waiting import eventually

pytestmark = [pytest.mark.nats, pytest.mark.sim, pytest.mark.timeout(1800)]

KILLS = int(os.environ.get("GF_CHAOS_NATS_KILLS", "1"))
DOWN_S = 1.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RestartableNatsServer]:
    running = RestartableNatsServer(tmp_path / "nats")
    running.workdir.mkdir()
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest_asyncio.fixture
async def own_client(server: RestartableNatsServer) -> AsyncIterator[Client]:
    connection = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    yield connection
    await connection.close()


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with chaos_sim(seed=51) as running:
        running.exchange.faults.add(LatencyFault(endpoints=("AddOrder",), ms=40))
        yield running


async def test_nats_server_killed_and_restarted_mid_run_places_every_order_once(
    server: RestartableNatsServer,
    own_client: Client,
    sim: RunningSim,
    subject_root: str,
    tmp_path: Path,
) -> None:
    subjects = Subjects(subject_root)
    config = write_router_config(
        tmp_path / "router.yaml", nats_url=server.url, root=subjects.root, sim=sim
    )
    batch_ids = [f"restart-{n}" for n in range(BATCHES)]
    total = BATCHES * ORDERS
    rng = random.Random(17)
    router = spawn_router(config, tmp_path / "router.log")
    try:
        await wait_until_serving(own_client, subjects)
        for batch_id in batch_ids:
            await submit(own_client, subjects, batch(batch_id, ORDERS))
        for kill in range(KILLS):
            target = (kill + 1) * total // (KILLS + 1)
            await eventually(lambda t=target: len(sim.exchange.ledger()) >= t, timeout=600)
            await asyncio.sleep(rng.uniform(0, 0.2))
            server.kill()
            await asyncio.sleep(DOWN_S)
            server.start()
        # Each restart makes the router look up the orders of its in-flight batches (up to 4),
        # one rate-limited REST look-up per order (~2 s each on a pro key): allow for that.
        resume_s = KILLS * 4 * ORDERS * 3
        await wait_for_terminal(
            own_client, subjects, batch_ids, timeout=120 + 10 * BATCHES + resume_s
        )
        assert router.poll() is None  # it rode out the restarts
    finally:
        stop(router)
    events = await stored_events(own_client, subjects)
    calls = await stored_events(own_client, subjects, "kraken")
    verdict = judge(
        f"nats-server kill -9 x{KILLS}", sim, events, dict.fromkeys(batch_ids, ORDERS), calls
    )
    verdict.assert_exactly_once(batch_ids)
