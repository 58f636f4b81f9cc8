"""Two error-classifier instances on one bus behave like one (issue 11.4): each transition is
published once, only the active instance answers verdicts, a standby that wins the lease adopts
the stored state and publishes what it knows better, and a redelivered call counts once."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest_asyncio

from actors.error_classifier.shell import ErrorClassifierActor
from bus.actor import Delivery
from bus.clock import ManualClock
from bus.jetstream import LEASES_BUCKET
from bus.testing import MemoryBus
from schemas import GalFridayConfig
from schemas.config import BreakerConfig, ErrorClassifierConfig
from schemas.events import BreakerState, CircuitBreakerStateChanged, KrakenCallFailed
from schemas.queries import VerdictRequest
from tests.unit.test_error_classifier_shell import PUBLIC, unavailable

TTL_S = 3.0
CONFIG = GalFridayConfig(
    breakers=BreakerConfig(open_base_s=2.0),
    errors=ErrorClassifierConfig(statistics_interval_s=5.0, lease_ttl_s=TTL_S),
)
TRIP = CONFIG.breakers.consecutive_failures_to_trip


class LeaseClock:
    def __init__(self) -> None:
        self.now_ns = 0

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, seconds: float) -> None:
        self.now_ns += int(seconds * 1_000_000_000)


def classifier(clock: LeaseClock) -> ErrorClassifierActor:
    return ErrorClassifierActor(
        config=CONFIG,
        rng=random.Random(3),
        tick_interval_s=0.01,
        probe_public=False,
        lease_clock=clock,
    )


def call(call_id: str) -> KrakenCallFailed:
    event = unavailable()
    return KrakenCallFailed(
        ts_event=event.ts_event,
        ts_init=event.ts_init,
        scope=event.scope,
        endpoint=event.endpoint,
        operation=event.operation,
        latency_ns=event.latency_ns,
        errors=event.errors,
        call_id=call_id,
    )


def opened(bus: MemoryBus) -> list[CircuitBreakerStateChanged]:
    return [
        c
        for c in bus.of_type(CircuitBreakerStateChanged)
        if c.scope == PUBLIC and c.state is BreakerState.OPEN
    ]


@pytest_asyncio.fixture
async def bus() -> MemoryBus:
    return MemoryBus(config=CONFIG, clock=ManualClock())


@pytest_asyncio.fixture
async def pair(bus: MemoryBus) -> AsyncIterator[tuple[ErrorClassifierActor, ErrorClassifierActor]]:
    first, second = classifier(LeaseClock()), classifier(LeaseClock())
    await bus.attach(first)
    await bus.attach(second)
    yield first, second
    await second.stop()
    await first.stop()


async def test_a_redelivered_call_report_is_counted_once(bus: MemoryBus) -> None:
    actor = classifier(LeaseClock())
    await bus.attach(actor)
    try:
        redelivery = Delivery(bus.subjects.kraken_call("failed"), {}, 0, num_delivered=2)
        for index in range(TRIP - 2):
            await actor.on_kraken_call_failed(call(f"router:1:{index}"), redelivery)
            await actor.on_kraken_call_failed(call(f"router:1:{index}"), redelivery)
        assert opened(bus) == []
        assert actor.health()["duplicate_calls_ignored"] == TRIP - 2
        for index in range(TRIP - 2, TRIP):
            await actor.on_kraken_call_failed(call(f"router:1:{index}"), redelivery)
        assert len(opened(bus)) == 1
    finally:
        await actor.stop()


async def test_two_instances_publish_each_transition_once_and_one_answers_verdicts(
    bus: MemoryBus, pair: tuple[ErrorClassifierActor, ErrorClassifierActor]
) -> None:
    active, standby = pair
    assert (active.role, standby.role) == ("active", "standby")
    for index in range(TRIP):
        await bus.publish(bus.subjects.kraken_call("failed"), call(f"c{index}"), msg_id=f"c{index}")
    assert len(opened(bus)) == 1
    assert standby.core.snapshot() != ()  # the standby counted the same calls
    request = VerdictRequest(call=call("v"), attempt=1, operation=call("v").operation)
    delivery = Delivery(bus.subjects.verdict(), {}, 0, reply="inbox")
    assert await standby.on_verdict_request(request, delivery) is None
    assert await active.on_verdict_request(request, delivery) is not None


async def test_a_standby_that_wins_the_lease_adopts_the_stored_state_without_republishing(
    bus: MemoryBus,
) -> None:
    clock_a, clock_b = LeaseClock(), LeaseClock()
    first, second = classifier(clock_a), classifier(clock_b)
    await bus.attach(first)
    await bus.attach(second)
    try:
        for index in range(TRIP):
            await bus.publish(
                bus.subjects.kraken_call("failed"), call(f"c{index}"), msg_id=f"{index}"
            )
        stored_open = opened(bus)[0]
        await second.lease_step()  # watches the holder's revision
        clock_a.advance(TTL_S)  # the holder stops renewing (killed)
        clock_b.advance(TTL_S)
        await second.lease_step()
        assert (first.role, second.role) == ("standby", "active")
        public = {s.scope: s for s in second.core.snapshot()}[PUBLIC]
        assert (public.state, public.retry_at_ns) == (BreakerState.OPEN, stored_open.retry_at_ns)
        assert len(opened(bus)) == 1
    finally:
        await second.stop()
        await first.stop()


async def test_a_standby_that_wins_the_lease_publishes_a_transition_the_holder_never_stored(
    bus: MemoryBus,
) -> None:
    leases = bus.bucket(LEASES_BUCKET)
    await leases.create("error-classifier", b"ghost")  # a holder that dies before publishing
    clock = LeaseClock()
    survivor = classifier(clock)
    await bus.attach(survivor)
    try:
        assert survivor.role == "standby"
        for index in range(TRIP):
            await bus.publish(
                bus.subjects.kraken_call("failed"), call(f"c{index}"), msg_id=f"{index}"
            )
        assert opened(bus) == []
        clock.advance(TTL_S)
        await survivor.lease_step()
        assert survivor.role == "active"
        [change] = opened(bus)
        assert change.previous is BreakerState.CLOSED
        assert change.reason.startswith("takeover: ")
    finally:
        await survivor.stop()
