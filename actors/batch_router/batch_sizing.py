"""Chunk size and parallelism of one pair's placements, from its live trading-rate budget.

Kraken's per-pair trading counter (KRAKEN.md §4.2, :mod:`kraken.ratelimit`) charges ``+1`` per
``AddOrder`` and ``+n/2`` per ``AddOrderBatch``/``batch_add`` of ``n`` orders, and decays at the
tier's rate. So batches of 2 or more halve the cost per order, the total cost of ``N`` batched
orders is ``N/2`` however they are chunked, and what a plan can choose is *when* and *how many*
chunks go out at once:

* ``budget = cap - level - headroom`` is what may be spent right now.
* Chunks are as large as allowed (``max_chunk``), but shrunk to what the budget affords when that
  lets something go now rather than later (never below 2: a single costs as much as two batched).
* ``parallel`` chunks fit the budget together; the rest follow as the counter decays, the first
  after ``wait_s``.

Pure: the caller passes the level it read from its limiter (the Kraken client charges and waits
on the same counter, so a plan is an upper bound on concurrency, never a licence to exceed it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kraken.ratelimit import CounterLimits

__all__ = ["MAX_CHUNK", "ChunkPlan", "plan_chunks"]

MAX_CHUNK = 15
"""Kraken's ``AddOrderBatch``/``batch_add`` maximum."""
_MIN_BATCH = 2


@dataclass(frozen=True, slots=True)
class ChunkPlan:
    chunk_size: int
    """Orders per exchange call (1 only when a single order is left)."""
    parallel: int
    """Chunks to put in flight together now (at least 1)."""
    wait_s: float
    """Seconds before the first chunk fits the counter (0.0: now)."""

    @property
    def cost_per_chunk(self) -> float:
        return self.chunk_size / 2 if self.chunk_size >= _MIN_BATCH else 1.0


def plan_chunks(
    order_count: int,
    level: float,
    limits: CounterLimits,
    *,
    max_chunk: int = MAX_CHUNK,
    headroom: float = 1.0,
) -> ChunkPlan:
    """The next step for ``order_count`` orders of one pair whose counter stands at ``level``.

    ``headroom`` is kept free for what the plan does not see (a cancel, the other process of a
    shared key, the model's drift from Kraken's own counter).
    """
    if order_count < 1:
        raise ValueError("order_count must be at least 1")
    if not _MIN_BATCH <= max_chunk <= MAX_CHUNK:
        raise ValueError(f"max_chunk must be in [{_MIN_BATCH}, {MAX_CHUNK}]")
    room = limits.cap - headroom - level
    budget = max(0.0, room)
    chunk = min(max_chunk, order_count)
    if chunk >= _MIN_BATCH:
        affordable = int(budget * 2)
        if _MIN_BATCH <= affordable < chunk:
            chunk = affordable
        elif affordable < _MIN_BATCH:
            # Nothing fits now: plan the smallest batch, sent once it fits.
            chunk = _MIN_BATCH
    cost = chunk / 2 if chunk >= _MIN_BATCH else 1.0
    if budget + 1e-9 < cost:
        wait_s = (cost - room) / limits.decay_per_s
        return ChunkPlan(chunk_size=chunk, parallel=1, wait_s=wait_s)
    chunks_left = math.ceil(order_count / chunk)
    parallel = max(1, min(chunks_left, int(budget // cost)))
    return ChunkPlan(chunk_size=chunk, parallel=parallel, wait_s=0.0)
