"""PriceUpdated events/s: the actor runtime's dispatch against a raw nats-py callback and a
FastStream subscriber.

One publisher process pushes N ``PriceUpdated`` events; one receiver process handles them with
a raw nats-py subscriber callback doing the same msgspec decode, through the actor runtime
(decode, dispatch to ``on_price_updated``, counters), and — when the optional ``bench`` extra is
installed — through a FastStream ``NatsBroker`` subscriber, once with its defaults and once
tuned as its docs suggest for throughput (no logger, the raw body decoded by us). Every mode
uses its own subject root with the project's JetStream topology created on it, so each pays
the same prices stream; same server, payloads and publisher in one invocation, so the ratios
are meaningful on a noisy machine.

    python -m bench.bus_throughput [events] [rounds]
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import msgspec
import nats

from bus import Actor, ActorRunner, Delivery, Subjects, Subscription, encode, ensure_topology
from bus.codec import MESSAGES
from schemas import GalFridayConfig, NatsConfig, PriceSource, PriceUpdated
from tests.support.nats_server import running_nats_server

EVENTS = 100_000
ROUNDS = 3
MODES = ("raw", "runtime", "faststream", "faststream-tuned")


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
        return (Subscription(subjects.price_all(), (PriceUpdated,)),)

    async def on_price_updated(self, event: PriceUpdated, delivery: Delivery) -> None:
        self.received += 1
        if self.received >= self.expected and self.done is not None:
            self.done.set()


def _receive(url: str, root: str, mode: str, count: int, ready: object, result: object) -> None:
    if mode == "faststream":
        # Its default logger writes two lines per message: keep the cost, not the noise.
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for this process's life

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
        if mode.startswith("faststream"):
            return await _faststream(url, subjects, count, ready, tuned=mode.endswith("tuned"))
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


async def _faststream(
    url: str, subjects: Subjects, count: int, ready: object, *, tuned: bool
) -> float:
    from faststream.nats import NatsBroker

    broker = NatsBroker(url, logger=None) if tuned else NatsBroker(url)
    done = asyncio.Event()
    received = 0

    async def on_message(body: bytes) -> None:
        nonlocal received
        MESSAGES.decode(body)
        received += 1
        if received >= count:
            done.set()

    # A call, not a decorator: typed alike whether or not the optional extra is installed.
    broker.subscriber(subjects.price_all())(on_message)
    await broker.start()
    ready.set()  # type: ignore[attr-defined]
    started = await _first(lambda: received > 0)
    await done.wait()
    elapsed = time.perf_counter() - started
    await broker.stop()
    return count / elapsed


def faststream_installed() -> bool:
    try:
        import faststream.nats  # noqa: F401
    except ImportError:
        return False
    return True


async def _prepare_root(url: str, root: str) -> None:
    client = await nats.connect(url)
    try:
        await ensure_topology(client.jetstream(), Subjects(root))
    finally:
        await client.close()


async def _first(check: object) -> float:
    while not check():  # type: ignore[operator]  # noqa: ASYNC110 - polling a counter
        await asyncio.sleep(0.0005)
    return time.perf_counter()


def _measure(url: str, mode: str, round_index: int, events: int = EVENTS) -> float:
    root = f"bench{mode.replace('-', '')}{round_index}"
    asyncio.run(_prepare_root(url, root))
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    result = context.Value("d", 0.0)
    receiver = context.Process(target=_receive, args=(url, root, mode, events, ready, result))
    receiver.start()
    if not ready.wait(60):
        raise RuntimeError("receiver did not start")
    publisher = context.Process(
        target=_publish, args=(url, Subjects(root).price("BTC/USD"), events)
    )
    publisher.start()
    publisher.join()
    receiver.join(120)
    return float(result.value)


def measure_all(events: int, rounds: int) -> dict[str, float]:
    """Best events/s per mode over ``rounds`` alternating runs."""
    modes = [m for m in MODES if not m.startswith("faststream") or faststream_installed()]
    best: dict[str, float] = {}
    with running_nats_server() as server:
        for round_index in range(rounds):
            for mode in modes:
                rate = _measure(server.url, mode, round_index, events)
                best[mode] = max(best.get(mode, 0.0), rate)
    return best


def report(best: dict[str, float], events: int, rounds: int) -> None:
    raw = best["raw"]
    print(f"bus throughput, {events} PriceUpdated per run, best of {rounds} alternating runs")
    labels = {
        "raw": "raw nats-py callback + msgspec decode",
        "runtime": "actor runtime dispatch",
        "faststream": "FastStream subscriber, defaults",
        "faststream-tuned": "FastStream subscriber, no logger",
    }
    for mode, rate in best.items():
        print(f"  {labels[mode]:<38}: {rate:12,.0f} events/s  {rate / raw:5.2f}x raw")
    runtime = best["runtime"]
    print(f"  runtime / raw {runtime / raw:.2f} (goal >= 0.80)")
    for mode in ("faststream", "faststream-tuned"):
        if mode in best:
            print(f"  runtime / {mode} {runtime / best[mode]:.2f}")
    if not faststream_installed():
        print("  FastStream rounds skipped: pip install -e '.[bench]'")


def figures() -> dict[str, float]:
    """This bench's figures (printed as it always did) for ``bench.run_all``."""
    best = measure_all(EVENTS, ROUNDS)
    report(best, EVENTS, ROUNDS)
    result: dict[str, float] = {f"{mode}_events_per_s": round(rate) for mode, rate in best.items()}
    for mode in ("raw", "faststream", "faststream-tuned"):
        if mode in best:
            result[f"runtime_vs_{mode}"] = round(best["runtime"] / best[mode], 2)
    return result


def main() -> int:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else EVENTS
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else ROUNDS
    report(measure_all(events, rounds), events, rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
