"""A router taking over an API key paces its REST calls from where its predecessor left Kraken's
REST call counter and signs above its last nonce, and a graceful stop hands the key over at once.

The REST call counter (look-ups, ``GetWebSocketsToken``, the dead man's switch's
``CancelAllOrdersAfter``) belongs to the key, like the trading counters: a successor whose
model starts empty while Kraken's counter is full is refused ``EAPI:Rate limit exceeded``
("restricted for a few seconds, or longer if calls continue"). Here the predecessor's dead man's
switch, refreshed five times a second, keeps a Starter key's counter at its cap of 15 (paced by
the client); the successor refreshes just as often from its first second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import pytest_asyncio
from nats.aio.client import Client
from nats.aio.msg import Msg

from actors.batch_router.shell import BatchRouterActor
from bus import ActorRunner, Subjects
from bus.codec import EVENTS
from kraken.nonce import NonceSource
from kraken.sim import DEFAULT_BALANCES, RunningSim, SimOptions, running_sim
from schemas import GalFridayConfig
from schemas.events import KrakenCallFailed
from tests.integration.test_batch_router_actor import router_config, sim_credentials

pytestmark = [pytest.mark.nats, pytest.mark.sim]

LEASE_S = 30.0
"""``batch_ack_wait_s``, the API-key lease: a successor waiting it out would not start within
the test's ``START_WITHIN_S``."""
START_WITHIN_S = 10.0
REFRESH_S = 0.2
"""The dead man's switch refresh: one ``CancelAllOrdersAfter`` (1 on the REST counter) each."""
FILL_S = 5.0
"""Long enough to fill the counter: +5/s against a decay of 0.33/s, cap 15."""
RUN_S = 3.0
RATE_LIMITED = "EAPI:Rate limit exceeded"
INVALID_NONCE = "EAPI:Invalid nonce"
CLOCK_BEHIND_NS = 5_000_000_000


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    options = SimOptions(
        auto_tick=False,
        seed=31,
        tier="starter",
        balances={**DEFAULT_BALANCES, "ZUSD": Decimal(10**9)},
    )
    async with running_sim(options) as running:
        yield running


async def test_a_successor_paces_rest_calls_from_its_predecessors_counter(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client
) -> None:
    refused: list[KrakenCallFailed] = []

    async def on_failed(msg: Msg) -> None:
        event = EVENTS.decode(msg.data)
        if isinstance(event, KrakenCallFailed) and RATE_LIMITED in event.errors:
            refused.append(event)

    await client.subscribe(
        Subjects(bus_config.nats.subject_root).kraken_call("failed"), cb=on_failed
    )
    config = router_config(
        bus_config, sim, batch_ack_wait_s=LEASE_S, dead_mans_switch=True,
        dead_mans_switch_refresh_s=REFRESH_S,
    )  # fmt: skip

    async with ActorRunner(BatchRouterActor(config=config, credentials=sim_credentials()), config):
        await asyncio.sleep(FILL_S)
    assert sim.exchange.accounts[sim.api_key].rest_limiter.level() > 13  # Kraken's is full
    assert refused == []  # paced by its own model

    successor = ActorRunner(BatchRouterActor(config=config, credentials=sim_credentials()), config)
    await asyncio.wait_for(successor.start(), START_WITHIN_S)  # handed over, not waited out
    try:
        await asyncio.sleep(RUN_S)
    finally:
        await successor.stop()
    await client.flush()
    await asyncio.sleep(0.2)
    assert [event.endpoint for event in refused] == []


async def test_a_successor_whose_clock_is_behind_signs_above_its_predecessors_nonces(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client
) -> None:
    """The key handed to a router on a host whose clock runs 5 s behind (each process has its
    own nonces, as separate processes do): Kraken refuses every nonce not above the last one it
    saw, ``EAPI:Invalid nonce``, until that clock catches up — unless the successor signs
    above the nonce its predecessor left in the lease record."""
    invalid: list[KrakenCallFailed] = []

    async def on_failed(msg: Msg) -> None:
        event = EVENTS.decode(msg.data)
        if isinstance(event, KrakenCallFailed) and INVALID_NONCE in event.errors:
            invalid.append(event)

    subjects = Subjects(bus_config.nats.subject_root)
    await client.subscribe(subjects.kraken_call("failed"), cb=on_failed)
    config = router_config(
        bus_config, sim, batch_ack_wait_s=LEASE_S, dead_mans_switch=True,
        dead_mans_switch_refresh_s=1.0,
    )  # fmt: skip

    def predecessor() -> BatchRouterActor:
        return BatchRouterActor(config=config, credentials=sim_credentials(), nonces=NonceSource())

    async with ActorRunner(predecessor(), config):
        await asyncio.sleep(1.0)
    assert invalid == []

    def behind() -> int:
        return time.time_ns() - CLOCK_BEHIND_NS

    successor = ActorRunner(predecessor(), config, clock=behind)
    await asyncio.wait_for(successor.start(), START_WITHIN_S)
    try:
        await asyncio.sleep(2.0)
    finally:
        await successor.stop()
    await client.flush()
    await asyncio.sleep(0.2)
    assert [event.endpoint for event in invalid] == []
