"""Two error-classifier PROCESSES behave exactly like one (issue 11.4): an outage on the
simulator, reported on the bus the way the router reports its calls, produces the same breaker
transitions with one or two instances; kill -9 the active one mid-outage and the standby takes
over and carries on (and counts the next outage on its own)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client
from nats.aio.msg import Msg

from bus import Subjects, encode
from bus.codec import MESSAGES
from bus.jetstream import MSG_ID_HEADER, ensure_topology
from kraken.rest import KrakenRestClient
from kraken.sim import RunningSim, SimOptions, running_sim
from kraken.sim.scenario import OutageFault
from schemas import KrakenConfig
from schemas.events import CircuitBreakerStateChanged, KrakenCallFailed, KrakenCallSucceeded
from tests.support.nats_server import NatsServer
from tests.support.process_stack import ProcessStack

pytestmark = [pytest.mark.nats, pytest.mark.sim]

ACTOR = "error-classifier"
PUBLIC = "kraken.public"
FAILED_CALLS = 6  # one more than the breaker's consecutive failures to trip
ONE_OUTAGE = [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
SETTINGS: dict[str, Any] = {
    # The open period outlasts a takeover (ttl + a renewal), so the standby ends it.
    "breakers": {"open_base_s": 2.5, "half_open_timeout_s": 5.0},
    "errors": {"lease_ttl_s": 1.0, "statistics_interval_s": 60.0},
}


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with running_sim(SimOptions(auto_tick=False, seed=4)) as running:
        yield running


@pytest_asyncio.fixture
async def client(nats_server: NatsServer) -> AsyncIterator[Client]:
    connection = await nats.connect(nats_server.url)
    yield connection
    await connection.drain()


@pytest.fixture
def stack(
    nats_server: NatsServer, subject_root: str, sim: RunningSim, tmp_path: Path
) -> ProcessStack:
    return ProcessStack(nats_server.url, subject_root, sim, tmp_path, settings=SETTINGS)


class Transitions:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def on_message(self, msg: Msg) -> None:
        event = MESSAGES.decode(msg.data)
        if isinstance(event, CircuitBreakerStateChanged) and event.scope == PUBLIC:
            self.seen.append((str(event.previous), str(event.state)))

    async def reach(self, count: int, stack: ProcessStack, timeout: float = 30.0) -> None:
        async def check() -> None:
            while len(self.seen) < count:
                stack.raise_if_exited()
                await asyncio.sleep(0.05)

        try:
            await asyncio.wait_for(check(), timeout)
        except TimeoutError:
            raise AssertionError(f"transitions {self.seen}; logs {stack.tails()}") from None


async def start_instances(
    stack: ProcessStack, client: Client, count: int
) -> dict[str, dict[str, Any]]:
    """Start ``count`` classifier processes one after the other (the first holds the lease);
    return their health reports by instance id once every one of them answered."""
    reports: dict[str, dict[str, Any]] = {}
    for index in range(count):
        stack.start_instance(f"classifier-{index}", ACTOR)
        async with asyncio.timeout(60):
            while len(reports) <= index:
                stack.raise_if_exited()
                report = await stack.health(client, ACTOR)
                if report is not None:
                    reports[report["instance"]] = report
                await asyncio.sleep(0.05)
    return reports


async def outage(sim: RunningSim, client: Client, subjects: Subjects) -> None:
    """``Time`` answers 503 a few times; each call is reported like the router reports it."""
    sim.faults.add(OutageFault(endpoints=("Time",), http_status=503, calls=FAILED_CALLS))
    reports: list[KrakenCallSucceeded | KrakenCallFailed] = []
    config = KrakenConfig(rest_url=sim.rest_url)
    async with KrakenRestClient(config, on_call=reports.append) as kraken:
        for _ in range(FAILED_CALLS):
            await kraken.time()
    js = client.jetstream()
    for report in reports:
        outcome = "failed" if isinstance(report, KrakenCallFailed) else "succeeded"
        await js.publish(
            subjects.kraken_call(outcome), encode(report), headers={MSG_ID_HEADER: report.call_id}
        )
    assert [type(r) for r in reports] == [KrakenCallFailed] * FAILED_CALLS


async def watch(client: Client, stack: ProcessStack) -> Transitions:
    subjects = stack.subjects
    await ensure_topology(client.jetstream(), subjects)
    transitions = Transitions()
    await client.subscribe(subjects.breaker(PUBLIC), cb=transitions.on_message)
    await client.flush()
    return transitions


@pytest.mark.parametrize("instances", [1, 2])
async def test_one_or_two_instances_make_the_same_transitions_once(
    stack: ProcessStack, client: Client, sim: RunningSim, instances: int
) -> None:
    transitions = await watch(client, stack)
    try:
        reports = await start_instances(stack, client, instances)
        assert sorted(r["role"] for r in reports.values()) == ["active", "standby"][:instances]
        await outage(sim, client, stack.subjects)
        await transitions.reach(len(ONE_OUTAGE), stack)
        await asyncio.sleep(1.0)  # a duplicate from a second publisher would be here by now
    finally:
        stack.stop()
    assert transitions.seen == ONE_OUTAGE


async def test_the_standby_takes_over_when_the_active_is_killed_mid_outage(
    stack: ProcessStack, client: Client, sim: RunningSim
) -> None:
    transitions = await watch(client, stack)
    try:
        await start_instances(stack, client, 2)
        await outage(sim, client, stack.subjects)
        await transitions.reach(1, stack)
        stack.kill("classifier-0", signal.SIGKILL)  # the lease holder, while OPEN
        await transitions.reach(len(ONE_OUTAGE), stack)
        survivor = await stack.health(client, ACTOR)
        assert survivor is not None
        assert survivor["role"] == "active"
        await outage(sim, client, stack.subjects)  # counted by the survivor alone
        await transitions.reach(2 * len(ONE_OUTAGE), stack)
        await asyncio.sleep(1.0)
    finally:
        stack.stop()
    assert transitions.seen == ONE_OUTAGE * 2
