"""Order entry over WS v2 vs REST: completion time per strategy for 50 orders over 3 pairs
against the sim with 50 ms of latency on every order call (the same fault applies to
``AddOrder``/``AddOrderBatch`` and to WS ``add_order``/``batch_add``), default config
(``nonce_window: 0``), each the median of the runs that fit 1 s (at most 5). Ratios to
SEQUENTIAL-over-REST and to one round trip; then the added latency from
``OrderBatchRequested`` to the first order reaching the exchange (p50/p99).

The simulator and the router are separate processes, as deployed (see ``bench.batch_router``):
the exchange's CPU is not ours."""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from bench.batch_router import (
    FIRST_ORDER_SAMPLES,
    LATENCY_MS,
    ORDERS,
    PAIRS,
    _round_trip_s,
    time_strategies,
)
from bench.processes import sim_process
from kraken.credentials import Credentials
from kraken.rest import KrakenRestClient
from kraken.sim import DEFAULT_API_KEY, DEFAULT_API_SECRET, LatencyFault
from kraken.ws_trading import KrakenWsTrading
from schemas import (
    BatchStrategy,
    KrakenConfig,
    KrakenTier,
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
    with tempfile.TemporaryDirectory(prefix="gf-bench-sim-") as tmp:
        async with sim_process(Path(tmp)) as sim:
            await sim.add_faults(LatencyFault(endpoints=("AddOrder",), ms=LATENCY_MS))
            rest_rtt = await _round_trip_s(sim.rest_url)
            ws_rtt = await _ws_round_trip_s(sim.rest_url, sim.ws_auth_url)
            root = f"benchentry{order_entry.value}"
            kraken = {"order_entry": order_entry.value}
            times, added = await time_strategies(sim, nats_url, root, kraken)
            counts = (await sim.ledger())["requests"]
    if order_entry is OrderEntry.WS and not counts.get("ws:add_order"):
        raise RuntimeError(f"WS order entry was not used: {counts}")
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
