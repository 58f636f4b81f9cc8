"""The breakers of every scope, fed by call events and exchange-status changes.

Exchange status holds (decided here, see KRAKEN.md §3.1 for the meanings):

- ``maintenance`` holds ``kraken.trading`` and ``kraken.private`` open. ``kraken.public`` and
  ``kraken.ws`` stay as they are: the status itself is learnt through them (SystemStatus, the
  WS ``status`` channel), so holding them would stop us from ever seeing ``online`` again.
- ``cancel_only`` holds ``kraken.trading`` (reason ``exchange status cancel_only``): no new
  orders. Cancels are still accepted by Kraken; the router may let them through on that reason.
- ``post_only``, ``limit_only``, ``reduce_only`` hold nothing: the router gates orders by mode.
- ``online`` (or any status without a hold) releases the holds; a scope closes at once unless
  a lockout is still running.
"""

from __future__ import annotations

from collections.abc import Iterable

from actors.error_classifier.categories import (
    BREAKER_COUNTED,
    OUTAGE_SHAPED,
    REST_SCOPES,
    SCOPE_PRIVATE,
    SCOPE_TRADING,
    SCOPES,
    ErrorCategory,
    breaker_scopes,
)
from actors.error_classifier.circuit_breaker import BreakerSnapshot, CircuitBreaker
from schemas.config import BreakerConfig
from schemas.events import BreakerState, CircuitBreakerStateChanged, ExchangeStatus

__all__ = ["STATUS_HOLDS", "BreakerRegistry"]

STATUS_HOLDS: dict[ExchangeStatus, tuple[str, ...]] = {
    ExchangeStatus.MAINTENANCE: (SCOPE_TRADING, SCOPE_PRIVATE),
    ExchangeStatus.CANCEL_ONLY: (SCOPE_TRADING,),
}
_MAX_SCOPES = 32
_NEVER_A_PROBE = -1
"""A send time before any half-open period: the call cannot decide another scope's probe."""

Changes = list[CircuitBreakerStateChanged]


class BreakerRegistry:
    def __init__(self, config: BreakerConfig, now_ns: int) -> None:
        self._config = config
        self._breakers = {scope: CircuitBreaker(scope, config, now_ns) for scope in SCOPES}

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self._breakers)

    def get(self, scope: str, now_ns: int) -> CircuitBreaker | None:
        """The scope's breaker; unknown scopes get one too, up to a bound."""
        breaker = self._breakers.get(scope)
        if breaker is None and len(self._breakers) < _MAX_SCOPES:
            breaker = self._breakers[scope] = CircuitBreaker(scope, self._config, now_ns)
        return breaker

    def state(self, scope: str) -> BreakerState:
        breaker = self._breakers.get(scope)
        return BreakerState.CLOSED if breaker is None else breaker.state

    def retry_at_ns(self, scope: str) -> int | None:
        breaker = self._breakers.get(scope)
        return None if breaker is None else breaker.retry_at_ns

    def on_success(
        self,
        scope: str,
        now_ns: int,
        *,
        probe: bool,
        event_ns: int | None = None,
        started_ns: int | None = None,
    ) -> Changes:
        breaker = self.get(scope, now_ns)
        if breaker is None:
            return []
        return breaker.record_success(now_ns, probe=probe, event_ns=event_ns, started_ns=started_ns)

    def on_failure(
        self,
        category: ErrorCategory,
        call_scope: str,
        now_ns: int,
        *,
        probe: bool,
        event_ns: int | None = None,
        started_ns: int | None = None,
    ) -> Changes:
        changes: Changes = []
        own_state = self.state(call_scope)
        for index, scope in enumerate(breaker_scopes(category, call_scope)):
            breaker = self.get(scope, now_ns)
            if breaker is None:
                continue
            if category is ErrorCategory.LOCKOUT:
                changes.extend(breaker.lockout(now_ns, event_ns=event_ns))
            elif index == 0 or category in BREAKER_COUNTED:
                # Only the call's own scope sees the call as a probe: a probe of one scope
                # does not close another.
                own = index == 0
                changes.extend(
                    breaker.record_failure(
                        now_ns,
                        category,
                        probe=probe and own,
                        event_ns=event_ns,
                        started_ns=started_ns if own else _NEVER_A_PROBE,
                    )
                )
        if (
            category in OUTAGE_SHAPED
            and call_scope in REST_SCOPES
            and own_state is BreakerState.CLOSED
            and self.state(call_scope) is BreakerState.OPEN
        ):
            # The front door is down for every REST scope: spare the others their own trip.
            reason = f"{call_scope} unreachable: {category}"
            for scope in REST_SCOPES:
                sibling = self._breakers.get(scope)
                if scope != call_scope and sibling is not None:
                    changes.extend(sibling.open_with(now_ns, reason))
        return changes

    def on_exchange_status(self, status: ExchangeStatus, now_ns: int) -> Changes:
        held = STATUS_HOLDS.get(status, ())
        changes: Changes = []
        for scope, breaker in self._breakers.items():
            if scope in held:
                changes.extend(breaker.hold(str(status), now_ns))
            else:
                changes.extend(breaker.release_hold(now_ns, str(status)))
        return changes

    def tick(self, now_ns: int) -> Changes:
        changes: Changes = []
        for breaker in self._breakers.values():
            changes.extend(breaker.tick(now_ns))
        return changes

    def admit_probe(self, scope: str, now_ns: int) -> bool:
        breaker = self._breakers.get(scope)
        return breaker is not None and breaker.admit_probe(now_ns)

    def snapshot(self) -> tuple[BreakerSnapshot, ...]:
        return tuple(breaker.snapshot() for breaker in self._breakers.values())

    def restore(self, snapshots: Iterable[BreakerSnapshot], now_ns: int) -> None:
        for snapshot in snapshots:
            breaker = self.get(snapshot.scope, now_ns)
            if breaker is not None:
                breaker.restore(snapshot)
