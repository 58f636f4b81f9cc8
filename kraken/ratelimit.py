"""Client-side model of Kraken's two rate limiters (KRAKEN.md §4). Pure: no I/O, injected clock.

* The REST call counter, one per API key: each call adds its cost (ledger/history 2, other
  counted calls 1), the counter decays continuously, and a call that would push it past the
  tier's cap must wait. AddOrder, AddOrderBatch and CancelOrder are not on it.
* The trading counter, one per pair: AddOrder +1, AddOrderBatch +n/2, CancelOrder a penalty that
  shrinks with the order's age, CancelAll +1 per pair, CancelAllOrdersAfter +1.

``try_acquire`` either charges the cost and returns ``0.0``, or charges nothing and returns how
many seconds to wait before the cost fits. When Kraken answers with a rate-limit error the model
was too optimistic, so ``snap_to_cap`` sets the counter to its cap and decay does the rest.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from schemas.config import KrakenTier

__all__ = [
    "REST_LIMITS",
    "TRADING_LIMITS",
    "CounterLimits",
    "DecayingCounter",
    "RestCallLimiter",
    "TradingRateLimiter",
    "cancel_penalty",
    "rest_call_cost",
]

_NS_PER_S = 1_000_000_000
# Counter units below which float rounding of the ns clock is ignored.
_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class CounterLimits:
    cap: float
    decay_per_s: float


REST_LIMITS: dict[KrakenTier, CounterLimits] = {
    KrakenTier.STARTER: CounterLimits(cap=15, decay_per_s=0.33),
    KrakenTier.INTERMEDIATE: CounterLimits(cap=20, decay_per_s=0.5),
    KrakenTier.PRO: CounterLimits(cap=20, decay_per_s=1.0),
}

TRADING_LIMITS: dict[KrakenTier, CounterLimits] = {
    KrakenTier.STARTER: CounterLimits(cap=60, decay_per_s=1.0),
    KrakenTier.INTERMEDIATE: CounterLimits(cap=125, decay_per_s=2.34),
    KrakenTier.PRO: CounterLimits(cap=180, decay_per_s=3.75),
}

# Endpoints that cost 2 on the REST counter; those costing 0 are on the trading counter only.
_DOUBLE_COST = frozenset({"Ledgers", "QueryLedgers", "TradesHistory", "QueryTrades"})
_NOT_COUNTED = frozenset(
    {"AddOrder", "AddOrderBatch", "CancelOrder", "CancelOrderBatch", "EditOrder", "AmendOrder"}
)

# (order younger than N seconds, penalty); at 300 s and older a cancel costs nothing.
_CANCEL_PENALTIES = ((5, 8), (10, 6), (15, 5), (45, 4), (90, 2), (300, 1))


def rest_call_cost(endpoint: str) -> int:
    """Cost of a *private* endpoint on the REST call counter (0 = not on it)."""
    if endpoint in _NOT_COUNTED:
        return 0
    return 2 if endpoint in _DOUBLE_COST else 1


def cancel_penalty(order_age_ns: int | None) -> int:
    """Trading-counter cost of cancelling an order of this age; unknown age costs the most."""
    if order_age_ns is None:
        return _CANCEL_PENALTIES[0][1]
    for limit_s, penalty in _CANCEL_PENALTIES:
        if order_age_ns < limit_s * _NS_PER_S:
            return penalty
    return 0


class DecayingCounter:
    """A counter that decays linearly to zero and refuses to exceed its cap."""

    def __init__(self, limits: CounterLimits, clock_ns: Callable[[], int]) -> None:
        self.limits = limits
        self._clock_ns = clock_ns
        self._level = 0.0
        self._updated_ns = clock_ns()

    def level(self) -> float:
        self._decay()
        return self._level

    def wait_s(self, cost: float) -> float:
        """Seconds until ``cost`` fits under the cap (0.0 when it fits now)."""
        self._decay()
        # A cost larger than the cap can never fit; it goes through once the counter is empty.
        excess = self._level + cost - max(self.limits.cap, cost)
        if excess <= _TOLERANCE:
            return 0.0
        # Rounded up to the microsecond so that sleeping the answer is always enough.
        return math.ceil(excess / self.limits.decay_per_s * 1_000_000) / 1_000_000

    def try_acquire(self, cost: float) -> float:
        """Charge ``cost`` and return 0.0, or charge nothing and return the wait in seconds."""
        wait = self.wait_s(cost)
        if wait == 0.0:
            self._level += cost
        return wait

    def charge(self, cost: float) -> None:
        """Add ``cost`` unconditionally (Kraken charges some costs whatever happens)."""
        self._decay()
        self._level += cost

    def snap_to_cap(self) -> None:
        self._decay()
        self._level = max(self._level, self.limits.cap)

    def assume_level_at(self, level: float, at_ns: int) -> None:
        """Kraken's counter stood at ``level`` at ``at_ns`` (another process, since gone,
        reported it): take it over, decayed since, unless this one is higher."""
        self._decay()
        elapsed_s = max(0, self._clock_ns() - at_ns) / _NS_PER_S
        decayed = min(level, self.limits.cap) - elapsed_s * self.limits.decay_per_s
        self._level = max(self._level, decayed)

    def counted_by_now(self, cost: float, charged_ns: int) -> None:
        """``cost`` was charged here at ``charged_ns`` (when sent); Kraken counted it when it
        arrived, at the latest now (its answer is here). Take back the decay in between, so
        this counter never runs below Kraken's: paced to the cap, it would be refused."""
        self._decay()
        in_transit_s = max(0, self._clock_ns() - charged_ns) / _NS_PER_S
        self._level += min(cost, in_transit_s * self.limits.decay_per_s)

    def _decay(self) -> None:
        now = self._clock_ns()
        elapsed_s = max(0, now - self._updated_ns) / _NS_PER_S
        self._level = max(0.0, self._level - elapsed_s * self.limits.decay_per_s)
        self._updated_ns = max(now, self._updated_ns)


class RestCallLimiter:
    """The per-key REST call counter for one tier."""

    def __init__(self, tier: KrakenTier, clock_ns: Callable[[], int]) -> None:
        self.counter = DecayingCounter(REST_LIMITS[tier], clock_ns)

    def try_acquire(self, endpoint: str) -> float:
        cost = rest_call_cost(endpoint)
        return 0.0 if cost == 0 else self.counter.try_acquire(cost)

    def snap_to_cap(self) -> None:
        self.counter.snap_to_cap()

    def level(self) -> float:
        return self.counter.level()

    def counted_by_now(self, endpoint: str, charged_ns: int) -> None:
        """See :meth:`DecayingCounter.counted_by_now` (charged when acquired, counted by
        Kraken on arrival: after the wait for the key's send lock, and the transit)."""
        cost = rest_call_cost(endpoint)
        if cost:
            self.counter.counted_by_now(cost, charged_ns)

    def inherit(self, level: float, at_ns: int) -> None:
        """A predecessor's :meth:`level` as of ``at_ns``: see ``assume_level_at``."""
        self.counter.assume_level_at(level, at_ns)


class TradingRateLimiter:
    """Per-pair trading counters for one tier, created on first use of a pair."""

    def __init__(self, tier: KrakenTier, clock_ns: Callable[[], int]) -> None:
        self._limits = TRADING_LIMITS[tier]
        self._clock_ns = clock_ns
        self._counters: dict[str, DecayingCounter] = {}

    def counter(self, pair: str) -> DecayingCounter:
        found = self._counters.get(pair)
        if found is None:
            found = self._counters[pair] = DecayingCounter(self._limits, self._clock_ns)
        return found

    def level(self, pair: str) -> float:
        return self.counter(pair).level()

    def try_acquire(self, pair: str, cost: float) -> float:
        return self.counter(pair).try_acquire(cost)

    def counted_by_now(self, pair: str, cost: float, charged_ns: int) -> None:
        self.counter(pair).counted_by_now(cost, charged_ns)

    def now_ns(self) -> int:
        """This limiter's clock (a charge's time, for :meth:`counted_by_now`)."""
        return self._clock_ns()

    @staticmethod
    def add_order_cost() -> float:
        return 1.0

    @staticmethod
    def batch_add_cost(order_count: int) -> float:
        return order_count / 2

    @staticmethod
    def cancel_cost(order_age_ns: int | None) -> float:
        return float(cancel_penalty(order_age_ns))

    def snap_to_cap(self, pair: str) -> None:
        self.counter(pair).snap_to_cap()

    def levels(self) -> dict[str, float]:
        """Every pair's counter that is not empty now."""
        return {pair: level for pair in self._counters if (level := self.level(pair)) > 0}

    def inherit(self, levels: Mapping[str, float], at_ns: int) -> None:
        """A predecessor's :meth:`levels` as of ``at_ns``: see ``assume_level_at``."""
        for pair, level in levels.items():
            self.counter(pair).assume_level_at(level, at_ns)

    def pairs(self) -> tuple[str, ...]:
        return tuple(self._counters)
