"""Added latency from ``OrderBatchRequested`` to the order at the exchange (issue 14 item 2),
with nats-server, the simulator and the batch router each a separate process, as deployed.

The bench process publishes single-order batches one after another, stamping each just before
the JetStream publish; the simulator's ledger records when it accepted each AddOrder (its
``time_ns``, the same host clock). Added latency = ledger time - publish time.

    python -m bench.order_latency [batches]     # default 200 (110 is the issue's minimum)
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import nats
import orjson
import yaml
from nats.aio.client import Client
from nats.aio.msg import Msg

from bus import Subjects, encode
from bus.codec import EVENTS
from bus.jetstream import MSG_ID_HEADER
from kraken.sim import DEFAULT_API_KEY, DEFAULT_API_SECRET
from schemas.events import BatchCompleted, OrderBatchRequested
from schemas.orders import BatchStrategy, OrderRequest, OrderSide, OrderType
from tests.support.nats_server import running_nats_server

__all__ = ["figures", "main", "measure"]

REPO_ROOT = Path(__file__).resolve().parents[1]
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "actors.cli.main", *args],
            cwd=REPO_ROOT,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@asynccontextmanager
async def _process(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> AsyncIterator[subprocess.Popen[bytes]]:
    process = _spawn(args, log, env)
    try:
        yield process
    finally:
        _stop(process)


async def _wait_for_sim(session: aiohttp.ClientSession, url: str, sim: Any) -> None:
    async with asyncio.timeout(30):
        while True:
            if sim.poll() is not None:
                raise RuntimeError(f"the simulator exited with {sim.returncode}")
            try:
                async with session.get(f"{url}/0/public/Time") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)


async def _wait_for_router(client: Client, subjects: Subjects, router: Any, log: Path) -> None:
    async with asyncio.timeout(60):
        while True:
            if router.poll() is not None:
                raise RuntimeError(f"the router exited with {router.returncode}: see {log}")
            try:
                endpoint = subjects.service_endpoint("batch-router", "health")
                await client.request(endpoint, b"", timeout=1.0)
                return
            except Exception:  # no responders yet, or a timeout
                await asyncio.sleep(0.2)


def _batch(index: int, run: str) -> OrderBatchRequested:
    now = time.time_ns()
    pair, volume = VOLUMES[index % len(VOLUMES)]
    order = OrderRequest(
        pair=pair,
        side=OrderSide.BUY if index // len(VOLUMES) % 2 == 0 else OrderSide.SELL,
        order_type=OrderType.MARKET,
        volume=volume,
        cl_ord_id=f"lat{run}{index}",
    )
    return OrderBatchRequested(
        ts_event=now,
        ts_init=now,
        batch_id=f"lat-{run}-{index}",
        orders=(order,),
        strategy=BatchStrategy.SEQUENTIAL,
    )


async def _send_batches(client: Client, subjects: Subjects, count: int, run: str) -> dict[str, int]:
    """Publish ``count`` single-order batches one at a time; the publish time per cl_ord_id."""
    completed: asyncio.Queue[BatchCompleted] = asyncio.Queue()

    async def on_completed(msg: Msg) -> None:
        event = EVENTS.decode(msg.data)
        if isinstance(event, BatchCompleted):
            completed.put_nowait(event)

    subscription = await client.subscribe(subjects.batch_completed(), cb=on_completed)
    js = client.jetstream()
    published: dict[str, int] = {}
    try:
        for index in range(count):
            batch = _batch(index, run)
            payload = encode(batch)
            published_ns = time.time_ns()
            await js.publish(
                subjects.batch_requested(), payload, headers={MSG_ID_HEADER: batch.batch_id}
            )
            result = await asyncio.wait_for(completed.get(), 30)
            if result.placed != 1:
                raise RuntimeError(f"{result.batch_id}: not placed: {result.results}")
            cl_ord_id = batch.orders[0].cl_ord_id
            assert cl_ord_id is not None
            published[cl_ord_id] = published_ns
            await asyncio.sleep(GAP_S)
    finally:
        await subscription.unsubscribe()
    return published


async def _ledger_times(session: aiohttp.ClientSession, url: str) -> dict[str, int]:
    async with session.get(f"{url}/sim/ledger") as response:
        body = orjson.loads(await response.read())
    return {entry["cl_ord_id"]: int(entry["time_ns"]) for entry in body["orders"]}


def _quantiles(samples_ms: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return {
        "p50_ms": round(cuts[49], 3),
        "p95_ms": round(cuts[94], 3),
        "p99_ms": round(cuts[98], 3),
        "max_ms": round(max(samples_ms), 3),
        "batches": len(samples_ms),
    }


async def measure(batches: int = 200, warmup: int = WARMUP) -> dict[str, float]:
    """p50/p95/p99/max of the added latency in ms over ``batches`` single-order batches."""
    run = uuid.uuid4().hex[:6]
    root = f"lat{run}"
    subjects = Subjects(root)
    with running_nats_server() as server, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        port = _free_port()
        sim_url = f"http://127.0.0.1:{port}"
        config = {
            "nats": {"url": server.url, "subject_root": root},
            "kraken": {
                "rest_url": sim_url,
                "ws_url": f"ws://127.0.0.1:{port}/ws/v2",
                "tier": "pro",
            },
            "execution": {"risk_check_enabled": False},
        }
        config_path = workdir / "router.yaml"
        config_path.write_text(yaml.safe_dump(config))
        router_env = {
            "GF_CONFIG": str(config_path),
            "KRAKEN_API_KEY": DEFAULT_API_KEY,
            "KRAKEN_API_SECRET": DEFAULT_API_SECRET,
            "GF_LOG_LEVEL": "warning",
        }
        sim_args = ["sim", "--port", str(port), "--tier", "pro", "--seed", "11"]
        router_log = workdir / "router.log"
        async with AsyncExitStack() as stack:
            session = await stack.enter_async_context(aiohttp.ClientSession())
            sim = await stack.enter_async_context(_process(sim_args, workdir / "sim.log"))
            await _wait_for_sim(session, sim_url, sim)
            router = await stack.enter_async_context(
                _process(["actor", "batch-router"], router_log, router_env)
            )
            client = await nats.connect(server.url)
            stack.push_async_callback(client.close)
            await _wait_for_router(client, subjects, router, router_log)
            published = await _send_batches(client, subjects, warmup + batches, run)
            at_exchange = await _ledger_times(session, sim_url)
    order = sorted(published, key=published.__getitem__)[warmup:]
    added_ms = [(at_exchange[cl] - published[cl]) / 1e6 for cl in order]
    return _quantiles(added_ms)


def report(result: dict[str, float]) -> None:
    print(
        f"OrderBatchRequested -> order at the exchange, router/sim/nats-server as processes, "
        f"{result['batches']:.0f} single-order batches:"
    )
    print(
        f"  p50 {result['p50_ms']:.2f} ms   p95 {result['p95_ms']:.2f} ms   "
        f"p99 {result['p99_ms']:.2f} ms   max {result['max_ms']:.2f} ms"
    )


def figures(batches: int = 200) -> dict[str, float]:
    """This bench's figures (printed) for the collected table (``bench.run_all``)."""
    result = asyncio.run(measure(batches))
    report(result)
    return result


def main() -> None:
    figures(int(sys.argv[1]) if len(sys.argv) > 1 else 200)


if __name__ == "__main__":
    main()
