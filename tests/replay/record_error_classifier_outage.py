"""Record ``error_classifier_outage.gfl``: an ``EService:Unavailable`` outage on the public
REST endpoints, the error-classifier's breaker answer, and the recovery.

Run from the repository root (about 10 s; overwrites the log next to this file)::

    .venv/bin/python -m tests.replay.record_error_classifier_outage [output.gfl]

What it runs, all in this process except nats-server: a fresh nats-server (JetStream), the
simulated exchange (seed ``SIM_SEED``), the real ``ErrorClassifierActor`` under ``ActorRunner``
(short breaker timings from :func:`classifier_config`, the default 0.25 s timer) and a
``Recorder`` on the Kraken call events, the exchange-status events and the breaker transitions.
A caller then polls ``Ticker`` every ``CALL_INTERVAL_S`` through ``KrakenRestClient``, whose
``on_call`` events are published durably on ``kraken.call.<outcome>``:

1. ``WARM_UP_S`` of successful calls;
2. ``OUTAGE_S`` with an ``OutageFault(response="unavailable")`` on the sim: five consecutive
   failures open ``kraken.public``; each time the breaker goes half-open the caller sends its
   next call as the one probe (``probe=True``), which fails and re-opens it for twice as long;
3. the fault removed: calls go on, each half-open episode gets one probe, until the breaker
   is seen closed.

The log thus holds the input call events and the transitions the live actor made, each with
its receive time (wall clock). Determinism: the sim, the actor's jitter and the subject root
are fixed; the number of calls per phase and all times follow the wall clock, so two
recordings differ in timing, not in the breaker's state sequence. After re-recording, run
``tests/replay/test_error_classifier_replay.py``; the replay must match it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from actors.error_classifier.categories import SCOPE_PUBLIC
from actors.error_classifier.shell import ErrorClassifierActor
from bus import ActorRunner, Recorder, Subjects, encode
from bus.codec import MESSAGES
from bus.jetstream import MSG_ID_HEADER
from kraken.rest import KrakenRestClient
from kraken.sim import OutageFault, SimOptions, running_sim
from schemas import AnyMessage, GalFridayConfig, NatsConfig
from schemas.config import BreakerConfig
from schemas.events import (
    BreakerState,
    CircuitBreakerStateChanged,
    KrakenCallFailed,
    KrakenCallSucceeded,
)
from tests.support.recording import run_recording
from tests.support.waiting import eventually

__all__ = [
    "ACTOR_SEED",
    "LOG_PATH",
    "SUBJECT_ROOT",
    "TIMER_TICK_S",
    "classifier_config",
    "main",
    "record",
    "recorded_subjects",
]

LOG_PATH = Path(__file__).with_name("error_classifier_outage.gfl")
SUBJECT_ROOT = "gf"
SIM_SEED = 7
ACTOR_SEED = 11
TIMER_TICK_S = 0.25
"""The live actor's timer period (the shell's default); the replay test's tolerance uses it."""
CALL_INTERVAL_S = 0.1
WARM_UP_S = 1.0
OUTAGE_S = 3.0
RECOVERY_TIMEOUT_S = 30.0
PAIRS = ("XBTUSD",)


def classifier_config(nats_url: str | None = None) -> GalFridayConfig:
    """The config of the recorded actor; the replay uses the same one (minus the URL)."""
    nats_config = NatsConfig(subject_root=SUBJECT_ROOT)
    if nats_url is not None:
        nats_config = msgspec.structs.replace(nats_config, url=nats_url)
    return GalFridayConfig(
        nats=nats_config,
        breakers=BreakerConfig(open_base_s=0.5, open_max_s=8.0),
    )


def recorded_subjects(subjects: Subjects) -> list[str]:
    return [subjects.kraken_calls_all(), subjects.exchange_status(), subjects.breakers_all()]


@dataclass
class CallPublisher:
    """``on_call`` of the REST client: queues each event, a task publishes them durably in order."""

    client: Client
    subjects: Subjects
    published: int = 0
    _queue: asyncio.Queue[KrakenCallSucceeded | KrakenCallFailed] = field(
        default_factory=asyncio.Queue
    )

    def __call__(self, event: KrakenCallSucceeded | KrakenCallFailed) -> None:
        self._queue.put_nowait(event)

    async def run(self) -> None:
        jetstream = self.client.jetstream()
        while True:
            event = await self._queue.get()
            outcome = "failed" if isinstance(event, KrakenCallFailed) else "succeeded"
            await jetstream.publish(
                self.subjects.kraken_call(outcome),
                encode(event),
                headers={MSG_ID_HEADER: f"outage-call-{self.published + 1}"},
            )
            self.published += 1
            self._queue.task_done()

    async def drained(self) -> None:
        await self._queue.join()


@dataclass
class BreakerWatch:
    """Every transition seen on the bus; the public breaker's state gates the probes."""

    transitions: list[CircuitBreakerStateChanged] = field(default_factory=list)
    _probed_episode: int | None = None

    async def on_message(self, msg: Msg) -> None:
        event = MESSAGES.decode(msg.data)
        if isinstance(event, CircuitBreakerStateChanged):
            self.transitions.append(event)

    def public_state(self) -> BreakerState:
        states = [t.state for t in self.transitions if t.scope == SCOPE_PUBLIC]
        return states[-1] if states else BreakerState.CLOSED

    def take_probe(self) -> bool:
        """True once per half-open episode of the public breaker: that call is the probe."""
        half_open = [
            t.since_ns
            for t in self.transitions
            if t.scope == SCOPE_PUBLIC and t.state is BreakerState.HALF_OPEN
        ]
        if (
            self.public_state() is not BreakerState.HALF_OPEN
            or self._probed_episode == half_open[-1]
        ):
            return False
        self._probed_episode = half_open[-1]
        return True

    def closed_after_opening(self) -> bool:
        states = [t.state for t in self.transitions if t.scope == SCOPE_PUBLIC]
        return BreakerState.OPEN in states and states[-1] is BreakerState.CLOSED


async def call_ticker(
    kraken: KrakenRestClient, watch: BreakerWatch, until: Callable[[], bool]
) -> None:
    while not until():
        await kraken.ticker(PAIRS, probe=watch.take_probe())
        await asyncio.sleep(CALL_INTERVAL_S)


async def call_for(kraken: KrakenRestClient, watch: BreakerWatch, seconds: float) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    await call_ticker(kraken, watch, lambda: asyncio.get_running_loop().time() >= deadline)


async def record(path: Path, nats_url: str) -> None:
    config = classifier_config(nats_url)
    subjects = Subjects(SUBJECT_ROOT)
    # The caller is the only prober here (its probes are in the log); the actor's own
    # public probe would be an input the log does not hold.
    actor = ErrorClassifierActor(
        config=config,
        rng=random.Random(ACTOR_SEED),
        tick_interval_s=TIMER_TICK_S,
        probe_public=False,
    )
    client = await nats.connect(nats_url)
    watch = BreakerWatch()
    publisher = CallPublisher(client, subjects)
    publishing: asyncio.Task[None] | None = None
    try:
        async with (
            running_sim(SimOptions(seed=SIM_SEED)) as sim,
            ActorRunner(actor, config),
            Recorder(client, path, recorded_subjects(subjects)) as recorder,
        ):
            await client.subscribe(subjects.breakers_all(), cb=watch.on_message)
            await client.flush()
            publishing = asyncio.create_task(publisher.run())
            kraken_config = msgspec.structs.replace(config.kraken, rest_url=sim.rest_url)
            async with KrakenRestClient(kraken_config, on_call=publisher) as kraken:
                await call_for(kraken, watch, WARM_UP_S)
                outage = sim.faults.add(OutageFault(response="unavailable"))
                await call_for(kraken, watch, OUTAGE_S)
                sim.faults.remove(outage)
                if watch.public_state() is BreakerState.CLOSED:
                    raise RuntimeError("the outage did not open the kraken.public breaker")
                async with asyncio.timeout(RECOVERY_TIMEOUT_S):
                    await call_ticker(kraken, watch, watch.closed_after_opening)
            await publisher.drained()
            writer = recorder.writer
            assert writer is not None
            expected = publisher.published + len(watch.transitions)
            await eventually(lambda: writer.count >= expected)
    finally:
        if publishing is not None:
            publishing.cancel()
            await asyncio.gather(publishing, return_exceptions=True)
        await client.drain()


def _describe(event: AnyMessage) -> str | None:
    if not isinstance(event, CircuitBreakerStateChanged):
        return None
    return (
        f"{event.scope} {event.previous}->{event.state} open_count={event.open_count}"
        f" reason={event.reason!r}"
    )


def main() -> None:
    run_recording(record, LOG_PATH, _describe)


if __name__ == "__main__":
    main()
