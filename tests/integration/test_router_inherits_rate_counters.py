"""A router taking over an API key paces from where its predecessor left Kraken's trading
counters, instead of learning them from ``EOrder:Rate limit exceeded`` answers.

Kraken's per-pair trading counter belongs to the key, not to the process: a router that
restarts after a burst (a crash, a deploy) finds it nearly full while its own model starts
empty. Each router writes its counters into the API-key lease record with every renewal; a
successor that takes the lease over starts from them, decayed since.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import msgspec
import pytest
import pytest_asyncio
from nats.aio.client import Client

from actors.batch_router.shell import BatchRouterActor
from bus import ActorRunner, Subjects
from kraken.sim import DEFAULT_BALANCES, RunningSim, SimOptions, running_sim
from kraken.sim.book import BookProfile
from schemas import GalFridayConfig
from schemas.orders import BatchStrategy
from tests.chaos.harness import batch
from tests.integration.test_batch_router_actor import (
    Observer,
    router_config,
    sim_credentials,
    submit,
)

pytestmark = [pytest.mark.nats, pytest.mark.sim]

LEASE_S = 3.0
"""``batch_ack_wait_s``: the API-key lease, renewed (with the counters) every third of it."""
BURST = 50
"""The predecessor's orders: 50 of the Starter cap of 60, which decays at 1 per second."""
AFTER = 25
"""The successor's orders, sent as soon as it holds the key: over the cap if sent at once."""


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    options = SimOptions(
        auto_tick=False,
        seed=29,
        balances={**DEFAULT_BALANCES, "ZUSD": Decimal(10**12)},
        tier="starter",
        book_profile=BookProfile.infinite(),
    )
    async with running_sim(options) as running:
        running.exchange.set_price("BTC/USD", Decimal(100_000))
        yield running


def _parallel(batch_id: str, count: int) -> object:
    return msgspec.structs.replace(batch(batch_id, count), strategy=BatchStrategy.PARALLEL)


async def test_a_successor_on_the_key_paces_from_its_predecessors_counters(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client
) -> None:
    subjects = Subjects(bus_config.nats.subject_root)
    observer = Observer()
    await client.subscribe(subjects.batch_completed(), cb=observer.on_message)
    config = router_config(
        bus_config, sim, risk_check_enabled=False, batch_ack_wait_s=LEASE_S, parallel_limit=10
    )

    async with ActorRunner(BatchRouterActor(config=config, credentials=sim_credentials()), config):
        await submit(client, subjects, _parallel("burst", BURST))  # type: ignore[arg-type]
        assert (await observer.completed("burst", timeout=60)).placed == BURST
        await asyncio.sleep(LEASE_S / 3 + 0.5)  # a renewal writes the counters after the burst
    sent_before, accepted_before = sim.exchange.placement_requests(), len(sim.exchange.ledger())

    async with ActorRunner(BatchRouterActor(config=config, credentials=sim_credentials()), config):
        await submit(client, subjects, _parallel("after", AFTER))  # type: ignore[arg-type]
        await observer.completed("after", timeout=90)

    sent = sim.exchange.placement_requests() - sent_before
    accepted = len(sim.exchange.ledger()) - accepted_before
    assert accepted == AFTER
    assert sent == accepted, f"{sent - accepted} placements refused (EOrder:Rate limit exceeded)"
