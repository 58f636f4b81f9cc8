"""PriceUpdated events/s: the actor runtime's dispatch against a raw nats-py callback.

One publisher process pushes N ``PriceUpdated`` events; one receiver process handles them, first
with a raw nats-py subscriber callback doing the same msgspec decode, then through the actor
runtime (decode, dispatch to ``on_price_updated``, counters). Both runs use the same server and
payloads in the same invocation, so the ratio is meaningful on a noisy machine.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import msgspec
import nats

from bus import Actor, ActorRunner, Delivery, Subjects, Subscription, encode
from bus.codec import MESSAGES
from schemas import GalFridayConfig, NatsConfig, PriceSource, PriceUpdated
from tests.support.nats_server import running_nats_server

EVENTS = 100_000
ROUNDS = 3


def _quote(index: int) -> PriceUpdated:
    price = Decimal(60000) + Decimal(index % 1000) / 10
    return PriceUpdated(
        ts_event=index, ts_init=index, pair="BTC/USD", bid=price, ask=price + 1, last=price,
        bid_size=Decimal("0.5"), ask_size=Decimal("0.7"), volume_24h=Decimal(1234),
        vwap_24h=price, source=PriceSource.WS,
    )  # fmt: skip


def _publish(url: str, subject: str, count: int) -> None:
    async def run() -> None:
        client = await nats.connect(url)
        payloads = [encode(_quote(i)) for i in range(1000)]
        for index in range(count):
            await client.publish(subject, payloads[index % 1000])
            if index % 2000 == 0:
                await client.flush()
        await client.flush()
        await client.close()

    asyncio.run(run())


@dataclass
class _CountingActor(Actor):
    name = "bench"
    expected: int = 0
    received: int = 0
    done: asyncio.Event | None = None

    def subscriptions(self, subjects: Subjects) -> Sequence[Subscription]:
        return (Subscription(subjects.price_all()),)

    async def on_price_updated(self, event: PriceUpdated, delivery: Delivery) -> None:
        self.received += 1
        if self.received >= self.expected and self.done is not None:
            self.done.set()


def _receive(url: str, root: str, mode: str, count: int, ready: object, result: object) -> None:
    async def run() -> float:
        subjects = Subjects(root)
        done = asyncio.Event()
        if mode == "raw":
            client = await nats.connect(url)
            received = 0

            async def on_message(msg: object) -> None:
                nonlocal received
                MESSAGES.decode(msg.data)  # type: ignore[attr-defined]
                received += 1
                if received >= count:
                    done.set()

            await client.subscribe(subjects.price_all(), cb=on_message)
            await client.flush()
            ready.set()  # type: ignore[attr-defined]
            started = await _first(lambda: received > 0)
            await done.wait()
            elapsed = time.perf_counter() - started
            await client.close()
            return count / elapsed
        config = msgspec.structs.replace(
            GalFridayConfig(), nats=NatsConfig(url=url, subject_root=root)
        )
        actor = _CountingActor(expected=count, done=done)
        async with ActorRunner(actor, config):
            ready.set()  # type: ignore[attr-defined]
            started = await _first(lambda: actor.received > 0)
            await done.wait()
            return count / (time.perf_counter() - started)

    result.value = asyncio.run(run())  # type: ignore[attr-defined]


async def _first(check: object) -> float:
    while not check():  # type: ignore[operator]  # noqa: ASYNC110 - polling a counter
        await asyncio.sleep(0.0005)
    return time.perf_counter()


def _measure(url: str, mode: str, round_index: int) -> float:
    root = f"bench{mode}{round_index}"
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    result = context.Value("d", 0.0)
    receiver = context.Process(target=_receive, args=(url, root, mode, EVENTS, ready, result))
    receiver.start()
    if not ready.wait(60):
        raise RuntimeError("receiver did not start")
    publisher = context.Process(
        target=_publish, args=(url, Subjects(root).price("BTC/USD"), EVENTS)
    )
    publisher.start()
    publisher.join()
    receiver.join(120)
    return float(result.value)


def main() -> int:
    with running_nats_server() as server:
        raw: list[float] = []
        runtime: list[float] = []
        for round_index in range(ROUNDS):
            raw.append(_measure(server.url, "raw", round_index))
            runtime.append(_measure(server.url, "runtime", round_index))
    best_raw, best_runtime = max(raw), max(runtime)
    print(f"bus throughput, {EVENTS} PriceUpdated per run, best of {ROUNDS} alternating runs")
    print(f"  raw nats-py callback + msgspec decode : {best_raw:12,.0f} events/s")
    print(f"  actor runtime dispatch               : {best_runtime:12,.0f} events/s")
    print(
        f"  ratio runtime / raw                  : {best_runtime / best_raw:12.2f}  (goal >= 0.80)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
