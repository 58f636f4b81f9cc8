"""Dynamic batch sizing: chunk size and parallelism from the pair's trading-rate budget."""

from __future__ import annotations

import pytest

from actors.batch_router.batch_sizing import ChunkPlan, plan_chunks
from kraken.ratelimit import TRADING_LIMITS, CounterLimits, TradingRateLimiter
from schemas.config import KrakenTier

NS = 1_000_000_000
STARTER = TRADING_LIMITS[KrakenTier.STARTER]


class FakeClock:
    def __init__(self) -> None:
        self.now_ns = 0

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, seconds: float) -> None:
        self.now_ns += round(seconds * NS)


def place_all(order_count: int, tier: KrakenTier, start_level: float = 0.0) -> tuple[int, int]:
    """Drive the plan against an exchange-side counter (what the sim refuses with
    ``EOrder:Rate limit exceeded``); returns (orders placed, calls refused)."""
    clock = FakeClock()
    exchange = TradingRateLimiter(tier, clock)
    exchange.counter("XBTUSD").charge(start_level)
    placed = refused = 0
    while placed < order_count:
        plan = plan_chunks(order_count - placed, exchange.level("XBTUSD"), TRADING_LIMITS[tier])
        clock.advance(plan.wait_s)
        for _ in range(plan.parallel):
            size = min(plan.chunk_size, order_count - placed)
            cost = size / 2 if size >= 2 else 1.0
            if exchange.try_acquire("XBTUSD", cost) > 0:
                refused += 1
            else:
                placed += size
        clock.advance(0.05)  # one round trip before the next step
    return placed, refused


@pytest.mark.parametrize("tier", list(KrakenTier))
@pytest.mark.parametrize("start_level", [0.0, 30.0, 59.0])
def test_a_200_order_batch_never_trips_the_trading_counter(
    tier: KrakenTier, start_level: float
) -> None:
    assert place_all(200, tier, start_level) == (200, 0)


def test_the_naive_way_trips_it() -> None:
    """200 singles at once on a Starter key: the counter refuses most of them."""
    exchange = TradingRateLimiter(KrakenTier.STARTER, FakeClock())
    refused = sum(exchange.try_acquire("XBTUSD", 1.0) > 0 for _ in range(200))
    assert refused > 100


def test_empty_counter_sends_full_chunks_in_parallel() -> None:
    plan = plan_chunks(200, 0.0, STARTER)
    assert plan == ChunkPlan(
        chunk_size=15, parallel=7, wait_s=0.0
    )  # 7 chunks of cost 7.5 fit the 59 of budget


def test_low_budget_shrinks_the_chunk_to_what_fits_now() -> None:
    plan = plan_chunks(200, 54.0, STARTER)  # budget 5 → a chunk of 10 costs 5
    assert plan == ChunkPlan(chunk_size=10, parallel=1, wait_s=0.0)


def test_full_counter_waits_for_a_two_order_batch() -> None:
    plan = plan_chunks(200, 60.0, STARTER)
    assert plan.chunk_size == 2
    assert plan.parallel == 1
    assert plan.wait_s == pytest.approx(2.0)  # cost 1 + headroom 1 at 1/s


def test_a_lone_order_is_a_single() -> None:
    assert plan_chunks(1, 0.0, STARTER) == ChunkPlan(chunk_size=1, parallel=1, wait_s=0.0)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="order_count"):
        plan_chunks(0, 0.0, STARTER)
    with pytest.raises(ValueError, match="max_chunk"):
        plan_chunks(5, 0.0, CounterLimits(cap=60, decay_per_s=1), max_chunk=16)
