"""Hostile payloads against the running stack (issue 9): the three actors as processes, a real
nats-server, the simulator. Seeded and reproducible: ``GF_FUZZ_SEED`` picks the messages,
``GF_FUZZ_COUNT`` how many (CI runs a small count; ``make fuzz`` a large one).

Asserted: no actor process exits; no hostile order reaches the simulator's ledger while every
legitimate order fills exactly once; a legitimate batch sent in the middle of the flood still
completes within its deadline; every hostile message is dead-lettered, with a reason, by every
actor that consumes its subject; RSS grows by less than 10 %; health answers throughout.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from nats.aio.client import Client

from bus import Subjects, encode
from bus.codec import EVENTS
from bus.jetstream import MSG_ID_HEADER
from kraken.sim import RunningSim, SimOptions, running_sim
from schemas import GalFridayConfig
from schemas.events import BatchCompleted, BatchRejected, EventDeadLettered, OrderBatchRequested
from tests.fuzz.payloads import HOSTILE_CL_ORD_PREFIX, Hostile, dlq_key, hostile_messages
from tests.support.market_orders import market_batch
from tests.support.process_stack import ACTOR_NAMES, ProcessStack
from tests.support.waiting import eventually

pytestmark = [pytest.mark.nats, pytest.mark.sim, pytest.mark.timeout(600)]

COUNT = int(os.environ.get("GF_FUZZ_COUNT", "240"))
SEED = int(os.environ.get("GF_FUZZ_SEED", "20261128"))
BATCH_TIMEOUT_S = 30.0
RSS_GROWTH_LIMIT = 0.10
HEALTH_EVERY_S = 0.5
HEALTH_TIMEOUT_S = 5.0


class Watch:
    """Dead letters by (actor, message key) and batch outcomes, as they arrive."""

    def __init__(self) -> None:
        self.dead: dict[str, dict[str, str]] = defaultdict(dict)
        self.completed: dict[str, BatchCompleted] = {}
        self.rejected: dict[str, BatchRejected] = {}

    async def on_message(self, msg: object) -> None:
        event = EVENTS.decode(msg.data)  # type: ignore[attr-defined]
        if isinstance(event, EventDeadLettered):
            self.dead[event.actor][dlq_key(event.subject, event.payload)] = event.reason
        elif isinstance(event, BatchCompleted):
            self.completed[event.batch_id] = event
        elif isinstance(event, BatchRejected):
            self.rejected[event.batch_id] = event

    def missing(self, sent: list[Hostile]) -> list[tuple[str, Hostile]]:
        return [
            (actor, hostile)
            for hostile in sent
            for actor in hostile.consumers
            if hostile.key not in self.dead[actor]
        ]


def legit_batch(batch_id: str) -> OrderBatchRequested:
    return market_batch(batch_id, cl_ord_id=batch_id)


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with running_sim(SimOptions(seed=SEED % 1000)) as running:
        yield running


@pytest_asyncio.fixture
async def stack(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, tmp_path: Path
) -> AsyncIterator[ProcessStack]:
    running = ProcessStack(
        bus_config.nats.url,
        bus_config.nats.subject_root,
        sim,
        tmp_path,
        settings={"execution": {"batch_timeout": BATCH_TIMEOUT_S}},
    )
    running.start()
    try:
        await running.wait_healthy(client)
        yield running
    finally:
        running.stop()


async def _submit(client: Client, subjects: Subjects, batch: OrderBatchRequested) -> None:
    await client.jetstream().publish(
        subjects.batch_requested(), encode(batch), headers={MSG_ID_HEADER: batch.batch_id}
    )


async def _publish(client: Client, hostile: Hostile, index: int) -> None:
    if hostile.stored:
        await client.jetstream().publish(
            hostile.subject, hostile.payload, headers={MSG_ID_HEADER: f"fz-{SEED}-{index}"}
        )
    else:
        await client.publish(hostile.subject, hostile.payload)


async def _poll_health(
    stack: ProcessStack, client: Client, stop: asyncio.Event, silent: list[str]
) -> None:
    while not stop.is_set():
        for name in ACTOR_NAMES:
            if await stack.health(client, name, timeout=HEALTH_TIMEOUT_S) is None:
                silent.append(name)
        await asyncio.sleep(HEALTH_EVERY_S)


async def test_hostile_flood_loses_nothing_places_nothing_and_keeps_every_actor_answering(
    stack: ProcessStack, sim: RunningSim, client: Client
) -> None:
    subjects = stack.subjects
    watch = Watch()
    for subject in (subjects.dlq_all(), subjects.batch_completed(), subjects.batch_rejected()):
        await client.subscribe(subject, cb=watch.on_message)
    # Warm-up: prices reach the router, and a first batch fills.
    await stack.wait_until_priced(client)
    await _submit(client, subjects, legit_batch("warm-up"))
    await eventually(lambda: "warm-up" in watch.completed, timeout=BATCH_TIMEOUT_S + 10)
    assert watch.completed["warm-up"].placed == 1, watch.completed["warm-up"]
    rss_before = {name: stack.rss_bytes(name) for name in ACTOR_NAMES}

    stop = asyncio.Event()
    silent: list[str] = []
    poller = asyncio.create_task(_poll_health(stack, client, stop, silent))
    sent: list[Hostile] = []
    try:
        for index, hostile in enumerate(hostile_messages(subjects, COUNT, SEED, time.time_ns())):
            await _publish(client, hostile, index)
            sent.append(hostile)
            if index == COUNT // 2:
                await _submit(client, subjects, legit_batch("mid-flood"))
            if index % 50 == 0:
                await asyncio.sleep(0)  # let the in-process simulator answer
        await client.flush()
        await eventually(lambda: "mid-flood" in watch.completed, timeout=BATCH_TIMEOUT_S + 10)
        await eventually(lambda: not watch.missing(sent), timeout=60 + COUNT / 50)
        await _submit(client, subjects, legit_batch("after-flood"))
        await eventually(lambda: "after-flood" in watch.completed, timeout=BATCH_TIMEOUT_S + 10)
    finally:
        stop.set()
        await poller
    rss_after = {name: stack.rss_bytes(name) for name in ACTOR_NAMES}

    stack.raise_if_exited()
    assert silent == [], f"health went unanswered: {silent}"
    ledger = [entry.cl_ord_id or "" for entry in sim.exchange.ledger()]
    assert sorted(ledger) == ["after-flood", "mid-flood", "warm-up"], ledger
    assert not [i for i in ledger if i and i.startswith(HOSTILE_CL_ORD_PREFIX)]
    for batch_id in ("mid-flood", "after-flood"):
        completed = watch.completed[batch_id]
        assert completed.placed == 1, completed
        assert completed.duration_ns < BATCH_TIMEOUT_S * 1e9
    assert all(outcome.placed == 0 for i, outcome in watch.completed.items() if i.startswith("fz"))
    reasons = [reason for by_key in watch.dead.values() for reason in by_key.values()]
    assert all(reasons), "a dead letter without a reason"
    growth = {name: rss_after[name] / rss_before[name] - 1 for name in ACTOR_NAMES}
    assert all(g < RSS_GROWTH_LIMIT for g in growth.values()), growth
