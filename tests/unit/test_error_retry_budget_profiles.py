"""The retry budget under the two fault profiles it must tell apart (issue 14, item 1), with
the default configuration: independent transient faults (one call in five fails with
``EService:Unavailable``/``Busy``, seeded) are retried until ≥ 90 % fewer orders fail than with
retries off; a full outage turns into no retry storm (retries ≤ 10 % of calls)."""

from __future__ import annotations

import random

import pytest

from bus.clock import ManualClock
from schemas.config import BreakerConfig
from tests.support.retry_profiles import ORDERS, START_NS, run_orders
from tests.support.retry_profiles import engine as _engine


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_independent_transient_faults_fail_at_least_90_percent_fewer_orders(seed: int) -> None:
    clock = ManualClock(start_ns=START_NS)
    without = run_orders(_engine(clock), clock, random.Random(seed), retries_on=False)
    clock = ManualClock(start_ns=START_NS)
    with_retries = run_orders(_engine(clock), clock, random.Random(seed), retries_on=True)
    assert without.orders_failed > 150  # the profile really is 20 % faults
    assert with_retries.orders_failed <= 0.1 * without.orders_failed, (without, with_retries)


@pytest.mark.parametrize(
    "breakers",
    [
        None,  # the default config: the breaker opens too
        # The budget alone (the breaker never trips): still no storm.
        BreakerConfig(consecutive_failures_to_trip=1_000_000, failure_rate_threshold=1.0),
    ],
    ids=["default", "budget-only"],
)
def test_a_full_outage_after_a_healthy_spell_starts_no_retry_storm(
    breakers: BreakerConfig | None,
) -> None:
    clock = ManualClock(start_ns=START_NS)
    engine = _engine(clock, breakers)
    run_orders(engine, clock, random.Random(9), retries_on=True, orders=500)
    outage = run_orders(engine, clock, None, retries_on=True)
    assert outage.orders_failed == ORDERS
    assert outage.retries <= 0.1 * outage.calls, outage
