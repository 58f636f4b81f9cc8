"""How each strategy orders and groups a batch's orders (pure planning; the executor runs it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TypeVar

from schemas.orders import OrderRequest, OrderType

__all__ = [
    "MAX_EXCHANGE_BATCH",
    "MIN_EXCHANGE_BATCH",
    "risk_aware_sequence",
    "smart_routing_plan",
    "split_evenly",
]

MIN_EXCHANGE_BATCH = 2
MAX_EXCHANGE_BATCH = 15
"""Kraken's ``AddOrderBatch`` takes 2–15 orders of one pair."""

_T = TypeVar("_T")


def split_evenly(items: Sequence[_T], max_size: int) -> list[list[_T]]:
    """Fewest chunks of at most ``max_size``, sizes differing by at most one.

    16 becomes 8 + 8 rather than 15 + 1, so no chunk is left as a lone single when the
    group is larger than one exchange batch.
    """
    if not items:
        return []
    count = -(-len(items) // max_size)
    size, extra = divmod(len(items), count)
    chunks: list[list[_T]] = []
    start = 0
    for number in range(count):
        end = start + size + (1 if number < extra else 0)
        chunks.append(list(items[start:end]))
        start = end
    return chunks


def smart_routing_plan(orders: Mapping[int, OrderRequest]) -> list[list[list[int]]]:
    """Group order indices by pair (first-seen order), market orders before resting ones,
    then split each group into exchange-sized chunks. A chunk of one goes as ``AddOrder``."""
    groups: dict[str, list[int]] = {}
    for index in sorted(orders):
        groups.setdefault(orders[index].pair, []).append(index)
    plan = []
    for indices in groups.values():
        ordered = sorted(indices, key=lambda i: orders[i].order_type is not OrderType.MARKET)
        plan.append(split_evenly(ordered, MAX_EXCHANGE_BATCH))
    return plan


def risk_aware_sequence(
    orders: Mapping[int, OrderRequest], notionals: Mapping[int, Decimal | None]
) -> list[int]:
    """Reduce-only orders first, then ascending notional (unknown notional last), then index."""

    def key(index: int) -> tuple[bool, bool, Decimal, int]:
        value = notionals.get(index)
        return (
            not orders[index].reduce_only,
            value is None,
            value if value is not None else Decimal(0),
            index,
        )

    return sorted(orders, key=key)
