"""Seeded hostile messages for every subject the actors consume, each with the actors that must
dead-letter it. Every kind named in issue 9: undecodable bytes, truncated messages, the wrong
type on a subject, numbers that throw, deep nesting, oversized payloads, forged future
timestamps and unknown tags. None of them is a valid message for its subject, so every one
must end in the dead-letter queue of every actor that consumes the subject."""

from __future__ import annotations

import hashlib
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec

from bus import Subjects, encode
from bus.dispatch import MAX_PAYLOAD_BYTES
from schemas.events import (
    BatchCompleted,
    BreakerState,
    CircuitBreakerStateChanged,
    ExchangeStatus,
    ExchangeStatusChanged,
    KrakenCallFailed,
    OperationKind,
    OrderBatchRequested,
    PriceSource,
    PriceUpdated,
    TradingHalted,
    TradingResumed,
)
from schemas.orders import BatchStrategy, OrderRequest, OrderSide, OrderType
from schemas.queries import PriceQuery
from tests.support.strategies import HOSTILE_DECIMALS

__all__ = ["HOSTILE_CL_ORD_PREFIX", "Hostile", "dlq_key", "hostile_messages"]

HOSTILE_CL_ORD_PREFIX = "fz"
"""Every order inside a hostile message carries this prefix: none may reach the ledger."""
FAR_FUTURE_NS = 2**63 - 1
_DLQ_PAYLOAD_KEEP = 64 * 1024


@dataclass(frozen=True)
class Hostile:
    kind: str
    subject: str
    payload: bytes
    consumers: tuple[str, ...]
    """The actors that consume ``subject`` and must each dead-letter this message."""
    stored: bool
    """Published through JetStream (the subject is a stream's)."""

    @property
    def key(self) -> str:
        return dlq_key(self.subject, self.payload)


def dlq_key(subject: str, payload: bytes) -> str:
    """How a message is recognised in the dead-letter queue, which keeps its first 64 KiB."""
    return subject + ":" + hashlib.sha256(payload[:_DLQ_PAYLOAD_KEEP]).hexdigest()


def _consumed(subjects: Subjects) -> list[tuple[str, tuple[str, ...], bool, tuple[type, ...]]]:
    """(subject, consuming actors, stored in a stream, types the subject accepts)."""
    router, classifier, market = "batch-router", "error-classifier", "market-data"
    return [
        (subjects.batch_requested(), (router,), True, (OrderBatchRequested,)),
        (subjects.price("BTC/USD"), (router,), False, (PriceUpdated,)),
        (subjects.stale("BTC/USD"), (router,), True, ()),
        (subjects.volatility("ETH/USD"), (router,), True, ()),
        (subjects.breaker("kraken.trading"), (router, market), True, (CircuitBreakerStateChanged,)),
        (subjects.kill_switch(), (router,), True, (TradingHalted, TradingResumed)),
        (subjects.kraken_call("failed"), (classifier,), True, (KrakenCallFailed,)),
        (subjects.exchange_status(), (classifier,), True, (ExchangeStatusChanged,)),
        (subjects.verdict(), (classifier,), False, ()),
        (subjects.price_query(), (market,), False, (PriceQuery,)),
        (subjects.status_query(), (market,), False, ()),
    ]


def _order(rng: random.Random, volume: str = "0.001") -> dict[str, Any]:
    return {
        "pair": "BTC/USD",
        "side": "buy",
        "order_type": "market",
        "volume": volume,
        "cl_ord_id": f"{HOSTILE_CL_ORD_PREFIX}{rng.randrange(10**12)}",
    }


def _valid_pool(rng: random.Random, now_ns: int) -> list[msgspec.Struct]:
    price = Decimal(100_000)
    order = OrderRequest(
        pair="BTC/USD",
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        volume=Decimal("0.001"),
        cl_ord_id=f"{HOSTILE_CL_ORD_PREFIX}{rng.randrange(10**12)}",
    )
    return [
        OrderBatchRequested(
            ts_event=now_ns,
            ts_init=now_ns,
            batch_id=f"fz-{rng.randrange(10**12)}",
            orders=(order,),
            strategy=BatchStrategy.SEQUENTIAL,
        ),
        PriceUpdated(
            ts_event=now_ns,
            ts_init=now_ns,
            pair="BTC/USD",
            bid=price,
            ask=price,
            last=price,
            bid_size=Decimal(1),
            ask_size=Decimal(1),
            volume_24h=Decimal(1),
            vwap_24h=price,
            source=PriceSource.WS,
        ),
        TradingResumed(ts_event=now_ns, ts_init=now_ns, reason="fuzz"),
        TradingHalted(ts_event=now_ns, ts_init=now_ns, reason="fuzz"),
        CircuitBreakerStateChanged(
            ts_event=now_ns,
            ts_init=now_ns,
            scope="kraken.trading",
            state=BreakerState.OPEN,
            previous=BreakerState.CLOSED,
            reason="fuzz",
            since_ns=now_ns,
        ),
        ExchangeStatusChanged(
            ts_event=now_ns,
            ts_init=now_ns,
            exchange="kraken",
            status=ExchangeStatus.MAINTENANCE,
            previous=ExchangeStatus.ONLINE,
            source="rest",
            can_place=False,
            can_cancel=False,
        ),
        BatchCompleted(
            ts_event=now_ns,
            ts_init=now_ns,
            batch_id="fz",
            strategy=BatchStrategy.SEQUENTIAL,
            results=(),
            total=0,
            placed=0,
            rejected=0,
            failed=0,
            success_rate=0.0,
            duration_ns=0,
            retries=0,
            api_calls=0,
            exposure_used=Decimal(0),
        ),
        KrakenCallFailed(
            ts_event=now_ns,
            ts_init=now_ns,
            scope="kraken.trading",
            endpoint="AddOrder",
            operation=OperationKind.PLACE,
            latency_ns=1,
            errors=("EService:Unavailable",),
        ),
        PriceQuery(pair="BTC/USD"),
    ]


def _deep(fields: dict[str, Any], depth: int) -> bytes:
    inner: Any = 0
    for _ in range(depth):
        inner = [inner]
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(depth * 4)
    try:
        return msgspec.msgpack.encode({**fields, "padding": inner})
    finally:
        sys.setrecursionlimit(limit)


def hostile_messages(subjects: Subjects, count: int, seed: int, now_ns: int) -> Iterator[Hostile]:
    """``count`` hostile messages, spread over every consumed subject, reproducible by seed."""
    rng = random.Random(seed)
    targets = _consumed(subjects)
    pool = _valid_pool(rng, now_ns)

    def accepted(types: tuple[type, ...]) -> list[msgspec.Struct]:
        return [m for m in pool if isinstance(m, types)] if types else []

    def random_bytes(types: tuple[type, ...]) -> bytes:
        return bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 300)))

    def truncated(types: tuple[type, ...]) -> bytes:
        whole = encode(rng.choice(pool))
        return whole[: rng.randrange(1, len(whole))]

    def wrong_type(types: tuple[type, ...]) -> bytes:
        return encode(rng.choice([m for m in pool if not isinstance(m, types)]))

    def hostile_number(types: tuple[type, ...]) -> bytes:
        bad = rng.choice(HOSTILE_DECIMALS)
        if OrderBatchRequested in types:
            fields = msgspec.to_builtins(pool[0])
            fields["batch_id"] = f"fz-{rng.randrange(10**12)}"
            fields["orders"] = [_order(rng, volume=bad)]
            return msgspec.msgpack.encode(fields)
        fields = msgspec.to_builtins(pool[1])
        fields[rng.choice(["bid", "ask", "last", "bid_size"])] = bad
        return msgspec.msgpack.encode(fields)

    def deep(types: tuple[type, ...]) -> bytes:
        base = accepted(types) or pool
        return _deep(msgspec.to_builtins(rng.choice(base)), rng.randrange(2_000, 20_000))

    def oversized(types: tuple[type, ...]) -> bytes:
        fields = msgspec.to_builtins(rng.choice(accepted(types) or pool))
        fields["padding"] = rng.randbytes(MAX_PAYLOAD_BYTES + 1)
        return msgspec.msgpack.encode(fields)

    def future(types: tuple[type, ...]) -> bytes:
        timestamped = [m for m in accepted(types) if hasattr(m, "ts_event")]
        message = rng.choice(timestamped or [m for m in pool if hasattr(m, "ts_event")])
        if not timestamped:
            return encode(message)  # the wrong type anyway
        return encode(msgspec.structs.replace(message, ts_event=FAR_FUTURE_NS))

    def unknown_tag(types: tuple[type, ...]) -> bytes:
        return msgspec.msgpack.encode({"type": f"no.such.{rng.randrange(1000)}", "ts_event": 1})

    kinds: list[tuple[str, Callable[[tuple[type, ...]], bytes], int]] = [
        ("random_bytes", random_bytes, 20),
        ("truncated", truncated, 15),
        ("wrong_type", wrong_type, 20),
        ("hostile_number", hostile_number, 15),
        ("deep_nesting", deep, 8),
        ("oversized", oversized, 2),
        ("future_timestamp", future, 10),
        ("unknown_tag", unknown_tag, 10),
    ]
    weights = [weight for _, _, weight in kinds]
    for _ in range(count):
        subject, consumers, stored, types = rng.choice(targets)
        kind, make, _weight = rng.choices(kinds, weights)[0]
        yield Hostile(kind, subject, make(types), consumers, stored)
