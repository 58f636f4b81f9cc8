"""Breaker detection and recovery delay, with one and with two error-classifier instances.

An outage on the simulator (every endpoint answers 503) is reported on the bus the way the
router reports its calls (a caller polls ``Time`` every few ms). Detection delay: outage start
-> ``CircuitBreakerStateChanged(OPEN)`` for ``kraken.public`` seen on the bus. Recovery delay:
outage end -> ``CLOSED`` seen on the bus (the active classifier's own probe decides it). p50/p99
over repeated outages. The breaker's open period is part of the recovery delay by design.

    python -m bench.breakers [--outages N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import time
from collections.abc import Sequence

import msgspec
import nats
from nats.aio.client import Client

from actors.error_classifier.shell import ErrorClassifierActor
from bus import ActorRunner, Subjects, encode, ensure_topology
from bus.codec import MESSAGES
from bus.jetstream import MSG_ID_HEADER
from kraken.rest import KrakenRestClient
from kraken.sim import RunningSim, SimOptions, running_sim
from kraken.sim.scenario import OutageFault
from schemas import GalFridayConfig, KrakenConfig, NatsConfig
from schemas.config import BreakerConfig, ErrorClassifierConfig
from schemas.events import BreakerState, CircuitBreakerStateChanged, KrakenCallFailed
from tests.support.nats_server import running_nats_server

PUBLIC = "kraken.public"
CALL_EVERY_S = 0.02
OPEN_S = 0.5
SETTLE_S = 0.5
"""Healthy calls between outages."""


def _config(url: str, root: str) -> GalFridayConfig:
    return GalFridayConfig(
        nats=NatsConfig(url=url, subject_root=root),
        breakers=BreakerConfig(window_s=5.0, open_base_s=OPEN_S, open_max_s=OPEN_S),
        errors=ErrorClassifierConfig(statistics_interval_s=60.0, lease_ttl_s=1.0),
    )


class _Breaker:
    """The ``kraken.public`` state as seen on the bus, with the time each state was seen."""

    def __init__(self) -> None:
        self.state = BreakerState.CLOSED
        self.changed = asyncio.Event()
        self.seen_at = 0.0

    async def on_message(self, msg: object) -> None:
        event = MESSAGES.decode(msg.data)  # type: ignore[attr-defined]
        if isinstance(event, CircuitBreakerStateChanged) and event.scope == PUBLIC:
            self.state, self.seen_at = event.state, time.perf_counter()
            self.changed.set()

    async def reach(self, state: BreakerState, timeout_s: float = 30.0) -> float:
        async with asyncio.timeout(timeout_s):
            while self.state is not state:
                self.changed.clear()
                await self.changed.wait()
        return self.seen_at


async def _caller(sim: RunningSim, client: Client, subjects: Subjects) -> None:
    """Polls ``Time`` and publishes every call report durably, as the router does."""
    js = client.jetstream()
    reports: list[object] = []
    async with KrakenRestClient(KrakenConfig(rest_url=sim.rest_url), on_call=reports.append) as k:
        while True:
            await k.time()
            for report in reports:
                outcome = "failed" if isinstance(report, KrakenCallFailed) else "succeeded"
                call_id = report.call_id  # type: ignore[attr-defined]
                await js.publish(
                    subjects.kraken_call(outcome),
                    encode(report),  # type: ignore[arg-type]
                    headers={MSG_ID_HEADER: call_id},
                )
            reports.clear()
            await asyncio.sleep(CALL_EVERY_S)


async def _measure(url: str, instances: int, outages: int) -> tuple[list[float], list[float]]:
    root = f"benchbreakers{instances}"
    subjects = Subjects(root)
    detections: list[float] = []
    recoveries: list[float] = []
    async with running_sim(SimOptions(auto_tick=False, seed=7)) as sim:
        client = await nats.connect(url)
        await ensure_topology(client.jetstream(), subjects)
        breaker = _Breaker()
        await client.subscribe(subjects.breaker(PUBLIC), cb=breaker.on_message)
        async with contextlib.AsyncExitStack() as stack:
            for seed in range(instances):
                config = msgspec.structs.replace(
                    _config(url, root), kraken=KrakenConfig(rest_url=sim.rest_url)
                )
                actor = ErrorClassifierActor(config=config, rng=random.Random(seed))
                await stack.enter_async_context(ActorRunner(actor, config))
            caller = asyncio.create_task(_caller(sim, client, subjects))
            try:
                for _ in range(outages):
                    await asyncio.sleep(SETTLE_S)
                    fault = sim.faults.add(OutageFault(http_status=503))
                    started = time.perf_counter()
                    detections.append(await breaker.reach(BreakerState.OPEN) - started)
                    sim.faults.remove(fault)
                    ended = time.perf_counter()
                    recoveries.append(await breaker.reach(BreakerState.CLOSED) - ended)
            finally:
                caller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await caller
        await client.close()
    return detections, recoveries


def _quantiles(samples: list[float]) -> tuple[float, float]:
    if len(samples) < 2:
        return samples[0], samples[0]
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[98]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.breakers")
    parser.add_argument("--outages", type=int, default=20)
    args = parser.parse_args(argv)
    rows = []
    with running_nats_server() as server:
        for instances in (1, 2):
            detections, recoveries = asyncio.run(_measure(server.url, instances, args.outages))
            rows.append((instances, _quantiles(detections), _quantiles(recoveries)))
    print(f"breakers ({args.outages} outages each; open period {OPEN_S} s, calls every "
          f"{CALL_EVERY_S * 1000:.0f} ms)")  # fmt: skip
    print("  classifiers | detection p50 | detection p99 | recovery p50 | recovery p99")
    for instances, (d50, d99), (r50, r99) in rows:
        print(
            f"  {instances:>11} | {d50 * 1000:10.0f} ms | {d99 * 1000:10.0f} ms "
            f"| {r50 * 1000:9.0f} ms | {r99 * 1000:9.0f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
