"""The stack on a three-node NATS cluster, streams with 3 replicas, and the orders stream's leader
killed with SIGKILL mid-run (issue 13.12). No Docker: three nats-server processes with routes.

Asserted on the simulator's ledger (market orders fill at once): every submitted batch's order
is placed exactly once — none lost, none duplicated — and every actor is still running and
answering afterwards.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client

from bus import Subjects, encode
from bus.jetstream import MSG_ID_HEADER, ensure_topology
from kraken.sim import RunningSim, SimOptions, running_sim
from tests.support.market_orders import market_batch
from tests.support.nats_cluster import NatsCluster, running_nats_cluster
from tests.support.process_stack import ACTOR_NAMES, ProcessStack
from tests.support.waiting import eventually

pytestmark = [pytest.mark.nats, pytest.mark.sim, pytest.mark.timeout(300)]

BATCHES = 12
KILL_AT = 4
ROOT = "chaos"


@pytest.fixture(scope="module")
def cluster() -> Iterator[NatsCluster]:
    with running_nats_cluster(3) as running:
        yield running


@pytest_asyncio.fixture
async def client(cluster: NatsCluster) -> AsyncIterator[Client]:
    connection = await nats.connect(
        servers=cluster.urls, max_reconnect_attempts=-1, reconnect_time_wait=0.2
    )
    js = connection.jetstream()
    async with asyncio.timeout(30):  # the JetStream meta leader is elected after start-up
        while True:
            try:
                await ensure_topology(js, Subjects(ROOT), replicas=3)
                break
            except Exception:
                await asyncio.sleep(0.5)
    yield connection
    await connection.close()


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with running_sim(SimOptions(seed=11)) as running:
        yield running


@pytest_asyncio.fixture
async def stack(
    cluster: NatsCluster, sim: RunningSim, client: Client, tmp_path: Path
) -> AsyncIterator[ProcessStack]:
    # The actors connect to the orders stream's leader: killing it also cuts their connections.
    info = await client.jetstream().stream_info(Subjects(ROOT).stream_name("orders"))
    assert info.cluster is not None
    leader = cluster.node(info.cluster.leader or "n1")
    running = ProcessStack(
        leader.url, ROOT, sim, tmp_path, settings={"nats": {"stream_replicas": 3}}
    )
    running.start()
    try:
        await running.wait_healthy(client)
        yield running
    finally:
        running.stop()


async def _submit_until_stored(client: Client, subjects: Subjects, batch_id: str) -> None:
    """Publish with the batch id as msg id until a PubAck comes back: during a leader election
    the ack may be lost, and the repeat is harmless (the stream drops duplicates)."""
    async with asyncio.timeout(30):
        while True:
            try:
                await client.jetstream().publish(
                    subjects.batch_requested(),
                    encode(market_batch(batch_id, cl_ord_id=batch_id)),
                    headers={MSG_ID_HEADER: batch_id},
                    timeout=2,
                )
                return
            except Exception:
                await asyncio.sleep(0.2)


async def test_killing_the_orders_stream_leader_loses_and_duplicates_no_order(
    stack: ProcessStack, cluster: NatsCluster, sim: RunningSim, client: Client
) -> None:
    subjects = stack.subjects
    await stack.wait_until_priced(client)
    expected = [f"cl-{i:02d}" for i in range(BATCHES)]
    killed = ""
    for index, batch_id in enumerate(expected):
        if index == KILL_AT:
            info = await client.jetstream().stream_info(subjects.stream_name("orders"))
            assert info.cluster is not None
            assert len(info.cluster.replicas or []) == 2, "the orders stream is not R3"
            killed = info.cluster.leader or ""
            cluster.node(killed).kill()
        await _submit_until_stored(client, subjects, batch_id)
        await asyncio.sleep(0.2)

    def placed() -> list[str]:
        return [entry.cl_ord_id or "" for entry in sim.exchange.ledger()]

    # A batch in flight on the killed node is resumed after ack_wait plus the settle wait
    # (lease + placement deadline + margin): generous, as the machine may be loaded.
    await eventually(lambda: set(placed()) >= set(expected), timeout=120)
    await asyncio.sleep(1.0)  # room for a duplicate to show up
    counts = Counter(placed())
    assert {i: n for i, n in counts.items() if n > 1} == {}, "duplicated orders"
    assert sorted(counts) == expected

    stack.raise_if_exited()
    for name in ACTOR_NAMES:
        assert await stack.health(client, name, timeout=5) is not None, f"{name} silent"
    assert killed
    reconnects = [(await stack.health(client, name))["bus_reconnects"] for name in ACTOR_NAMES]
    assert all(n >= 1 for n in reconnects), reconnects
