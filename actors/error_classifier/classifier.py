"""The facade the actor shell drives: classification, verdicts, breakers and statistics.

Pure: no NATS, no network, no wall clock. Time comes from the injected ``clock`` (int ns) and
randomness (jitter) from the injected ``random.Random``. The shell feeds call events to
``on_call_succeeded``/``on_call_failed`` and answers verdict requests with ``verdict``; a
verdict never feeds the breakers itself, so a failure is not counted twice.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from actors.error_classifier.breaker_registry import BreakerRegistry
from actors.error_classifier.categories import (
    FALLBACK_SCOPES,
    SCOPE_PRIVATE,
    SCOPE_TRADING,
    breaker_scopes,
)
from actors.error_classifier.circuit_breaker import BreakerSnapshot
from actors.error_classifier.retry_budget import RetryBudget
from actors.error_classifier.retry_policy import Action, DelayStrategy, RetryPolicy
from actors.error_classifier.statistics import ErrorStatisticsTracker
from actors.error_classifier.taxonomy import (
    NOT_SENT,
    Classification,
    classify_call,
    classify_error,
)
from schemas.config import BreakerConfig, ErrorClassifierConfig, ExecutionConfig, GalFridayConfig
from schemas.events import (
    BreakerState,
    CircuitBreakerStateChanged,
    ErrorStatistics,
    ExchangeStatusChanged,
    KrakenCallFailed,
    KrakenCallSucceeded,
    OperationKind,
)
from schemas.queries import RetryVerdict, VerdictRequest

__all__ = ["KrakenErrorClassifier"]

_NS_PER_S = 1_000_000_000
Changes = list[CircuitBreakerStateChanged]


class KrakenErrorClassifier:
    def __init__(
        self,
        config: GalFridayConfig | None = None,
        *,
        clock: Callable[[], int],
        rng: random.Random,
        breakers: BreakerConfig | None = None,
        errors: ErrorClassifierConfig | None = None,
        execution: ExecutionConfig | None = None,
        exchange: str | None = None,
    ) -> None:
        """Sections given explicitly win over those of ``config``; missing ones default."""
        base = config if config is not None else GalFridayConfig()
        self._breaker_config = breakers or base.breakers
        self._errors_config = errors or base.errors
        execution_config = execution or base.execution
        self._exchange = (exchange or base.market_data.default_exchange).casefold()
        self._clock = clock
        now = clock()
        self._policy = RetryPolicy(
            base_delay_s=execution_config.retry_base_delay_s,
            cap_s=self._errors_config.retry_cap_s,
            max_retries=execution_config.max_retries,
            strategies=self._errors_config.strategies,
            rng=rng,
        )
        self._budget = RetryBudget(
            ratio=self._errors_config.retry_budget_ratio,
            window_ns=int(self._breaker_config.window_s * _NS_PER_S),
        )
        self._breakers = BreakerRegistry(self._breaker_config, now)
        self._statistics = ErrorStatisticsTracker(now)
        self._status_ts_ns = 0

    # -- classification --------------------------------------------------------------------

    @staticmethod
    def classify_error(text: str | bytes) -> Classification:
        return classify_error(text)

    @staticmethod
    def classify_call(event: KrakenCallFailed) -> Classification:
        return classify_call(event)

    # -- verdicts --------------------------------------------------------------------------

    def verdict(self, request: VerdictRequest, now_ns: int | None = None) -> RetryVerdict:
        """Answer a verdict request. ``request.operation`` wins over ``request.call.operation``."""
        return self.should_retry(request.call, request.operation, request.attempt, now_ns=now_ns)

    def should_retry(
        self,
        error: Classification | KrakenCallFailed | str | bytes,
        operation: OperationKind,
        attempt: int,
        *,
        scope: str | None = None,
        now_ns: int | None = None,
        validate: bool = False,
        outcome_unknown: bool = False,
        endpoint: str = "",
    ) -> RetryVerdict:
        """Whether and when to retry one failed operation (``attempt`` 1 = first failure).

        Without a call event the scope defaults to ``kraken.trading`` for placements and
        cancels and ``kraken.private`` for reads. ``validate`` marks a validate-only placement
        (it may take one fresh-nonce retry); for a call event, ``probe=True`` on a placement
        implies it.
        """
        now = self._clock() if now_ns is None else now_ns
        classification, call_scope, endpoint, validate = self._resolve(
            error, operation, scope, endpoint, validate
        )
        if outcome_unknown and not classification.outcome_unknown:
            classification = msgspec.structs.replace(
                classification,
                outcome_unknown=operation is OperationKind.PLACE,
            )
        primary_state = self._breakers.state(call_scope)
        if attempt < 1:
            return self._refusal(classification, call_scope, primary_state, "attempt must be >= 1")
        outcome = self._policy.evaluate(
            classification, operation, attempt, now_ns=now, validate=validate
        )
        retry, reason = outcome.retry, outcome.reason
        delay, strategy = outcome.delay_s, outcome.strategy
        not_before = outcome.retry_not_before_ns
        if retry:
            blocked = self._blocking_scope(classification, call_scope)
            if blocked is not None:
                retry, reason = False, f"circuit {self._breakers.state(blocked)} for {blocked}"
                not_before = self._breakers.retry_at_ns(blocked)
            elif not self._budget.try_acquire(call_scope, now):
                retry, reason = False, f"retry budget exhausted for {call_scope}"
            if not retry:
                delay, strategy = 0.0, DelayStrategy.NONE
        self._statistics.record_retry(granted=retry, scope=call_scope, endpoint=endpoint)
        return RetryVerdict(
            category=str(classification.category),
            severity=str(classification.severity),
            retry=retry,
            delay_s=delay,
            strategy=str(strategy),
            max_retries=self._retry_limit(classification, operation, validate),
            reconcile_first=outcome.reconcile_first,
            breaker_scope=call_scope,
            breaker_state=primary_state,
            detail=classification.detail,
            retry_not_before_ns=not_before,
            reason=reason,
        )

    # -- breakers --------------------------------------------------------------------------

    def on_call_succeeded(self, event: KrakenCallSucceeded) -> Changes:
        now = self._clock()
        self._budget.record_call(event.scope, now)
        self._statistics.record_call_outcome(
            scope=event.scope, endpoint=event.endpoint, succeeded=True
        )
        changes = self._breakers.on_success(
            event.scope,
            now,
            probe=event.probe,
            event_ns=event.ts_event,
            started_ns=event.ts_event - event.latency_ns,
        )
        return self._recorded(changes)

    def on_call_failed(self, event: KrakenCallFailed) -> Changes:
        now = self._clock()
        classification = classify_call(event)
        if event.transport_error not in NOT_SENT:
            self._budget.record_call(event.scope, now, succeeded=False)
        self._statistics.record_call_outcome(
            scope=event.scope, endpoint=event.endpoint, succeeded=False
        )
        self._statistics.record_failure(classification, event.scope, str(event.operation), now)
        if event.transport_error in NOT_SENT:
            return []  # never left the process: says nothing about Kraken's health
        changes = self._breakers.on_failure(
            classification.category,
            event.scope,
            now,
            probe=event.probe,
            event_ns=event.ts_event,
            started_ns=event.ts_event - event.latency_ns,
        )
        return self._recorded(changes)

    def on_exchange_status(self, event: ExchangeStatusChanged) -> Changes:
        """Apply the venue's current status. It arrives by several paths (the stream, the
        periodic republish, the status bucket): one older than the last applied is stale."""
        if event.exchange.casefold() != self._exchange:
            return []
        if event.ts_event < self._status_ts_ns:
            return []
        self._status_ts_ns = event.ts_event
        return self._recorded(self._breakers.on_exchange_status(event.status, self._clock()))

    def tick(self, now_ns: int | None = None) -> Changes:
        """Advance time-driven transitions (OPEN → HALF_OPEN); the shell calls it on a timer."""
        now = self._clock() if now_ns is None else now_ns
        return self._recorded(self._breakers.tick(now))

    def breaker_state(self, scope: str) -> BreakerState:
        return self._breakers.state(scope)

    def admit_probe(self, scope: str, now_ns: int | None = None) -> bool:
        """Whether the caller may send the single half-open probe for ``scope`` now."""
        return self._breakers.admit_probe(scope, self._clock() if now_ns is None else now_ns)

    def snapshot(self) -> tuple[BreakerSnapshot, ...]:
        return self._breakers.snapshot()

    def restore(self, states: Iterable[BreakerSnapshot]) -> None:
        self._breakers.restore(states, self._clock())

    # -- statistics ------------------------------------------------------------------------

    def get_error_statistics(self, now_ns: int | None = None) -> ErrorStatistics:
        return self._statistics.statistics(self._clock() if now_ns is None else now_ns)

    def statistics_dict(self, now_ns: int | None = None) -> dict[str, Any]:
        return self._statistics.as_dict(self._clock() if now_ns is None else now_ns)

    # -- internals -------------------------------------------------------------------------

    def _recorded(self, changes: Changes) -> Changes:
        for change in changes:
            self._statistics.record_transition(change)
        return changes

    def _resolve(
        self,
        error: Classification | KrakenCallFailed | str | bytes,
        operation: OperationKind,
        scope: str | None,
        endpoint: str,
        validate: bool,
    ) -> tuple[Classification, str, str, bool]:
        if isinstance(error, KrakenCallFailed):
            validate = validate or (error.probe and operation is OperationKind.PLACE)
            return classify_call(error), scope or error.scope, endpoint or error.endpoint, validate
        classification = error if isinstance(error, Classification) else classify_error(error)
        default_scope = SCOPE_PRIVATE if operation is OperationKind.READ else SCOPE_TRADING
        return classification, scope or default_scope, endpoint, validate

    def _blocking_scope(self, classification: Classification, call_scope: str) -> str | None:
        """The first breaker (not CLOSED) that keeps the retry from being sent anywhere."""
        for scope in breaker_scopes(classification.category, call_scope):
            if self._breakers.state(scope) is BreakerState.CLOSED:
                continue
            fallback = FALLBACK_SCOPES.get(scope)
            if fallback is not None and self._breakers.state(fallback) is BreakerState.CLOSED:
                continue
            return scope
        return None

    def _retry_limit(
        self, classification: Classification, operation: OperationKind, validate: bool
    ) -> int:
        action = self._policy.action_for(classification, operation, validate=validate)
        if action is Action.RETRY:
            return self._policy.max_retries
        if action is Action.RETRY_ONCE:
            return min(1, self._policy.max_retries)
        return 0

    @staticmethod
    def _refusal(
        classification: Classification, scope: str, state: BreakerState, error: str
    ) -> RetryVerdict:
        return RetryVerdict(
            category=str(classification.category),
            severity=str(classification.severity),
            retry=False,
            delay_s=0.0,
            strategy=str(DelayStrategy.NONE),
            max_retries=0,
            reconcile_first=classification.outcome_unknown,
            breaker_scope=scope,
            breaker_state=state,
            detail=classification.detail,
            reason="bad verdict request",
            error=error,
        )
