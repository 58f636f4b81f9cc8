"""Durable publishing of a batch's outcome events: ``EVENTS`` ``OrderPlaced`` messages sent
pipelined, then all their JetStream acks awaited — through ``bus.publish_acks.PublishAcks``
(what the actors use) and through nats-py's ``publish_async``, alternating rounds on one
connection to one server, so the ratio holds on a noisy machine. Wall time and the
publisher's own CPU time per round (medians).

    python -m bench.durable_publish [rounds]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

import nats
from nats.aio.client import Client
from nats.js.api import PubAck, StreamConfig

from bus.codec import encode
from bus.jetstream import MSG_ID_HEADER
from bus.publish_acks import PublishAcks
from schemas.events import OrderPlaced
from tests.support.nats_server import running_nats_server

EVENTS = 51
"""A 50-order batch's events and its ``BatchCompleted``."""
ROUNDS = 200
PAUSE_S = 0.005
"""Between rounds, as between batches: each round meets idle acks."""

Publish = Callable[[str, bytes, dict[str, str]], Awaitable["asyncio.Future[PubAck]"]]


def _payload(index: int) -> bytes:
    return encode(
        OrderPlaced(
            ts_event=time.time_ns(),
            ts_init=time.time_ns(),
            batch_id="bench",
            index=index,
            pair="BTC/USD",
            cl_ord_id=f"gf-{index:016d}",
            txid="OABCDE-FGHIJ-KLMNOP",
            attempts=1,
        )
    )


async def _round(publish: Publish, label: str, number: int) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    acks = []
    for index in range(EVENTS):
        headers = {MSG_ID_HEADER: f"{label}{number}:{index}"}
        acks.append(await publish(f"durable.{index % 3}", _payload(index), headers))
    stored = await asyncio.wait_for(asyncio.gather(*acks), 10)
    if any(ack.duplicate for ack in stored):
        raise RuntimeError(f"{label}: a fresh message was taken for a duplicate")
    return time.perf_counter() - wall, time.process_time() - cpu


async def measure(url: str, rounds: int) -> dict[str, tuple[float, float]]:
    client: Client = await nats.connect(url)
    try:
        js = client.jetstream()
        await js.add_stream(StreamConfig(name="DURABLE", subjects=["durable.>"]))
        ours = PublishAcks(client)

        async def nats_py(
            subject: str, payload: bytes, headers: dict[str, str]
        ) -> asyncio.Future[PubAck]:
            return await js.publish_async(subject, payload, headers=headers)

        modes: dict[str, Publish] = {"publish_acks": ours.publish, "nats_py": nats_py}
        samples: dict[str, list[tuple[float, float]]] = {mode: [] for mode in modes}
        for number in range(rounds):
            for mode, publish in modes.items():
                samples[mode].append(await _round(publish, mode, number))
                await asyncio.sleep(PAUSE_S)
    finally:
        await client.close()
    return {
        mode: (
            statistics.median(wall for wall, _ in rows),
            statistics.median(cpu for _, cpu in rows),
        )
        for mode, rows in samples.items()
    }


def figures(rounds: int = ROUNDS) -> dict[str, float]:
    """This bench's figures (printed) for ``bench.run_all``."""
    with running_nats_server() as server:
        found = asyncio.run(measure(server.url, rounds))
    (ours_wall, ours_cpu), (theirs_wall, theirs_cpu) = found["publish_acks"], found["nats_py"]
    print(f"durable publish, {EVENTS} events pipelined then acks awaited ({rounds} rounds each)")
    for mode, (wall, cpu) in found.items():
        print(f"  {mode:<13} {wall * 1e3:6.2f} ms wall   {cpu * 1e3:6.2f} ms publisher CPU")
    print(f"  nats-py / PublishAcks: wall {theirs_wall / ours_wall:.2f}x, "
          f"CPU {theirs_cpu / ours_cpu:.2f}x")  # fmt: skip
    return {
        "publish_acks_ms": round(ours_wall * 1e3, 2),
        "nats_py_publish_async_ms": round(theirs_wall * 1e3, 2),
        "wall_ratio_nats_py_over_ours": round(theirs_wall / ours_wall, 2),
        "cpu_ratio_nats_py_over_ours": round(theirs_cpu / ours_cpu, 2),
    }


def main() -> int:
    figures(int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
