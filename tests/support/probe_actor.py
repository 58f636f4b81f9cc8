"""A small actor for runtime tests: records what it handles; can crash, stall or reply.

Runs in-process (``ProbeActor``) or as a child process:
``python -m tests.support.probe_actor NATS_URL SUBJECT_ROOT``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import msgspec

from bus import Actor, Delivery, JetStreamConsumer, Subjects, Subscription, run_actor
from bus.errors import WorkHandedOver
from schemas import (
    BatchStrategy,
    GalFridayConfig,
    NatsConfig,
    OrderBatchRequested,
    PriceQuery,
    PriceQueryReply,
    PriceUpdated,
    TradingHalted,
    TradingResumed,
)

__all__ = ["ProbeActor", "batch", "quote"]


def quote(pair: str = "BTC/USD", bid: str = "100") -> PriceUpdated:
    price = Decimal(bid)
    return PriceUpdated(
        ts_event=1,
        ts_init=1,
        pair=pair,
        bid=price,
        ask=price + 1,
        last=price,
        bid_size=Decimal(1),
        ask_size=Decimal(1),
        volume_24h=Decimal(10),
        vwap_24h=price,
        source="ws",  # type: ignore[arg-type]
    )


def batch(batch_id: str) -> OrderBatchRequested:
    return OrderBatchRequested(
        ts_event=1, ts_init=1, batch_id=batch_id, orders=(), strategy=BatchStrategy.SEQUENTIAL
    )


@dataclass
class ProbeActor(Actor):
    name = "probe"
    quotes: list[PriceUpdated] = field(default_factory=list)
    batches: list[tuple[str, int]] = field(default_factory=list)
    halts: list[str] = field(default_factory=list)
    slow_seconds: float = 1.5
    stuck: bool = False
    started: list[str] = field(default_factory=list)
    """A ``stuck-*`` batch never ends while set (a handler that ignores the stop)."""
    crashed: set[str] = field(default_factory=set)

    def subscriptions(self, subjects: Subjects) -> Sequence[Subscription]:
        return (
            Subscription(subjects.price_all(), (PriceUpdated,)),
            Subscription(
                subjects.batch_requested(),
                (OrderBatchRequested,),
                consumer=JetStreamConsumer("batches", max_deliver=3, backoff_s=(0.1, 0.2)),
                concurrency=4,
            ),
            Subscription(subjects.price_query(), (PriceQuery,), replies=True),
            Subscription(subjects.kill_switch(), (TradingHalted,), concurrency=4),
        )

    async def on_price_updated(self, event: PriceUpdated, delivery: Delivery) -> None:
        self.quotes.append(event)

    async def on_order_batch_requested(
        self, event: OrderBatchRequested, delivery: Delivery
    ) -> None:
        self.started.append(event.batch_id)
        if event.batch_id.startswith("crash") and event.batch_id not in self.crashed:
            self.crashed.add(event.batch_id)
            raise RuntimeError("handler crashed on purpose")
        if event.batch_id.startswith("handed-over"):
            raise WorkHandedOver("another instance owns it now")
        if event.batch_id.startswith("always-crash"):
            raise RuntimeError("handler always crashes")
        if event.batch_id.startswith("slow"):
            await asyncio.sleep(self.slow_seconds)
        if event.batch_id.startswith("stuck") and self.stuck:
            await asyncio.Event().wait()
        self.batches.append((event.batch_id, delivery.num_delivered))

    async def on_trading_halted(self, event: TradingHalted, delivery: Delivery) -> None:
        if event.reason == "slow":
            await asyncio.sleep(self.slow_seconds)
        if event.reason == "echo":
            resumed = TradingResumed(ts_event=2, ts_init=2, reason="echoed")
            await self.context.publish(self.context.subjects.kill_switch(), resumed)
        self.halts.append(event.reason)

    async def on_price_query(self, query: PriceQuery, delivery: Delivery) -> PriceQueryReply:
        return PriceQueryReply(pair=query.pair, quote=quote(query.pair), age_ns=0, stale=False)

    def health(self) -> dict[str, object]:
        return {"quotes": len(self.quotes), "batches": len(self.batches)}


async def _main(url: str, root: str) -> None:
    config = msgspec.structs.replace(GalFridayConfig(), nats=NatsConfig(url=url, subject_root=root))
    await run_actor(ProbeActor(), config)


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], sys.argv[2]))
