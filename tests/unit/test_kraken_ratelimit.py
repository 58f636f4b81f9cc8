"""Rate-limit model with an injected clock: decay, caps per tier, cancel penalties, snapping."""

from __future__ import annotations

import pytest

from bus.clock import ManualClock
from kraken.ratelimit import (
    REST_LIMITS,
    DecayingCounter,
    RestCallLimiter,
    TradingRateLimiter,
    cancel_penalty,
    rest_call_cost,
)
from schemas.config import KrakenTier

S = 1_000_000_000


def fresh_clock() -> ManualClock:
    return ManualClock(start_ns=1_700_000_000 * S)


def test_rest_call_cost_when_endpoint_kinds_then_documented_costs() -> None:
    """Ledger/history cost 2, most calls 1, order placement and cancel 0 (other limiter)."""
    assert rest_call_cost("Ledgers") == 2
    assert rest_call_cost("TradesHistory") == 2
    assert rest_call_cost("Balance") == 1
    assert rest_call_cost("CancelAll") == 1
    assert rest_call_cost("AddOrder") == 0
    assert rest_call_cost("AddOrderBatch") == 0
    assert rest_call_cost("CancelOrder") == 0


@pytest.mark.parametrize(
    ("tier", "cap", "decay"),
    [
        (KrakenTier.STARTER, 15, 0.33),
        (KrakenTier.INTERMEDIATE, 20, 0.5),
        (KrakenTier.PRO, 20, 1.0),
    ],
)
def test_rest_limiter_when_cap_reached_then_wait_matches_tier_decay(
    tier: KrakenTier, cap: int, decay: float
) -> None:
    """The cap-th call fits, the next waits 1/decay seconds, and fits after that wait."""
    clock = fresh_clock()
    limiter = RestCallLimiter(tier, clock)

    waits = [limiter.try_acquire("Balance") for _ in range(cap)]
    wait = limiter.try_acquire("Balance")

    assert waits == [0.0] * cap
    assert wait == pytest.approx(1 / decay, abs=1e-5)
    clock.advance(wait)
    assert limiter.try_acquire("Balance") == 0.0


def test_rest_limiter_when_ledger_call_then_costs_two() -> None:
    """A ledger call moves the counter by 2."""
    limiter = RestCallLimiter(KrakenTier.PRO, fresh_clock())

    limiter.try_acquire("Ledgers")

    assert limiter.counter.level() == pytest.approx(2)


def test_rest_limiter_when_untracked_endpoint_then_never_waits() -> None:
    """AddOrder never touches the REST counter, even when it is full."""
    limiter = RestCallLimiter(KrakenTier.STARTER, fresh_clock())
    limiter.snap_to_cap()

    assert limiter.try_acquire("AddOrder") == 0.0
    assert limiter.try_acquire("Balance") > 0


def test_counter_when_time_passes_then_decays_to_zero_not_below() -> None:
    """Linear decay stops at zero."""
    clock = fresh_clock()
    limiter = RestCallLimiter(KrakenTier.INTERMEDIATE, clock)
    for _ in range(10):
        limiter.try_acquire("Balance")

    clock.advance(4)
    level_after_4s = limiter.counter.level()
    clock.advance(100)

    assert level_after_4s == pytest.approx(8)
    assert limiter.counter.level() == 0.0


def test_snap_to_cap_when_kraken_says_rate_limited_then_full_and_waits() -> None:
    """After a rate-limit error the model assumes the counter is at the cap."""
    clock = fresh_clock()
    limiter = RestCallLimiter(KrakenTier.STARTER, clock)

    limiter.snap_to_cap()

    assert limiter.counter.level() == pytest.approx(15)
    assert limiter.try_acquire("Balance") == pytest.approx(1 / 0.33, abs=1e-5)


@pytest.mark.parametrize(
    ("age_s", "penalty"),
    [
        (0, 8),
        (4.9, 8),
        (5, 6),
        (9.9, 6),
        (10, 5),
        (14, 5),
        (15, 4),
        (44, 4),
        (45, 2),
        (89, 2),
        (90, 1),
        (299, 1),
        (300, 0),
        (3600, 0),
    ],
)
def test_cancel_penalty_when_order_age_then_documented_table(age_s: float, penalty: int) -> None:
    """Cancel penalties shrink with order age: 8/6/5/4/2/1/0."""
    assert cancel_penalty(int(age_s * S)) == penalty


def test_cancel_penalty_when_age_unknown_then_worst_case() -> None:
    """Unknown order age is charged the maximum penalty."""
    assert cancel_penalty(None) == 8


@pytest.mark.parametrize(
    ("tier", "cap", "decay"),
    [
        (KrakenTier.STARTER, 60, 1.0),
        (KrakenTier.INTERMEDIATE, 125, 2.34),
        (KrakenTier.PRO, 180, 3.75),
    ],
)
def test_trading_limiter_when_adds_fill_cap_then_waits_per_tier(
    tier: KrakenTier, cap: int, decay: float
) -> None:
    """cap AddOrders fit, the next waits 1/decay seconds."""
    limiter = TradingRateLimiter(tier, fresh_clock())

    for _ in range(cap):
        assert limiter.try_acquire("XBTUSD", limiter.add_order_cost()) == 0.0
    wait = limiter.try_acquire("XBTUSD", limiter.add_order_cost())

    assert wait == pytest.approx(1 / decay, abs=1e-5)


def test_trading_limiter_when_pairs_differ_then_counters_independent() -> None:
    """A full counter on one pair does not slow another pair."""
    limiter = TradingRateLimiter(KrakenTier.STARTER, fresh_clock())
    limiter.snap_to_cap("XBTUSD")

    assert limiter.try_acquire("ETHUSD", 1) == 0.0
    assert limiter.try_acquire("XBTUSD", 1) > 0


def test_trading_limiter_when_batch_add_then_costs_half_per_order() -> None:
    """A batch of 15 costs 7.5."""
    limiter = TradingRateLimiter(KrakenTier.STARTER, fresh_clock())

    limiter.try_acquire("XBTUSD", limiter.batch_add_cost(15))

    assert limiter.level("XBTUSD") == pytest.approx(7.5)


def test_trading_limiter_when_young_cancels_then_penalty_accumulates_and_waits() -> None:
    """Fresh cancels at 8 each fill the Starter cap of 60 after 7, the 8th waits."""
    clock = fresh_clock()
    limiter = TradingRateLimiter(KrakenTier.STARTER, clock)
    cost = limiter.cancel_cost(1 * S)

    for _ in range(7):
        assert limiter.try_acquire("XBTUSD", cost) == 0.0
    wait = limiter.try_acquire("XBTUSD", cost)

    assert limiter.level("XBTUSD") == pytest.approx(56)
    assert wait == pytest.approx(4, abs=1e-5)


def test_try_acquire_when_refused_then_nothing_charged() -> None:
    """A refused acquire leaves the counter unchanged."""
    counter = DecayingCounter(
        TradingRateLimiter(KrakenTier.STARTER, fresh_clock())._limits, fresh_clock()
    )
    counter.charge(59.5)

    assert counter.try_acquire(1) > 0
    assert counter.level() == pytest.approx(59.5)


def test_try_acquire_when_cost_above_cap_then_fits_only_when_empty() -> None:
    """A cost larger than the cap cannot starve forever: it goes through on an empty counter."""
    clock = fresh_clock()
    counter = DecayingCounter(REST_LIMITS[KrakenTier.STARTER], clock)
    counter.charge(1)

    assert counter.try_acquire(20) == pytest.approx(1 / 0.33, abs=1e-5)
    clock.advance(1 / 0.33)
    assert counter.try_acquire(20) == 0.0


def test_a_client_paced_by_its_own_counter_is_never_refused_by_the_venues() -> None:
    """The client counts an order when it sends it; Kraken when it arrives. A slow first
    request (a cold connection: 0.4 s) leaves Kraken's counter that much less decayed for as
    long as it stays above zero, and a client paced to the exact cap by its own counter is then
    refused "Rate limit exceeded" (seen in the recovery tests, one run in three). The client
    takes back the decay of each request's time in transit once the answer is in."""
    clock = fresh_clock()
    client = TradingRateLimiter(KrakenTier.PRO, clock)
    venue = TradingRateLimiter(KrakenTier.PRO, clock)
    refused = 0
    for n in range(400):
        while (wait := client.try_acquire("XBTUSD", 1.0)) > 0:
            clock.advance(wait)
        charged_ns = clock()
        clock.advance(0.4 if n == 0 else 0.004)  # to the venue
        if venue.try_acquire("XBTUSD", 1.0) > 0:
            refused += 1
        clock.advance(0.001)  # the answer back
        client.counted_by_now("XBTUSD", 1.0, charged_ns)
    assert refused == 0


def test_inherited_levels_decay_from_when_they_were_reported_and_never_lower_a_counter() -> None:
    clock = ManualClock(start_ns=1_000 * S)
    limiter = TradingRateLimiter(KrakenTier.STARTER, clock)  # cap 60, decays 1/s
    limiter.try_acquire("ETHUSD", 30.0)
    limiter.inherit({"XBTUSD": 50.0, "ETHUSD": 10.0, "SOLUSD": 500.0}, at_ns=996 * S)
    assert limiter.level("XBTUSD") == pytest.approx(46.0)  # reported 4 s ago
    assert limiter.level("ETHUSD") == pytest.approx(30.0)  # its own count is higher
    assert limiter.level("SOLUSD") == pytest.approx(56.0)  # never above the cap
    clock.advance(60)
    assert limiter.levels() == {}


def test_rest_calls_queued_behind_the_send_lock_are_counted_as_kraken_counts_them() -> None:
    """A private call is charged when it acquires its place on the REST counter, then may wait
    for the key's send lock (a slow ``AddOrder`` ahead of it) before it leaves; Kraken counts it
    on arrival. Paced to the cap by its own count, the client is refused unless it takes back
    the decay of that wait once the answer is in."""
    clock = fresh_clock()
    client = RestCallLimiter(KrakenTier.STARTER, clock)
    venue = RestCallLimiter(KrakenTier.STARTER, clock)
    refused = 0
    for n in range(60):
        while (wait := client.try_acquire("CancelAllOrdersAfter")) > 0:
            clock.advance(wait)
        charged_ns = clock()
        clock.advance(0.3 if n % 10 == 0 else 0.004)  # at times behind the send lock
        if venue.try_acquire("CancelAllOrdersAfter") > 0:
            refused += 1
        clock.advance(0.001)  # the answer back
        client.counted_by_now("CancelAllOrdersAfter", charged_ns)
    assert refused == 0


def test_an_inherited_rest_call_level_decays_from_when_it_was_reported() -> None:
    clock = ManualClock(start_ns=1_000 * S)
    limiter = RestCallLimiter(KrakenTier.STARTER, clock)  # cap 15, decays 0.33/s
    limiter.inherit(14.0, at_ns=997 * S)
    assert limiter.level() == pytest.approx(13.01)
    assert limiter.try_acquire("OpenOrders") == 0.0
    assert limiter.try_acquire("OpenOrders") > 0  # Kraken's counter is as full
