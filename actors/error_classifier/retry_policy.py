"""What to do about a classified failure, split by idempotency (read, cancel, place).

An order is not idempotent: a placement whose outcome is unknown is reconciled (looked up by
``cl_ord_id``), never blindly resent. Reads and cancels are safe to repeat.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

from actors.error_classifier.categories import ErrorCategory
from actors.error_classifier.taxonomy import Classification
from schemas.events import OperationKind

__all__ = [
    "POLICIES",
    "Action",
    "CategoryPolicy",
    "DelayStrategy",
    "PolicyOutcome",
    "RetryPolicy",
    "backoff_delay",
]

_NS_PER_S = 1_000_000_000
_MAX_EXPONENT = 62


class Action(enum.StrEnum):
    RETRY = "retry"
    RETRY_ONCE = "retry_once"
    """Only the first failure may be retried (a nonce error: one fresh-nonce re-sign)."""
    NEVER = "never"
    RECONCILE = "reconcile"
    """Do not resend; look the order up on the exchange first."""
    HOLD = "hold"
    """Do not resend until an exchange condition clears (market back ``online``)."""


class DelayStrategy(enum.StrEnum):
    FIXED = "fixed"
    LINEAR = "linear"
    EXPONENTIAL = "exponential"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class CategoryPolicy:
    read: Action
    cancel: Action
    place: Action
    strategy: DelayStrategy = DelayStrategy.EXPONENTIAL
    min_delay_s: float = 0.0
    reason: str = ""

    def action(self, operation: OperationKind) -> Action:
        if operation is OperationKind.READ:
            return self.read
        if operation is OperationKind.CANCEL:
            return self.cancel
        return self.place


_R, _R1, _N, _U, _H = Action.RETRY, Action.RETRY_ONCE, Action.NEVER, Action.RECONCILE, Action.HOLD
_NEVER = CategoryPolicy(_N, _N, _N, DelayStrategy.NONE, reason="not retryable: fix input or state")
_GONE = CategoryPolicy(
    _N, _U, _N, DelayStrategy.NONE, reason="order unknown or already gone: reconcile, do not resend"
)

POLICIES: dict[ErrorCategory, CategoryPolicy] = {
    # Rate limits: a single call's worth of the Starter counter decays in about a second.
    ErrorCategory.RATE_LIMIT: CategoryPolicy(
        _R, _R, _R, min_delay_s=1.0, reason="rate limited: wait for the counter to decay"
    ),
    ErrorCategory.THROTTLED: CategoryPolicy(
        _R, _R, _R, DelayStrategy.FIXED, reason="throttled: wait until the given instant"
    ),
    ErrorCategory.BUSY: CategoryPolicy(_R, _R, _R, reason="exchange busy"),
    ErrorCategory.SERVICE_UNAVAILABLE: CategoryPolicy(_R, _R, _R, reason="exchange unavailable"),
    ErrorCategory.DEADLINE_ELAPSED: CategoryPolicy(
        _R, _R, _R, DelayStrategy.LINEAR, reason="deadline elapsed: resend with a fresh deadline"
    ),
    ErrorCategory.SESSION_EXPIRED: CategoryPolicy(
        _R, _R, _R, DelayStrategy.FIXED, reason="refresh the WebSocket token, then resend"
    ),
    ErrorCategory.NONCE: CategoryPolicy(
        _R1, _R1, _N, DelayStrategy.FIXED, reason="one retry with a fresh nonce; live orders never"
    ),
    ErrorCategory.INTERNAL: CategoryPolicy(_R, _R, _U, reason="internal error"),
    ErrorCategory.NETWORK: CategoryPolicy(_R, _R, _U, reason="network failure"),
    ErrorCategory.GATEWAY: CategoryPolicy(_R, _R, _U, reason="HTTP/gateway failure"),
    ErrorCategory.MARKET_MODE: CategoryPolicy(
        _R, _R, _H, reason="market not online: no new orders until status is online"
    ),
    ErrorCategory.UNKNOWN: CategoryPolicy(
        _R, _N, _U, reason="unrecognised error: never resend an order blind"
    ),
    ErrorCategory.UNKNOWN_ORDER: _GONE,
    ErrorCategory.INVALID_ORDER: _GONE,
    ErrorCategory.LOCKOUT: CategoryPolicy(
        _N, _N, _N, DelayStrategy.NONE, reason="temporary lockout: every attempt resets the timer"
    ),
}
for _category in ErrorCategory:
    POLICIES.setdefault(_category, _NEVER)


@dataclass(frozen=True, slots=True)
class PolicyOutcome:
    retry: bool
    delay_s: float
    strategy: DelayStrategy
    reconcile_first: bool
    reason: str
    retry_not_before_ns: int | None = None


def backoff_delay(
    strategy: DelayStrategy, attempt: int, base_s: float, cap_s: float, rng: random.Random
) -> float:
    """Full jitter: uniform in ``[0, min(cap, step)]``, where step is ``base`` (fixed),
    ``base * attempt`` (linear) or ``base * 2**(attempt-1)`` (exponential)."""
    if strategy is DelayStrategy.NONE:
        return 0.0
    steps = max(1, attempt)
    if strategy is DelayStrategy.FIXED:
        ceiling = base_s
    elif strategy is DelayStrategy.LINEAR:
        ceiling = base_s * steps
    else:
        ceiling = base_s * float(2 ** min(steps - 1, _MAX_EXPONENT))
    return rng.uniform(0.0, min(cap_s, ceiling))


class RetryPolicy:
    """Per-category decisions and delays. Breaker state and the retry budget are applied on
    top of this by the facade."""

    def __init__(
        self,
        *,
        base_delay_s: float,
        cap_s: float,
        max_retries: int,
        strategies: dict[str, str],
        rng: random.Random,
    ) -> None:
        self.base_delay_s = base_delay_s
        self.cap_s = cap_s
        self.max_retries = max_retries
        self._rng = rng
        self._overrides: dict[ErrorCategory, DelayStrategy] = {}
        for name, strategy in strategies.items():
            try:
                self._overrides[ErrorCategory(name)] = DelayStrategy(strategy)
            except ValueError:
                raise ValueError(
                    f"errors.strategies: unknown category or strategy {name!r}: {strategy!r}"
                ) from None

    def strategy_for(self, category: ErrorCategory) -> DelayStrategy:
        default = POLICIES[category].strategy
        if default is DelayStrategy.NONE:
            return default
        return self._overrides.get(category, default)

    @staticmethod
    def action_for(
        classification: Classification, operation: OperationKind, *, validate: bool = False
    ) -> Action:
        action = POLICIES[classification.category].action(operation)
        if (
            classification.category is ErrorCategory.NONCE
            and operation is OperationKind.PLACE
            and validate
        ):
            action = Action.RETRY_ONCE
        if classification.outcome_unknown and operation is OperationKind.PLACE:
            action = Action.RECONCILE
        return action

    def evaluate(
        self,
        classification: Classification,
        operation: OperationKind,
        attempt: int,
        *,
        now_ns: int,
        validate: bool = False,
    ) -> PolicyOutcome:
        category = classification.category
        policy = POLICIES[category]
        action = self.action_for(classification, operation, validate=validate)
        none = DelayStrategy.NONE
        if action is Action.RECONCILE:
            reason = policy.reason
            if classification.outcome_unknown:
                reason = f"{reason}; outcome unknown: reconcile by cl_ord_id before resending"
            return PolicyOutcome(False, 0.0, none, True, reason)
        if action in (Action.NEVER, Action.HOLD):
            return PolicyOutcome(False, 0.0, none, False, policy.reason)
        limit = min(1, self.max_retries) if action is Action.RETRY_ONCE else self.max_retries
        if attempt > limit:
            return PolicyOutcome(False, 0.0, none, False, f"retries exhausted ({limit})")
        strategy = self.strategy_for(category)
        not_before = classification.retry_not_before_ns
        if category is ErrorCategory.THROTTLED and not_before is not None:
            wait_s = max(0, not_before - now_ns) / _NS_PER_S
            if wait_s > self.cap_s:
                reason = f"throttled for {wait_s:.0f}s, beyond the retry cap"
                return PolicyOutcome(False, 0.0, none, False, reason, not_before)
            # Jitter on top so every throttled caller does not wake at the same instant.
            delay = wait_s + backoff_delay(
                DelayStrategy.FIXED, attempt, self.base_delay_s, self.cap_s, self._rng
            )
            return PolicyOutcome(True, delay, DelayStrategy.FIXED, False, policy.reason, not_before)
        delay = backoff_delay(strategy, attempt, self.base_delay_s, self.cap_s, self._rng)
        delay = min(self.cap_s, max(policy.min_delay_s, delay))
        return PolicyOutcome(True, delay, strategy, False, policy.reason)
