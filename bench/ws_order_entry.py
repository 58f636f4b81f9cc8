"""Order entry over WS v2 vs REST: completion time per strategy for 50 orders over 3 pairs
against the sim with 50 ms of latency on every order call (the same fault applies to
``AddOrder``/``AddOrderBatch`` and to WS ``add_order``/``batch_add``), default config
(``nonce_window: 0``). Ratios to SEQUENTIAL-over-REST and to one round trip; then the added
latency from ``OrderBatchRequested`` to the first order reaching the exchange (p50/p99)."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from decimal import Decimal

import msgspec
import nats

from actors.batch_router.shell import BatchRouterActor
from bench.batch_router import (
    FIRST_ORDER_SAMPLES,
    LATENCY_MS,
    ORDERS,
    PAIRS,
    _orders,
    _publish_prices,
    _round_trip_s,
    _run_batch,
)
from bus import ActorRunner, Subjects
from bus.codec import EVENTS
from kraken.credentials import Credentials
from kraken.rest import KrakenRestClient
from kraken.sim import DEFAULT_API_KEY, DEFAULT_API_SECRET, LatencyFault, SimOptions, running_sim
from kraken.ws_trading import KrakenWsTrading
from schemas import (
    BatchCompleted,
    BatchStrategy,
    GalFridayConfig,
    KrakenConfig,
    KrakenTier,
    NatsConfig,
    OrderRequest,
    OrderSide,
    OrderType,
)
from schemas.config import OrderEntry

Timings = dict[BatchStrategy, float]


async def _ws_round_trip_s(sim_url: str, ws_auth_url: str) -> float:
    credentials = Credentials(api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET)
    config = KrakenConfig(rest_url=sim_url, tier=KrakenTier.PRO)
    order = OrderRequest(
        pair="BTC/USD", side=OrderSide.BUY, order_type=OrderType.LIMIT,
        volume=Decimal("0.001"), price=Decimal(90_000),
    )  # fmt: skip
    samples = []
    async with (
        KrakenRestClient(config, credentials=credentials) as rest,
        KrakenWsTrading(ws_auth_url, rest.get_websockets_token) as ws,
    ):
        for _ in range(5):
            started = time.perf_counter()
            await ws.add_order(order, symbol="BTC/USD", validate=True)
            samples.append(time.perf_counter() - started)
    return min(samples)


async def measure(
    nats_url: str, order_entry: OrderEntry
) -> tuple[float, float, Timings, list[float]]:
    async with running_sim(SimOptions(tier="pro", seed=11)) as sim:
        root = f"benchentry{order_entry.value}"
        kraken = KrakenConfig(
            rest_url=sim.rest_url, ws_url=sim.ws_url, tier=KrakenTier.PRO, order_entry=order_entry
        )
        config = msgspec.structs.replace(
            GalFridayConfig(), nats=NatsConfig(url=nats_url, subject_root=root), kraken=kraken
        )
        config = msgspec.structs.replace(
            config,
            execution=msgspec.structs.replace(
                config.execution, risk_check_enabled=False, max_batch_exposure=Decimal(10**9)
            ),
        )
        subjects = Subjects(root)
        credentials = Credentials(api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET)
        completed: dict[str, asyncio.Future[BatchCompleted]] = {}
        client = await nats.connect(nats_url)

        async def on_completed(msg: object) -> None:
            event = EVENTS.decode(msg.data)  # type: ignore[attr-defined]
            future = completed.get(getattr(event, "batch_id", ""))
            if isinstance(event, BatchCompleted) and future is not None and not future.done():
                future.set_result(event)

        await client.subscribe(subjects.batch_completed(), cb=on_completed)
        actor = BatchRouterActor(config=config, credentials=credentials)
        async with ActorRunner(actor, config):
            latency = LatencyFault(endpoints=("AddOrder", "AddOrderBatch"), ms=LATENCY_MS)
            sim.exchange.faults.add(latency)
            rest_rtt = await _round_trip_s(sim.rest_url)
            ws_rtt = await _ws_round_trip_s(sim.rest_url, sim.ws_auth_url)
            times: Timings = {}
            for strategy in BatchStrategy:
                sim.exchange.reset()  # fresh books and rate counters; also clears faults
                sim.exchange.faults.add(latency)
                await _publish_prices(client, subjects)
                elapsed, _ = await _run_batch(
                    client, subjects, completed, f"bench-{strategy.value}", _orders(ORDERS),
                    strategy,
                )  # fmt: skip
                times[strategy] = elapsed
            added: list[float] = []
            for index in range(FIRST_ORDER_SAMPLES):
                sim.exchange.reset()
                _, published_ns = await _run_batch(
                    client, subjects, completed, f"first-{index}", _orders(1),
                    BatchStrategy.SEQUENTIAL,
                )  # fmt: skip
                first = min(entry.time_ns for entry in sim.exchange.ledger())
                added.append((first - published_ns) / 1e6)
            counts = sim.exchange.request_counts()
            if order_entry is OrderEntry.WS and not counts.get("ws:add_order"):
                raise RuntimeError(f"WS order entry was not used: {counts}")
        await client.close()
    return rest_rtt, ws_rtt, times, added


def _report(title: str, times: Timings, baseline: float, lower_bound: float) -> None:
    print(f"  {title}")
    for strategy, elapsed in times.items():
        print(f"    {strategy.value:<14} {elapsed * 1e3:8.1f} ms   "
              f"vs SEQUENTIAL-over-REST {baseline / elapsed:5.2f}x   "
              f"{elapsed / lower_bound:6.2f}x the round-trip lower bound")  # fmt: skip


async def main_async(nats_url: str) -> dict[str, float]:
    rest_rtt, ws_rtt, over_rest, rest_added = await measure(nats_url, OrderEntry.REST)
    _, _, over_ws, ws_added = await measure(nats_url, OrderEntry.WS)
    baseline = over_rest[BatchStrategy.SEQUENTIAL]
    lower_bound = min(rest_rtt, ws_rtt)
    print(f"order entry, {ORDERS} limit orders over {len(PAIRS)} pairs, {LATENCY_MS:.0f} ms sim "
          "latency on order calls, default config (nonce_window 0)")  # fmt: skip
    print(f"  one round trip: AddOrder {rest_rtt * 1e3:.1f} ms, WS add_order "
          f"{ws_rtt * 1e3:.1f} ms (lower bound {lower_bound * 1e3:.1f} ms)")  # fmt: skip
    _report("over REST", over_rest, baseline, lower_bound)
    _report("over WS", over_ws, baseline, lower_bound)
    found: dict[str, float] = {"round_trip_lower_bound_ms": lower_bound * 1e3}
    for label, times in (("rest", over_rest), ("ws", over_ws)):
        for strategy, elapsed in times.items():
            found[f"{strategy.value.lower()}_over_{label}_x_sequential_rest"] = baseline / elapsed
        found[f"smart_routing_over_{label}_x_lower_bound"] = (
            times[BatchStrategy.SMART_ROUTING] / lower_bound
        )
    for name, added in (("REST", rest_added), ("WS", ws_added)):
        quantiles = statistics.quantiles(added, n=100)
        print(f"  OrderBatchRequested -> order at the exchange over {name} "
              f"({FIRST_ORDER_SAMPLES} batches): p50 {quantiles[49]:.2f} ms, "
              f"p99 {quantiles[98]:.2f} ms")  # fmt: skip
        found[f"request_to_wire_{name.lower()}_p50_ms"] = quantiles[49]
        found[f"request_to_wire_{name.lower()}_p99_ms"] = quantiles[98]
    return found


def figures() -> dict[str, float]:
    """This bench's figures (printed as it always did) for ``bench.run_all``."""
    from tests.support.nats_server import running_nats_server

    with running_nats_server() as server:
        return asyncio.run(main_async(server.url))


def main() -> int:
    figures()
    return 0


if __name__ == "__main__":
    sys.exit(main())
