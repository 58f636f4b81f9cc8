"""Chaos: the router process is killed with SIGKILL again and again in the middle of its batches,
and restarted each time. Orders are market orders (they FILL, so a second placement would really
land). Judged on the simulator's ledger: every intended order exactly once, no order the bus did
not report, one ``BatchCompleted`` per batch.

``GF_CHAOS_BATCHES`` / ``GF_CHAOS_ORDERS`` / ``GF_CHAOS_KILLS`` size it (``make chaos`` runs it
large; CI runs the small default).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import nats
import pytest
import pytest_asyncio
import yaml
from nats.aio.client import Client

from bus import Subjects
from kraken.sim import DEFAULT_BALANCES, LatencyFault, RunningSim, SimOptions, running_sim
from schemas import GalFridayConfig
from schemas.events import BatchCompleted, KrakenCallFailed, OrderFailed, OrderOutcome
from schemas.orders import BatchStrategy, OrderRequest, OrderSide, OrderType
from tests.integration.test_batch_router_actor import (
    Observer,
    _spawn_router,
    _stored_completions,
    _wait_until_serving,
    batch_of,
    submit,
)
from tests.support.waiting import eventually

pytestmark = [pytest.mark.nats, pytest.mark.sim, pytest.mark.timeout(1800)]

BATCHES = int(os.environ.get("GF_CHAOS_BATCHES", "3"))
ORDERS = int(os.environ.get("GF_CHAOS_ORDERS", "5"))
KILLS = int(os.environ.get("GF_CHAOS_KILLS", "2"))


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    balances = {**DEFAULT_BALANCES, "ZUSD": Decimal(10**12)}
    async with running_sim(
        SimOptions(auto_tick=False, seed=5, balances=balances, tier="pro")
    ) as running:
        running.exchange.set_price("BTC/USD", Decimal(100_000))
        yield running


@pytest_asyncio.fixture
async def client(bus_config: GalFridayConfig) -> AsyncIterator[Client]:
    connection = await nats.connect(bus_config.nats.url)
    yield connection
    await connection.drain()


def _market(volume: str) -> OrderRequest:
    return OrderRequest(
        pair="BTC/USD", side=OrderSide.BUY, order_type=OrderType.MARKET, volume=Decimal(volume)
    )


@pytest.mark.parametrize("order_entry", ["rest", "ws"])
async def test_router_killed_repeatedly_places_every_order_exactly_once(
    order_entry: str, bus_config: GalFridayConfig, sim: RunningSim, client: Client, tmp_path: Path
) -> None:
    subjects = Subjects(bus_config.nats.subject_root)
    observer = Observer()
    for subject in (
        subjects.order_events_all(),
        subjects.batch_completed(),
        subjects.kraken_calls_all(),
    ):
        await client.subscribe(subject, cb=observer.on_message)
    sim.exchange.faults.add(LatencyFault(endpoints=("AddOrder",), ms=40))
    config_path = tmp_path / "router.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "nats": {"url": bus_config.nats.url, "subject_root": subjects.root},
                "kraken": {
                    "rest_url": sim.rest_url,
                    "ws_url": sim.ws_url,
                    "tier": "pro",
                    "order_entry": order_entry,
                },
                "execution": {
                    "risk_check_enabled": False,
                    "reconcile_delay_s": 0.1,
                    "batch_ack_wait_s": 2.0,
                    "placement_deadline_s": 2.0,
                    "absent_margin_s": 0.5,
                    "batch_timeout": 600.0,
                    "max_batch_size": max(50, ORDERS),
                },
            }
        )
    )
    rng = random.Random(13)
    batch_ids = [f"chaos-{n}" for n in range(BATCHES)]
    router = _spawn_router(config_path)
    try:
        await _wait_until_serving(client, subjects)
        for batch_id in batch_ids:
            orders = [_market("0.0001")] * ORDERS
            await submit(client, subjects, batch_of(batch_id, orders, BatchStrategy.SEQUENTIAL))
        total = BATCHES * ORDERS
        for kill in range(KILLS):
            target = (kill + 1) * total // (KILLS + 1)
            await eventually(lambda t=target: len(sim.exchange.ledger()) >= t, timeout=600)
            await asyncio.sleep(rng.uniform(0, 0.2))
            router.send_signal(signal.SIGKILL)
            router.wait(timeout=10)
            router = _spawn_router(config_path)
        completed_ids = lambda: {c.batch_id for c in observer.of_type(BatchCompleted)}  # noqa: E731
        await eventually(lambda: completed_ids() >= set(batch_ids), timeout=60 + 10 * BATCHES)
    finally:
        router.terminate()
        router.wait(timeout=15)
    ledger = sim.exchange.ledger()
    per_id = Counter(entry.cl_ord_id for entry in ledger)
    duplicated = sum(count - 1 for count in per_id.values())
    completions = {c.batch_id: c for c in observer.of_type(BatchCompleted)}
    placed = {
        r.cl_ord_id: r.txid
        for c in completions.values()
        for r in c.results
        if r.outcome is OrderOutcome.PLACED
    }
    lost = total - len(placed)
    print(
        f"\nchaos kill -9 over {order_entry}: batches={BATCHES} orders={total} kills={KILLS} "
        f"placed={len(ledger)} duplicated={duplicated} lost={lost}"
    )
    print(Counter(f.detail for f in observer.of_type(OrderFailed)))
    print(Counter((f.endpoint, f.errors) for f in observer.of_type(KrakenCallFailed)))
    assert duplicated == 0
    assert lost == 0
    assert {entry.cl_ord_id: entry.txid for entry in ledger} == placed  # none unreported
    assert await _stored_completions(client, subjects) == BATCHES
