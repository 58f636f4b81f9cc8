"""A router whose clock runs ahead of the venue's (NTP trouble, a VM resumed) must not call a
late order absent before the venue could still take it.

Kraken checks a placement's ``deadline`` on ITS clock. A router 3 s ahead stamps deadlines 3 s
later than it believes, and "deadline + absent_margin_s has passed" on its own clock comes 3 s
too early: a not-found look-up then is no proof, and placing the order again would fill twice.
The router bounds how far ahead of the venue its clock may be from the venue's HTTP ``Date``
headers and waits that much longer before calling an order absent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import msgspec
import pytest
import pytest_asyncio
from nats.aio.client import Client

from actors.batch_router.shell import BatchRouterActor
from bus import ActorRunner, Subjects
from kraken.sim import LateLandingFault, RunningSim
from schemas import GalFridayConfig
from schemas.config import OrderEntry
from schemas.events import OrderFailed, OrderPlaced
from tests.chaos.harness import batch, chaos_sim
from tests.integration.test_batch_router_actor import (
    Observer,
    router_config,
    sim_credentials,
    submit,
)

pytestmark = [pytest.mark.nats, pytest.mark.sim]

SKEW_NS = 3_000_000_000
DEADLINE_S = 3.0
HOLD_S = 4.0


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with chaos_sim(seed=83) as running:
        yield running


def _clock_ahead() -> int:
    return time.time_ns() + SKEW_NS


@pytest.mark.parametrize("order_entry", [OrderEntry.REST, OrderEntry.WS])
async def test_a_router_clock_ahead_of_the_venue_waits_for_a_late_order_not_calls_it_absent(
    order_entry: OrderEntry, bus_config: GalFridayConfig, sim: RunningSim, client: Client
) -> None:
    observer = Observer()
    await client.subscribe(
        Subjects(bus_config.nats.subject_root).order_events_all(), cb=observer.on_message
    )
    await client.subscribe(
        Subjects(bus_config.nats.subject_root).batch_completed(), cb=observer.on_message
    )
    config = router_config(
        bus_config,
        sim,
        risk_check_enabled=False,
        placement_deadline_s=DEADLINE_S,
        absent_margin_s=0.5,
    )
    config = msgspec.structs.replace(
        config, kraken=msgspec.structs.replace(config.kraken, order_entry=order_entry)
    )
    # Lands 4 s after it was sent: inside its deadline on the venue's clock (sent + 3 s + 3 s
    # of skew), after "deadline + margin" on the router's (sent + 3.5 s, 0.5 s too early).
    late = LateLandingFault(endpoints=("AddOrder",), hold_s=HOLD_S, answer="drop", calls=1)
    sim.exchange.faults.add(late)
    actor = BatchRouterActor(config=config, credentials=sim_credentials())
    async with ActorRunner(actor, config, clock=_clock_ahead):
        await submit(client, Subjects(bus_config.nats.subject_root), batch("skew-0", 1))
        completed = await observer.completed("skew-0", timeout=60)
    await asyncio.sleep(HOLD_S)  # whatever the router decided, the held order is decided now
    ledger = sim.exchange.ledger()
    assert len(ledger) == 1  # the order did land, late
    failed = [e for e in observer.of_type(OrderFailed) if e.batch_id == "skew-0"]
    placed = [e for e in observer.of_type(OrderPlaced) if e.batch_id == "skew-0"]
    assert failed == [], "reported failed, yet it is on the exchange"
    assert [p.txid for p in placed] == [ledger[0].txid]
    assert completed.placed == 1
