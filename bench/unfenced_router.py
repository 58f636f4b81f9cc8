"""The batch router with ownership fencing and placement deadlines switched OFF, for
``bench.order_latency`` alone: it measures what they cost, side by side with the real router.

UNSAFE: without the per-batch lease two routers can place one batch twice, and without a
deadline a lost answer cannot be proven absent. No config key reaches this: it exists only as
this module, and it refuses to start unless ``GF_BENCH_UNFENCED=unsafe-bench-only`` is set.

    GF_BENCH_UNFENCED=unsafe-bench-only python -m bench.unfenced_router --config F
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Sequence

from actors.batch_router.batch_sizing import ChunkPlan
from actors.batch_router.kraken_gateway import KrakenGateway
from actors.batch_router.ports import (
    BatchPlacementReply,
    ExchangeGateway,
    LookupResult,
    OrderLookup,
    PairRules,
    PlacementReply,
)
from actors.batch_router.shell import BatchRouterActor, resolve_credentials
from actors.batch_router.ws_gateway import WsOrderGateway
from bus.actor import Delivery
from bus.logs import setup_logging
from bus.runtime import run_actor
from kraken.send_deadline import SendDeadline
from schemas import load_config
from schemas.events import BatchCompleted, OrderBatchRequested
from schemas.orders import OrderRequest

__all__ = ["GUARD_ENV", "GUARD_VALUE", "UnfencedBatchRouter", "main"]

GUARD_ENV = "GF_BENCH_UNFENCED"
GUARD_VALUE = "unsafe-bench-only"


class _WithoutDeadlines:
    """The router's gateway, sending every placement without a Kraken ``deadline``."""

    def __init__(self, inner: KrakenGateway | WsOrderGateway) -> None:
        self._inner = inner

    def pair_rules(self, pair: str) -> PairRules | None:
        return self._inner.pair_rules(pair)

    def clock_ahead_ns(self) -> int:
        return self._inner.clock_ahead_ns()

    def chunk_plan(self, pair: str, order_count: int) -> ChunkPlan | None:
        return self._inner.chunk_plan(pair, order_count)

    async def find_orders(self, lookups: Sequence[OrderLookup]) -> dict[str, LookupResult]:
        return await self._inner.find_orders(lookups)

    async def add_order(
        self,
        order: OrderRequest,
        cl_ord_id: str,
        *,
        deadline: SendDeadline | None,
        validate: bool,
        probe: bool,
    ) -> PlacementReply:
        return await self._inner.add_order(
            order, cl_ord_id, deadline=None, validate=validate, probe=probe
        )

    async def add_order_batch(
        self,
        pair: str,
        orders: Sequence[tuple[OrderRequest, str]],
        *,
        deadline: SendDeadline | None,
        validate: bool,
        probe: bool,
    ) -> BatchPlacementReply:
        return await self._inner.add_order_batch(
            pair, orders, deadline=None, validate=validate, probe=probe
        )


class UnfencedBatchRouter(BatchRouterActor):
    """No batch claim, lease, outcome journal or client-id record; no placement deadline."""

    async def _claimed_run(
        self, event: OrderBatchRequested, delivery: Delivery, warm_up: Awaitable[None]
    ) -> BatchCompleted | None:
        await warm_up
        return await self._run_batch(
            event, self.processor.process(event, resume=delivery.redelivered)
        )

    async def _order_gateway(self, rest: KrakenGateway) -> KrakenGateway | WsOrderGateway:
        gateway: ExchangeGateway = _WithoutDeadlines(await super()._order_gateway(rest))
        return gateway  # type: ignore[return-value]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.unfenced_router")
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    if os.environ.get(GUARD_ENV) != GUARD_VALUE:
        print(
            f"bench.unfenced_router: refused: it places orders without fencing or deadlines; "
            f"set {GUARD_ENV}={GUARD_VALUE} (benchmarks only)",
            file=sys.stderr,
        )
        return 2
    config = load_config(args.config)
    setup_logging("batch-router-unfenced", logging.WARNING)
    actor = UnfencedBatchRouter(config=config, credentials=resolve_credentials(config.kraken))
    asyncio.run(run_actor(actor, config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
