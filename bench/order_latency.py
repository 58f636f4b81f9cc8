"""Added latency from ``OrderBatchRequested`` to the order at the exchange (issue 14 item 2),
with nats-server, the simulator and the batch router each a separate process, as deployed;
and what ownership fencing and placement deadlines cost (issue 10), measured in the same run.

Two routers run side by side, each on its own subject root and its own API key of one sim
account: the real one (``galfriday actor batch-router``: batch claim, lease, outcome journal,
client-id record, a Kraken deadline on every placement) and ``bench.unfenced_router`` (none of
them; unsafe, bench only). Rounds alternate between them (and which goes first), so both meet
the same machine load. The bench publishes single-order batches one after another, stamping
each just before the JetStream publish; the simulator's ledger records when it accepted each
AddOrder (its ``time_ns``, the same host clock). Added latency = ledger time - publish time.

    python -m bench.order_latency [batches] [--derived-ids]   # per router; default 200
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from decimal import Decimal
from pathlib import Path

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from bench.processes import ROUTER_COMMAND, router_config, router_process, sim_process
from bench.unfenced_router import GUARD_ENV, GUARD_VALUE
from bus import Subjects, encode
from bus.codec import EVENTS
from bus.jetstream import MSG_ID_HEADER
from kraken.sim import DEFAULT_API_KEY
from schemas.events import BatchCompleted, OrderBatchRequested
from schemas.orders import BatchStrategy, OrderRequest, OrderSide, OrderType
from tests.support.nats_server import running_nats_server

__all__ = ["figures", "main", "measure"]

WARMUP = 10
"""Batches sent first and not counted: connections open, caches fill."""
VOLUMES = (
    ("BTC/USD", Decimal("0.0001")),
    ("ETH/USD", Decimal("0.004")),
    ("SOL/USD", Decimal("0.1")),
)
"""Market orders round the pairs (each pair has its own trading rate counter), buying then
selling, so balances and rate counters hold for thousands of batches."""
GAP_S = 0.02
"""Pause between batches, so each one meets an idle pipeline as a lone order would."""
ROUNDS = 10
"""Rounds of the fenced/unfenced alternation."""
FENCED, UNFENCED = "fenced", "unfenced"
UNFENCED_KEY = "bench-unfenced-key"
UNFENCED_SECRET = base64.b64encode(b"bench-unfenced-router-one-account".ljust(64, b"u")).decode()


def _batch(index: int, run: str, client_ids: bool) -> OrderBatchRequested:
    now = time.time_ns()
    pair, volume = VOLUMES[index % len(VOLUMES)]
    order = OrderRequest(
        pair=pair,
        side=OrderSide.BUY if index // len(VOLUMES) % 2 == 0 else OrderSide.SELL,
        order_type=OrderType.MARKET,
        volume=volume,
        cl_ord_id=f"l{run}{index}" if client_ids else None,
    )
    return OrderBatchRequested(
        ts_event=now,
        ts_init=now,
        batch_id=f"lat-{run}-{index}",
        orders=(order,),
        strategy=BatchStrategy.SEQUENTIAL,
    )


async def _send_batches(
    client: Client, subjects: Subjects, indices: range, run: str, client_ids: bool
) -> dict[str, int]:
    """Publish single-order batches one at a time; the publish time per cl_ord_id."""
    completed: asyncio.Queue[BatchCompleted] = asyncio.Queue()

    async def on_completed(msg: Msg) -> None:
        event = EVENTS.decode(msg.data)
        if isinstance(event, BatchCompleted):
            completed.put_nowait(event)

    subscription = await client.subscribe(subjects.batch_completed(), cb=on_completed)
    js = client.jetstream()
    published: dict[str, int] = {}
    try:
        for index in indices:
            batch = _batch(index, run, client_ids)
            payload = encode(batch)
            published_ns = time.time_ns()
            await js.publish(
                subjects.batch_requested(), payload, headers={MSG_ID_HEADER: batch.batch_id}
            )
            result = await asyncio.wait_for(completed.get(), 30)
            if result.placed != 1:
                raise RuntimeError(f"{result.batch_id}: not placed: {result.results}")
            published[result.results[0].cl_ord_id] = published_ns
            await asyncio.sleep(GAP_S)
    finally:
        await subscription.unsubscribe()
    return published


def _quantiles(samples_ms: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return {
        "p50_ms": round(cuts[49], 3),
        "p95_ms": round(cuts[94], 3),
        "p99_ms": round(cuts[98], 3),
        "max_ms": round(max(samples_ms), 3),
        "batches": len(samples_ms),
    }


async def measure(
    batches: int = 200, warmup: int = WARMUP, rounds: int = ROUNDS, client_ids: bool = True
) -> dict[str, float]:
    """p50/p95/p99/max of the added latency in ms over ``batches`` single-order batches per
    router: the real one (``p50_ms`` …) and the unfenced one (``unfenced_p50_ms`` …), in
    alternating rounds of one run; ``fencing_p50_ms``/``fencing_p99_ms``: the difference.
    ``client_ids``: each order carries a client ``cl_ord_id`` (the real router then also
    records it in KV before placing); without, the router derives the ids."""
    run = uuid.uuid4().hex[:6]
    roots = {FENCED: f"lat{run}f", UNFENCED: f"lat{run}u"}
    rounds = max(1, min(rounds, batches))
    with running_nats_server() as server, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        second_key = {"key": UNFENCED_KEY, "secret": UNFENCED_SECRET, "account_of": DEFAULT_API_KEY}
        routers = {
            FENCED: (ROUTER_COMMAND, {}),
            UNFENCED: (
                ("bench.unfenced_router",),
                {
                    "KRAKEN_API_KEY": UNFENCED_KEY,
                    "KRAKEN_API_SECRET": UNFENCED_SECRET,
                    GUARD_ENV: GUARD_VALUE,
                },
            ),
        }
        published: dict[str, dict[str, int]] = {FENCED: {}, UNFENCED: {}}
        async with AsyncExitStack() as stack:
            sim = await stack.enter_async_context(
                sim_process(workdir, scenario={"accounts": [second_key]})
            )
            client = await nats.connect(server.url)
            stack.push_async_callback(client.close)
            for mode, (command, env) in routers.items():
                config_path = router_config(workdir, mode, server.url, roots[mode], sim)
                log = workdir / f"{mode}.log"
                await stack.enter_async_context(
                    router_process(client, roots[mode], config_path, log, command=command, env=env)
                )
            for mode in (FENCED, UNFENCED):
                warm = range(warmup)
                await _send_batches(client, Subjects(roots[mode]), warm, mode[0] + run, client_ids)
            per_round = -(-batches // rounds)
            for number in range(rounds):
                order = (FENCED, UNFENCED) if number % 2 == 0 else (UNFENCED, FENCED)
                first = warmup + number * per_round
                indices = range(first, min(first + per_round, warmup + batches))
                for mode in order:
                    sent = await _send_batches(
                        client, Subjects(roots[mode]), indices, mode[0] + run, client_ids
                    )
                    published[mode].update(sent)
            at_exchange = await sim.ledger_times()
    figures: dict[str, float] = {}
    for mode, prefix in ((FENCED, ""), (UNFENCED, "unfenced_")):
        added_ms = [(at_exchange[cl] - sent) / 1e6 for cl, sent in published[mode].items()]
        figures |= {f"{prefix}{key}": value for key, value in _quantiles(added_ms).items()}
    for cut in ("p50", "p99"):
        cost = figures[f"{cut}_ms"] - figures[f"unfenced_{cut}_ms"]
        figures[f"fencing_{cut}_ms"] = round(cost, 3)
    return figures


def report(result: dict[str, float]) -> None:
    print(
        f"OrderBatchRequested -> order at the exchange, router/sim/nats-server as processes, "
        f"{result['batches']:.0f} single-order batches per router, alternating rounds:"
    )
    for label, prefix in (("fencing+deadlines on ", ""), ("fencing+deadlines off", "unfenced_")):
        print(
            f"  {label}  p50 {result[prefix + 'p50_ms']:.2f} ms   "
            f"p95 {result[prefix + 'p95_ms']:.2f} ms   p99 {result[prefix + 'p99_ms']:.2f} ms   "
            f"max {result[prefix + 'max_ms']:.2f} ms"
        )
    print(
        f"  cost of fencing+deadlines: p50 {result['fencing_p50_ms']:+.2f} ms   "
        f"p99 {result['fencing_p99_ms']:+.2f} ms"
    )


def figures(batches: int = 200, *, client_ids: bool = True) -> dict[str, float]:
    """This bench's figures (printed) for the collected table (``bench.run_all``)."""
    result = asyncio.run(measure(batches, client_ids=client_ids))
    report(result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.order_latency")
    parser.add_argument("batches", nargs="?", type=int, default=200, help="per router")
    parser.add_argument(
        "--derived-ids", action="store_true", help="orders without a client cl_ord_id"
    )
    args = parser.parse_args()
    figures(args.batches, client_ids=not args.derived_ids)


if __name__ == "__main__":
    main()
