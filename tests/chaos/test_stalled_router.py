"""Chaos: one router's NATS link stalls (TCP up, nothing flowing: a frozen proxy) while it waits
on an AddOrder in the middle of its batches; a second router takes the batches over after
``batch_ack_wait_s``; then the link thaws and the first router's held traffic flows again.

Fencing must make the first router stop before its next placement (it cannot renew its batch
lease), the second must wait out the first's in-flight orders before looking them up, and the
audit trail must match the ledger: the stored ``OrderPlaced`` events' msg ids would hide a second
placement of an index, so the ledger, not the stream, is the judge of duplicates.

Setup (one process per API key): the two routers use two API keys of ONE Kraken account
(``AccountSetup(account_of=...)``), as a desk runs several routers. With two separate accounts
the second router could not see the first's orders at all, and a duplicate on another account
would not be the same order placed twice.

``GF_CHAOS_BATCHES`` / ``GF_CHAOS_ORDERS`` size it.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import pytest_asyncio
from nats.aio.client import Client

from bus import Subjects
from kraken.sim import LatencyFault, RunningSim
from schemas import GalFridayConfig
from schemas.events import OrderPlaced
from tests.chaos.harness import (
    BATCHES,
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
from tests.integration.test_batch_router_actor import Observer
from tests.support.tcp_proxy import freezing_proxy
from tests.support.waiting import eventually

pytestmark = [pytest.mark.nats, pytest.mark.sim, pytest.mark.timeout(1800)]

ACK_WAIT_S = 2.0
HELD_MS = 800.0


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with chaos_sim(second_key_on_the_same_account(), seed=61) as running:
        yield running


def _in_flight(sim: RunningSim) -> bool:
    """An AddOrder has reached the sim (counted on arrival) and not yet been placed."""
    return sim.exchange.placement_requests() > len(sim.exchange.ledger())


async def test_stalled_router_and_takeover_place_every_order_exactly_once(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, tmp_path: Path
) -> None:
    subjects = Subjects(bus_config.nats.subject_root)
    observer = Observer()  # core NATS: sees every OrderPlaced published, stored or not
    await client.subscribe(subjects.order_events_all(), cb=observer.on_message)
    settings = {"batch_ack_wait_s": ACK_WAIT_S, "placement_deadline_s": 2.0}
    server = urlparse(bus_config.nats.url)
    batch_ids = [f"stall-{n}" for n in range(BATCHES)]
    total = BATCHES * ORDERS
    async with freezing_proxy(server.hostname or "127.0.0.1", server.port or 4222) as proxy:
        first_config = write_router_config(
            tmp_path / "first.yaml", nats_url=proxy.url, root=subjects.root, sim=sim, **settings
        )
        second_config = write_router_config(
            tmp_path / "second.yaml",
            nats_url=bus_config.nats.url,
            root=subjects.root,
            sim=sim,
            **settings,
        )
        first = spawn_router(first_config, tmp_path / "first.log")
        second = None
        try:
            await wait_until_serving(client, subjects)
            for batch_id in batch_ids:
                await submit(client, subjects, batch(batch_id, ORDERS))
            await eventually(lambda: len(sim.exchange.ledger()) >= total // 3, timeout=120)
            # Slow placements (under the 2 s deadline): the first router is waiting on an
            # AddOrder when its link stalls, and would still be placing while the second one
            # resumes, were it not fenced.
            held = sim.exchange.faults.add(LatencyFault(endpoints=("AddOrder",), ms=HELD_MS))
            await eventually(lambda: _in_flight(sim), timeout=30)
            proxy.freeze()
            placed_at_freeze = len(sim.exchange.ledger())
            second = spawn_second_router(second_config, tmp_path / "second.log")
            await wait_for_terminal(client, subjects, batch_ids[:1], timeout=120)
            sim.exchange.faults.remove(held)  # the overlap is over: full speed (large runs)
            await wait_for_terminal(client, subjects, batch_ids, timeout=120 + 5 * BATCHES)
            assert placed_at_freeze < total  # the batches really were taken over mid-way
            proxy.thaw()
            await asyncio.sleep(ACK_WAIT_S)  # the first router's held traffic flows
            assert first.poll() is None  # it lost its batches, not its life
        finally:
            proxy.thaw()
            if second is not None:
                stop(second)
            stop(first, grace_s=3.0)
    events = await stored_events(client, subjects)
    calls = await stored_events(client, subjects, "kraken")
    verdict = judge(
        "stalled router + takeover", sim, events, dict.fromkeys(batch_ids, ORDERS), calls
    )
    # A resumed order is reported again (same msg id, same txid): harmless. Two txids for one
    # order would be a second placement that the stream's msg-id dedup hid from the audit trail.
    txids = defaultdict(set)
    for placed in observer.of_type(OrderPlaced):
        txids[(placed.batch_id, placed.index)].add(placed.txid)
    hidden = {order: ids for order, ids in txids.items() if len(ids) > 1}
    print(f"  orders published placed with two txids: {len(hidden)}")
    assert hidden == {}
    verdict.assert_exactly_once(batch_ids)
