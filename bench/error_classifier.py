"""Error classifier: classifications/s of the pure core, and verdict request/reply latency
(p50/p99) over a real nats-server, measured in one run."""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time

import msgspec
import nats

from actors.error_classifier import KrakenErrorClassifier
from actors.error_classifier.shell import ErrorClassifierActor
from bus import ActorRunner, Subjects, encode
from schemas import (
    GalFridayConfig,
    KrakenCallFailed,
    NatsConfig,
    OperationKind,
    VerdictRequest,
)
from tests.support.nats_server import running_nats_server

SAMPLES = (
    "EAPI:Rate limit exceeded",
    "EGeneral:Invalid arguments:volume",
    "EService: Throttled: 1700000000",
    "EOrder:Insufficient funds",
    "EService:Unavailable",
    "something nobody catalogued",
)
CLASSIFICATIONS = 200_000
REQUESTS = 2_000


def _classifications_per_second() -> float:
    started = time.perf_counter()
    for index in range(CLASSIFICATIONS):
        KrakenErrorClassifier.classify_error(SAMPLES[index % len(SAMPLES)])
    return CLASSIFICATIONS / (time.perf_counter() - started)


async def _verdict_latencies(url: str) -> list[float]:
    config = msgspec.structs.replace(
        GalFridayConfig(), nats=NatsConfig(url=url, subject_root="benchverdict")
    )
    subjects = Subjects("benchverdict")
    failure = KrakenCallFailed(
        ts_event=1, ts_init=1, scope="kraken.public", endpoint="Ticker",
        operation=OperationKind.READ, latency_ns=1, errors=("EService:Busy",),
    )  # fmt: skip
    payload = encode(VerdictRequest(call=failure, attempt=1, operation=OperationKind.READ))
    actor = ErrorClassifierActor(config=config, rng=random.Random(1))
    async with ActorRunner(actor, config):
        client = await nats.connect(url)
        for _ in range(100):  # warm-up
            await client.request(subjects.verdict(), payload, timeout=5)
        latencies = []
        for _ in range(REQUESTS):
            started = time.perf_counter()
            await client.request(subjects.verdict(), payload, timeout=5)
            latencies.append(time.perf_counter() - started)
        await client.close()
    return latencies


def figures() -> dict[str, float]:
    """This bench's figures (printed as it always did) for ``bench.run_all``."""
    rate = _classifications_per_second()
    with running_nats_server() as server:
        latencies = asyncio.run(_verdict_latencies(server.url))
    quantiles = statistics.quantiles(latencies, n=100)
    print("error classifier")
    print(f"  pure core classifications       : {rate:12,.0f} /s")
    print(f"  verdict request/reply over NATS : p50 {quantiles[49] * 1e3:.3f} ms, "
          f"p99 {quantiles[98] * 1e3:.3f} ms ({REQUESTS} requests)")  # fmt: skip
    return {
        "classifications_per_s": round(rate),
        "verdict_p50_ms": round(quantiles[49] * 1e3, 3),
        "verdict_p99_ms": round(quantiles[98] * 1e3, 3),
    }


def main() -> int:
    figures()
    return 0


if __name__ == "__main__":
    sys.exit(main())
