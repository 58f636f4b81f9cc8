"""Breaker detection and recovery delay, with one and with two error-classifier instances;
calls that reach the exchange during outages of 15 s and 30 s, with and without breakers.

An outage on the simulator (every endpoint answers 503) is reported on the bus the way the
router reports its calls (a caller polls ``Time`` every few ms). Detection delay: outage start
-> ``CircuitBreakerStateChanged(OPEN)`` for ``kraken.public`` seen on the bus. Recovery delay:
outage end -> ``CLOSED`` seen on the bus (the active classifier's own probe decides it). p50/p99
over repeated outages. The breaker's open period is part of the recovery delay by design.

Calls during an outage: a caller like the router (4 workers, 10 calls/s together, 50 ms per
call) sends only while the breaker it sees on the bus is CLOSED, and one probe while it is
HALF_OPEN; beside it, on a second simulator, the same caller without breakers. Both simulators
go down (HTML 503, as a CDN in front of Kraken answers) at the same moment; the simulators count
what reached them until the outage ends. The default breaker configuration applies.

    python -m bench.breakers [--outages N] [--outage-seconds 15 30]
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
from kraken.sim.scenario import LatencyFault, OutageFault
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


WORKERS = 4
WORKER_EVERY_S = 0.4
CALL_LATENCY_MS = 50.0


class _GatedCaller:
    """Router-like: ``WORKERS`` call ``Time`` in turn; with a breaker view, a worker calls
    only while it is CLOSED, or takes the single probe slot while it is HALF_OPEN."""

    def __init__(self, sim: RunningSim, breaker: _Breaker | None) -> None:
        self._sim = sim
        self._breaker = breaker
        self._probe_taken = False
        self._probe_state_seen = BreakerState.CLOSED

    def _may_call(self) -> bool:
        breaker = self._breaker
        if breaker is None or breaker.state is BreakerState.CLOSED:
            return True
        if breaker.state is not self._probe_state_seen:
            self._probe_state_seen, self._probe_taken = breaker.state, False
        if breaker.state is BreakerState.HALF_OPEN and not self._probe_taken:
            self._probe_taken = True
            return True
        return False

    async def run(self, client: Client | None, subjects: Subjects) -> None:
        async with asyncio.TaskGroup() as group:
            for index in range(WORKERS):
                group.create_task(self._worker(index, client, subjects))

    async def _worker(self, index: int, client: Client | None, subjects: Subjects) -> None:
        await asyncio.sleep(index * WORKER_EVERY_S / WORKERS)
        reports: list[object] = []
        config = KrakenConfig(rest_url=self._sim.rest_url)
        async with KrakenRestClient(config, on_call=reports.append) as kraken:
            while True:
                if self._may_call():
                    await kraken.time()
                if client is not None:
                    for report in reports:
                        outcome = "failed" if isinstance(report, KrakenCallFailed) else "succeeded"
                        await client.jetstream().publish(
                            subjects.kraken_call(outcome),
                            encode(report),  # type: ignore[arg-type]
                            headers={MSG_ID_HEADER: report.call_id},  # type: ignore[attr-defined]
                        )
                reports.clear()
                await asyncio.sleep(WORKER_EVERY_S)


def _requests(sim: RunningSim) -> int:
    """Every request that reached the simulator (the classifier's own probes included)."""
    return sum(sim.exchange.request_counts().values())


async def calls_during_outages(
    url: str, outage_seconds: Sequence[float]
) -> dict[float, tuple[int, int]]:
    """Per outage length: (calls that reached the exchange with breakers, without)."""
    root = "benchoutages"
    subjects = Subjects(root)
    counts: dict[float, tuple[int, int]] = {}
    options = SimOptions(auto_tick=False, seed=7)
    async with running_sim(options) as guarded, running_sim(options) as bare:
        for sim in (guarded, bare):
            sim.faults.add(LatencyFault(endpoints=("Time",), ms=CALL_LATENCY_MS))
        client = await nats.connect(url)
        await ensure_topology(client.jetstream(), subjects)
        breaker = _Breaker()
        await client.subscribe(subjects.breaker(PUBLIC), cb=breaker.on_message)
        config = GalFridayConfig(
            nats=NatsConfig(url=url, subject_root=root),
            kraken=KrakenConfig(rest_url=guarded.rest_url),
            errors=ErrorClassifierConfig(statistics_interval_s=60.0, lease_ttl_s=1.0),
        )
        actor = ErrorClassifierActor(config=config, rng=random.Random(1))
        async with ActorRunner(actor, config):
            callers = [
                asyncio.create_task(_GatedCaller(guarded, breaker).run(client, subjects)),
                asyncio.create_task(_GatedCaller(bare, None).run(None, subjects)),
            ]
            try:
                for seconds in outage_seconds:
                    await asyncio.sleep(2.0)  # healthy calls first
                    before = _requests(guarded), _requests(bare)
                    faults = [
                        sim.faults.add(OutageFault(http_status=503)) for sim in (guarded, bare)
                    ]
                    await asyncio.sleep(seconds)
                    for sim, fault in zip((guarded, bare), faults, strict=True):
                        sim.faults.remove(fault)
                    counts[seconds] = (
                        _requests(guarded) - before[0],
                        _requests(bare) - before[1],
                    )
                    await breaker.reach(BreakerState.CLOSED, timeout_s=120.0)
            finally:
                for caller in callers:
                    caller.cancel()
                for caller in callers:
                    with contextlib.suppress(asyncio.CancelledError):
                        await caller
        await client.close()
    return counts


def _quantiles(samples: list[float]) -> tuple[float, float]:
    if len(samples) < 2:
        return samples[0], samples[0]
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[98]


def measure(outages: int = 20, outage_seconds: Sequence[float] = (15.0, 30.0)) -> dict[str, float]:
    """Every figure of this bench, by name (ms for delays; calls and % for outages)."""
    figures: dict[str, float] = {}
    with running_nats_server() as server:
        for instances in (1, 2):
            detections, recoveries = asyncio.run(_measure(server.url, instances, outages))
            (d50, d99), (r50, r99) = _quantiles(detections), _quantiles(recoveries)
            figures[f"detection_p50_ms_{instances}_classifiers"] = round(d50 * 1000, 1)
            figures[f"detection_p99_ms_{instances}_classifiers"] = round(d99 * 1000, 1)
            figures[f"recovery_p50_ms_{instances}_classifiers"] = round(r50 * 1000, 1)
            figures[f"recovery_p99_ms_{instances}_classifiers"] = round(r99 * 1000, 1)
        counts = asyncio.run(calls_during_outages(server.url, outage_seconds))
    for seconds, (guarded, bare) in counts.items():
        figures[f"outage_{seconds:g}s_calls_with_breakers"] = guarded
        figures[f"outage_{seconds:g}s_calls_without_breakers"] = bare
        figures[f"outage_{seconds:g}s_calls_pct"] = round(100 * guarded / max(bare, 1), 1)
    return figures


def report(result: dict[str, float], outages: int, outage_seconds: Sequence[float]) -> None:
    print(f"breakers ({outages} outages each; open period {OPEN_S} s, calls every "
          f"{CALL_EVERY_S * 1000:.0f} ms)")  # fmt: skip
    print("  classifiers | detection p50 | detection p99 | recovery p50 | recovery p99")
    for instances in (1, 2):
        names = ("detection_p50_ms", "detection_p99_ms", "recovery_p50_ms", "recovery_p99_ms")
        row = [result[f"{name}_{instances}_classifiers"] for name in names]
        print(
            f"  {instances:>11} | {row[0]:10.0f} ms | {row[1]:10.0f} ms "
            f"| {row[2]:9.0f} ms | {row[3]:9.0f} ms"
        )
    print(f"requests reaching the exchange during an outage ({WORKERS} workers, "
          f"{WORKERS / WORKER_EVERY_S:.0f} calls/s, default breaker config)")  # fmt: skip
    print("  outage | with breakers | without | share")
    for seconds in outage_seconds:
        key = f"outage_{seconds:g}s_calls"
        print(
            f"  {seconds:5.0f}s | {result[key + '_with_breakers']:13.0f} | "
            f"{result[key + '_without_breakers']:7.0f} | {result[key + '_pct']:4.1f} %"
        )


def figures() -> dict[str, float]:
    """This bench's figures (printed) for the collected table (``bench.run_all``)."""
    result = measure()
    report(result, 20, (15.0, 30.0))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.breakers")
    parser.add_argument("--outages", type=int, default=20)
    parser.add_argument("--outage-seconds", type=float, nargs="+", default=[15.0, 30.0])
    args = parser.parse_args(argv)
    report(measure(args.outages, args.outage_seconds), args.outages, args.outage_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
