"""Chaos: 10 % of the placements are accepted by the exchange and their answer is lost (the
connection dropped, a gateway error page, or no answer before the client's timeout), over several
batches of market orders. The router must find each such order (reconciliation tied to the
request), never place it twice, and report every order it placed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from nats.aio.client import Client

from bus import Subjects
from kraken.sim import LoseResponseFault, RunningSim, Scenario
from schemas import GalFridayConfig
from schemas.events import KrakenCallFailed
from tests.chaos.harness import (
    BATCHES,
    DEADLINE_ELAPSED,
    ORDERS,
    batch,
    chaos_sim,
    classifier_and_router,
    judge,
    spawn_classifier,
    spawn_router,
    stop,
    stored_events,
    submit,
    wait_for_terminal,
    wait_until_serving,
    write_router_config,
)

pytestmark = [pytest.mark.nats, pytest.mark.sim, pytest.mark.timeout(1800)]

# Three ways of losing the answer to an accepted order, 10 % of AddOrder calls in all.
LOSSES = Scenario(
    faults=(
        LoseResponseFault(endpoints=("AddOrder",), mode="drop", probability=0.04),
        LoseResponseFault(endpoints=("AddOrder",), mode="http_502", probability=0.03),
        LoseResponseFault(endpoints=("AddOrder",), mode="timeout", hold_s=5.0, probability=0.03),
    )
)


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with chaos_sim(LOSSES, seed=21) as running:
        yield running


@pytest.mark.parametrize("order_entry", ["rest", "ws"])
async def test_lost_responses_place_every_order_exactly_once(
    order_entry: str, bus_config: GalFridayConfig, sim: RunningSim, client: Client, tmp_path: Path
) -> None:
    subjects = Subjects(bus_config.nats.subject_root)
    config = write_router_config(
        tmp_path / "router.yaml",
        nats_url=bus_config.nats.url,
        root=subjects.root,
        sim=sim,
        order_entry=order_entry,
        batch_ack_wait_s=10.0,
    )
    classifier = spawn_classifier(config, tmp_path / "classifier.log")
    router = spawn_router(config, tmp_path / "router.log")
    batch_ids = [f"lost-{n}" for n in range(BATCHES)]
    try:
        await wait_until_serving(client, subjects, "error-classifier")
        await wait_until_serving(client, subjects)
        for batch_id in batch_ids:
            await submit(client, subjects, batch(batch_id, ORDERS))
        await wait_for_terminal(client, subjects, batch_ids, timeout=60 + 15 * BATCHES)
    finally:
        stop(router)
        stop(classifier)
    events = await stored_events(client, subjects)
    calls = await stored_events(client, subjects, "kraken")
    intended = dict.fromkeys(batch_ids, ORDERS)
    verdict = judge(f"lost-responses over {order_entry}", sim, events, intended, calls)
    described = sim.exchange.faults.describe()
    losses = sum(f["fired"] for f in described if f.get("kind") == "lose_response")
    print(f"  answers lost: {losses} of {sim.exchange.placement_requests()} placements")
    assert losses >= 1  # the fault really fired
    verdict.assert_exactly_once(batch_ids)


async def test_a_held_answer_does_not_spend_the_deadline_of_orders_queued_behind_it(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, tmp_path: Path
) -> None:
    """One AddOrder's answer is held past the client's timeout (3 s) while other batches'
    orders wait for the key's send lock: their 2 s deadlines must count from when they are
    sent, so that the engine (which sees them at once) never refuses them as elapsed. (REST:
    the send lock is REST's, for its nonces; WS order entry has none.)"""
    subjects = Subjects(bus_config.nats.subject_root)
    config = write_router_config(
        tmp_path / "router.yaml",
        nats_url=bus_config.nats.url,
        root=subjects.root,
        sim=sim,
        order_entry="rest",
        batch_ack_wait_s=10.0,
    )
    sim.exchange.faults.clear()
    batch_ids = [f"queued-{n}" for n in range(3)]
    async with classifier_and_router(config, tmp_path, client, subjects):
        held = LoseResponseFault(endpoints=("AddOrder",), mode="timeout", hold_s=5.0, calls=1)
        sim.exchange.faults.add(held)
        for batch_id in batch_ids:
            await submit(client, subjects, batch(batch_id, 3))
        await wait_for_terminal(client, subjects, batch_ids, timeout=60)
    calls = await stored_events(client, subjects, "kraken")
    events = await stored_events(client, subjects)
    judge("held answer, queued orders", sim, events, dict.fromkeys(batch_ids, 3), calls)
    elapsed = [e for e in calls if isinstance(e, KrakenCallFailed) and DEADLINE_ELAPSED in e.errors]
    assert elapsed == []
