"""The error-classifier actor against a real nats-server (and the simulated exchange): breakers
driven by Kraken call events, verdicts over request/reply, state surviving a restart."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from actors.error_classifier.shell import ErrorClassifierActor
from bus import ActorRunner, Subjects, encode, ensure_topology
from bus.codec import MESSAGES
from bus.context import ERROR_HEADER
from bus.jetstream import MSG_ID_HEADER
from kraken.rest import KrakenRestClient
from kraken.sim import RunningSim, SimOptions, running_sim
from kraken.sim.scenario import OutageFault
from schemas import GalFridayConfig
from schemas.events import (
    BreakerState,
    CircuitBreakerStateChanged,
    ExchangeStatus,
    ExchangeStatusChanged,
    KrakenCallFailed,
    KrakenCallSucceeded,
    OperationKind,
)
from schemas.queries import RetryVerdict, VerdictRequest
from tests.support.waiting import eventually

pytestmark = [pytest.mark.nats]

PUBLIC = "kraken.public"
ACTOR = ErrorClassifierActor.name


def with_breakers(config: GalFridayConfig, **breakers: float) -> GalFridayConfig:
    return msgspec.structs.replace(
        config, breakers=msgspec.structs.replace(config.breakers, **breakers)
    )


@dataclass
class BreakerWatch:
    """Every ``CircuitBreakerStateChanged`` on one scope, with its monotonic arrival time."""

    seen: list[tuple[float, CircuitBreakerStateChanged]] = field(default_factory=list)

    async def on_message(self, msg: Msg) -> None:
        event = MESSAGES.decode(msg.data)
        assert isinstance(event, CircuitBreakerStateChanged)
        self.seen.append((time.monotonic(), event))

    def states(self) -> list[BreakerState]:
        return [event.state for _, event in self.seen]

    def arrival(self, state: BreakerState) -> float:
        return next(at for at, event in self.seen if event.state is state)


@dataclass
class CallPublisher:
    """The ``on_call`` of a ``KrakenRestClient``: publishes each call event durably, in order,
    and remembers when each failed call was reported."""

    client: Client
    subjects: Subjects
    failures_reported_at: list[float] = field(default_factory=list)
    _queue: asyncio.Queue[KrakenCallSucceeded | KrakenCallFailed] = field(
        default_factory=asyncio.Queue
    )
    _count: int = 0

    def __call__(self, event: KrakenCallSucceeded | KrakenCallFailed) -> None:
        if isinstance(event, KrakenCallFailed):
            self.failures_reported_at.append(time.monotonic())
        self._queue.put_nowait(event)

    async def run(self) -> None:
        while True:
            event = await self._queue.get()
            self._count += 1
            outcome = "failed" if isinstance(event, KrakenCallFailed) else "succeeded"
            await self.client.jetstream().publish(
                self.subjects.kraken_call(outcome),
                encode(event),
                headers={MSG_ID_HEADER: f"call-{self._count}"},
            )
            self._queue.task_done()


@pytest.mark.sim
async def test_outage_opens_public_breaker_then_probe_closes_it(
    bus_config: GalFridayConfig, client: Client, subject_root: str
) -> None:
    """OPEN within a second of the tripping failure; HALF_OPEN after open_base_s; a probe
    success after the outage closes it again (the classifier's own probes fail while the
    outage lasts and re-open it)."""
    subjects = Subjects(subject_root)
    watch = BreakerWatch()
    await client.subscribe(subjects.breaker(PUBLIC), cb=watch.on_message)
    await client.flush()
    publisher = CallPublisher(client, subjects)
    publishing = asyncio.create_task(publisher.run())
    try:
        async with running_sim(SimOptions()) as sim:
            config = with_venue(with_breakers(bus_config, open_base_s=0.5), sim)
            actor = ErrorClassifierActor(config=config, rng=random.Random(5))
            trip_after = config.breakers.consecutive_failures_to_trip
            async with (
                ActorRunner(actor, config),
                KrakenRestClient(config.kraken, on_call=publisher) as kraken,
            ):
                outage = sim.faults.add(OutageFault(response="unavailable"))
                async with asyncio.timeout(15):
                    while BreakerState.OPEN not in watch.states():
                        await kraken.ticker(["XBTUSD"])
                        await asyncio.sleep(0.05)
                crossed_at = publisher.failures_reported_at[trip_after - 1]
                assert watch.arrival(BreakerState.OPEN) - crossed_at < 1.0

                sim.faults.remove(outage)
                await eventually(lambda: BreakerState.CLOSED in watch.states(), timeout=15)
                states = watch.states()
                assert states[0] is BreakerState.OPEN
                assert states[-2:] == [BreakerState.HALF_OPEN, BreakerState.CLOSED]
                assert actor.health()["breakers"][PUBLIC]["state"] == "closed"
                kv = await client.jetstream().key_value(subjects.bucket_name("breakers"))
                stored = MESSAGES.decode((await kv.get(PUBLIC)).value or b"")
                assert isinstance(stored, CircuitBreakerStateChanged)
                assert stored.state is BreakerState.CLOSED
    finally:
        publishing.cancel()


def with_venue(config: GalFridayConfig, sim: RunningSim) -> GalFridayConfig:
    return msgspec.structs.replace(
        config, kraken=msgspec.structs.replace(config.kraken, rest_url=sim.rest_url)
    )


def failed_call(
    errors: tuple[str, ...],
    operation: OperationKind,
    scope: str,
    *,
    transport_error: str | None = None,
) -> KrakenCallFailed:
    now = time.time_ns()  # the actor's clock is the system clock: the call happened now
    return KrakenCallFailed(
        ts_event=now,
        ts_init=now,
        scope=scope,
        endpoint="AddOrder" if operation is OperationKind.PLACE else "Balance",
        operation=operation,
        latency_ns=1,
        errors=errors,
        outcome_unknown=transport_error is not None,
        transport_error=transport_error,
    )


async def ask_verdict(client: Client, subjects: Subjects, request: VerdictRequest) -> RetryVerdict:
    reply = await client.request(subjects.verdict(), encode(request), timeout=5)
    assert ERROR_HEADER not in (reply.headers or {})
    return msgspec.msgpack.decode(reply.data, type=RetryVerdict)


async def until_verdicts_answered(client: Client, subjects: Subjects) -> RetryVerdict:
    """The verdict endpoint is subscribed last, so an answer means the consumers exist too."""
    request = VerdictRequest(
        call=failed_call(("EService:Unavailable",), OperationKind.READ, PUBLIC),
        attempt=1,
        operation=OperationKind.READ,
    )
    async with asyncio.timeout(30):
        while True:
            try:
                reply = await client.request(subjects.verdict(), encode(request), timeout=0.5)
                return msgspec.msgpack.decode(reply.data, type=RetryVerdict)
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
                await asyncio.sleep(0.1)


async def test_verdicts_are_answered_over_request_reply(
    bus_config: GalFridayConfig, client: Client, subject_root: str
) -> None:
    """A rate-limited read may retry later; a placement with an unknown outcome must be
    reconciled first; garbage gets an error reply."""
    subjects = Subjects(subject_root)
    async with ActorRunner(
        ErrorClassifierActor(config=bus_config, rng=random.Random(1)), bus_config
    ):
        # The runner's SUB may reach the server after our first request (no flush there).
        await until_verdicts_answered(client, subjects)
        rate_limited = await ask_verdict(
            client,
            subjects,
            VerdictRequest(
                call=failed_call(
                    ("EAPI:Rate limit exceeded",), OperationKind.READ, "kraken.private"
                ),
                attempt=1,
                operation=OperationKind.READ,
            ),
        )
        assert (rate_limited.category, rate_limited.retry) == ("rate_limit", True)
        assert rate_limited.delay_s > 0
        assert not rate_limited.reconcile_first

        unknown = await ask_verdict(
            client,
            subjects,
            VerdictRequest(
                call=failed_call(
                    ("timeout",), OperationKind.PLACE, "kraken.trading", transport_error="timeout"
                ),
                attempt=1,
                operation=OperationKind.PLACE,
            ),
        )
        assert unknown.reconcile_first
        assert not unknown.retry
        assert unknown.breaker_scope == "kraken.trading"

        garbage = await client.request(subjects.verdict(), b"\xc1garbage", timeout=5)
        assert "undecodable" in (garbage.headers or {})[ERROR_HEADER]


def write_config(path: Path, config: GalFridayConfig) -> Path:
    document = {
        "nats": {"url": config.nats.url, "subject_root": config.nats.subject_root},
        "breakers": {"open_base_s": 120.0, "consecutive_failures_to_trip": 3},
    }
    path.write_text(msgspec.json.encode(document).decode())  # JSON is valid YAML
    return path


async def start_actor_process(config_path: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "actors.cli.main",
        "actor",
        ACTOR,
        cwd=os.getcwd(),
        env={**os.environ, "GF_CONFIG": str(config_path)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def stop_process(child: asyncio.subprocess.Process) -> int:
    child.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(child.wait(), 20)


async def test_open_breaker_survives_a_restart_of_the_actor_process(
    bus_config: GalFridayConfig, client: Client, subject_root: str, tmp_path: Path
) -> None:
    """A child ``galfriday actor error-classifier`` trips; its successor reports it open."""
    subjects = Subjects(subject_root)
    config_path = write_config(tmp_path / "config.yaml", bus_config)
    watch = BreakerWatch()
    await client.subscribe(subjects.breaker(PUBLIC), cb=watch.on_message)
    await client.flush()
    first = await start_actor_process(config_path)
    try:
        assert (await until_verdicts_answered(client, subjects)).breaker_state is (
            BreakerState.CLOSED
        )
        for index in range(3):
            await client.jetstream().publish(
                subjects.kraken_call("failed"),
                encode(failed_call(("EService:Unavailable",), OperationKind.READ, PUBLIC)),
                headers={MSG_ID_HEADER: f"restart-{index}"},
            )
        await eventually(lambda: BreakerState.OPEN in watch.states())
        assert await stop_process(first) == 0
    finally:
        if first.returncode is None:
            first.kill()

    second = await start_actor_process(config_path)
    try:
        verdict = await until_verdicts_answered(client, subjects)
        assert verdict.breaker_state is BreakerState.OPEN
        assert not verdict.retry
        health = await client.request(subjects.service_endpoint(ACTOR, "health"), b"", timeout=5)
        report = msgspec.json.decode(health.data)
        assert report["breakers"][PUBLIC]["state"] == "open"
        assert report["breakers"][PUBLIC]["open_count"] == 1
        assert await stop_process(second) == 0
    finally:
        if second.returncode is None:
            second.kill()


async def test_first_start_during_maintenance_opens_the_trading_breaker(
    bus_config: GalFridayConfig, client: Client
) -> None:
    """A classifier started for the first time mid-maintenance learns it from the status stream."""
    subjects = Subjects(bus_config.nats.subject_root)
    js = client.jetstream()
    await ensure_topology(js, subjects)
    maintenance = ExchangeStatusChanged(
        ts_event=1,
        ts_init=1,
        exchange="kraken",
        status=ExchangeStatus.MAINTENANCE,
        previous=ExchangeStatus.ONLINE,
        source="ws",
        can_place=False,
        can_cancel=False,
    )
    await js.publish(subjects.exchange_status(), encode(maintenance))
    actor = ErrorClassifierActor(config=bus_config, rng=random.Random(3))
    async with ActorRunner(actor, bus_config):
        await eventually(lambda: actor.core.breaker_state("kraken.trading") is BreakerState.OPEN)


@pytest.mark.sim
async def test_public_breaker_is_probed_by_the_classifier_itself(
    bus_config: GalFridayConfig, client: Client, subject_root: str
) -> None:
    """Issue 11, point 2: nobody else probes kraken.public; the classifier asks SystemStatus
    itself once the breaker is half-open, and the answer closes it."""
    subjects = Subjects(subject_root)
    watch = BreakerWatch()
    await client.subscribe(subjects.breaker(PUBLIC), cb=watch.on_message)
    await client.flush()
    async with running_sim(SimOptions()) as sim:
        config = with_venue(with_breakers(bus_config, open_base_s=0.5), sim)
        async with ActorRunner(ErrorClassifierActor(config=config, rng=random.Random(2)), config):
            await until_verdicts_answered(client, subjects)
            for index in range(config.breakers.consecutive_failures_to_trip):
                await client.jetstream().publish(
                    subjects.kraken_call("failed"),
                    encode(failed_call(("EService:Unavailable",), OperationKind.READ, PUBLIC)),
                    headers={MSG_ID_HEADER: f"probe-owner-{index}"},
                )
            await eventually(lambda: BreakerState.CLOSED in watch.states(), timeout=15)
    assert watch.states() == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]
    assert "probe" in watch.seen[-1][1].reason
