"""Chaos: a router asked to stop (SIGTERM, as ``docker stop`` or a deploy does) while a batch
waits in the middle — some orders placed, the trading breaker open. It must exit within its stop
grace (the batch could otherwise hold it for the whole batch timeout), hand the batch back, and
another router must finish it: every order exactly once, judged on the sim's ledger with orders
that FILL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from nats.aio.client import Client

from bus import Subjects, encode, ensure_topology
from bus.jetstream import BREAKERS_BUCKET
from kraken.sim import LatencyFault, RunningSim
from schemas import GalFridayConfig
from schemas.events import BreakerState, CircuitBreakerStateChanged
from tests.chaos.harness import (
    ORDERS,
    batch,
    chaos_sim,
    judge,
    second_key_on_the_same_account,
    spawn_router,
    spawn_second_router,
    stop,
    stored_events,
    submit,
    wait_for_terminal,
    wait_until_serving,
    write_router_config,
)
from tests.support.waiting import eventually

pytestmark = [pytest.mark.nats, pytest.mark.sim, pytest.mark.timeout(300)]

TRADING = "kraken.trading"


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with chaos_sim(second_key_on_the_same_account(), seed=71) as running:
        yield running


def _breaker(state: BreakerState, previous: BreakerState) -> CircuitBreakerStateChanged:
    return CircuitBreakerStateChanged(
        ts_event=1,
        ts_init=1,
        scope=TRADING,
        state=state,
        previous=previous,
        reason="chaos: venue trouble",
        since_ns=1,
    )


async def test_a_router_stopped_mid_batch_exits_promptly_and_another_finishes_exactly_once(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, tmp_path: Path
) -> None:
    subjects = Subjects(bus_config.nats.subject_root)
    await ensure_topology(client.jetstream(), subjects)
    breakers = await client.jetstream().key_value(subjects.bucket_name(BREAKERS_BUCKET))
    config = write_router_config(
        tmp_path / "router.yaml",
        nats_url=bus_config.nats.url,
        root=subjects.root,
        sim=sim,
        batch_ack_wait_s=2.0,
    )
    orders = max(ORDERS, 4)
    slow = sim.exchange.faults.add(LatencyFault(endpoints=("AddOrder",), ms=300.0))
    first = spawn_router(config, tmp_path / "first.log")
    second = None
    try:
        await wait_until_serving(client, subjects)
        await submit(client, subjects, batch("deploy-0", orders))
        await eventually(lambda: len(sim.exchange.ledger()) >= 1, timeout=60)
        opened = _breaker(BreakerState.OPEN, BreakerState.CLOSED)
        await breakers.put(TRADING, encode(opened))
        await client.publish(subjects.breaker(TRADING), encode(opened))
        sim.exchange.faults.remove(slow)
        await asyncio.sleep(1.0)  # the batch is parked behind the open breaker
        placed_when_stopped = len(sim.exchange.ledger())
        first.terminate()
        exit_code = await asyncio.to_thread(first.wait, 60)
        assert exit_code == 0, "SIGTERM is a normal stop"
        assert placed_when_stopped < orders  # really stopped mid-batch
        await breakers.put(TRADING, encode(_breaker(BreakerState.CLOSED, BreakerState.OPEN)))
        second = spawn_second_router(config, tmp_path / "second.log")
        await wait_for_terminal(client, subjects, ["deploy-0"], timeout=120)
    finally:
        for process in (first, second):
            if process is not None:
                stop(process)
    events = await stored_events(client, subjects)
    verdict = judge("router stopped mid-batch", sim, events, {"deploy-0": orders})
    verdict.assert_exactly_once(["deploy-0"])
