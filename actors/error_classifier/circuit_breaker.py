"""One circuit breaker: CLOSED → OPEN → HALF_OPEN (one probe) → CLOSED or OPEN again.

- CLOSED trips when, over the sliding window, at least ``minimum_calls`` calls were seen and
  the failure rate reached ``failure_rate_threshold``, on ``consecutive_failures_to_trip``
  hard failures in a row, or on ``outage_failures_to_trip`` front-door failures in a row (an
  HTML 5xx, no connection: the exchange is unreachable).
- OPEN lasts ``open_base_s`` doubled per consecutive re-open, capped at ``open_max_s``; then
  ``tick`` (or the next event) moves it to HALF_OPEN.
- HALF_OPEN opens again (counted as a re-open) when no probe answer came within
  ``half_open_timeout_s``: no breaker stays half-open without a scheduled way out.
- HALF_OPEN admits one probe (``probe=True`` in the call events). A probe success closes it;
  a probe that fails with a counted failure re-opens it for twice as long. A probe refused
  for a client mistake (e.g. a validate order with bad arguments) proves the service answers,
  so it closes the breaker too. Non-probe calls are ignored while OPEN or HALF_OPEN: they were
  in flight before the breaker opened.
- A lockout holds it OPEN for ``lockout_s`` (each new lockout error restarts the timer) and no
  probe is admitted before that. An exchange-status hold keeps it OPEN with
  ``retry_at_ns=None`` until released.
"""

from __future__ import annotations

import msgspec

from actors.error_classifier.categories import (
    BREAKER_COUNTED,
    FAST_TRIP,
    OUTAGE_SHAPED,
    ErrorCategory,
)
from actors.error_classifier.windows import SlidingCounter
from schemas.config import BreakerConfig
from schemas.events import BreakerState, CircuitBreakerStateChanged

__all__ = ["BreakerSnapshot", "CircuitBreaker"]

_NS_PER_S = 1_000_000_000
_WINDOW_BUCKETS = 60
_MAX_DOUBLINGS = 40


class BreakerSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """What the shell persists per scope (KV bucket) and restores on start. The sliding
    window itself is not persisted: after a restart it starts empty."""

    scope: str
    state: BreakerState
    since_ns: int
    reason: str = ""
    retry_at_ns: int | None = None
    open_count: int = 0
    lockout_until_ns: int | None = None
    status_hold: str | None = None
    consecutive_failures: int = 0


class CircuitBreaker:
    def __init__(self, scope: str, config: BreakerConfig, now_ns: int) -> None:
        self.scope = scope
        self._config = config
        window_ns = int(config.window_s * _NS_PER_S)
        bucket_ns = max(1_000_000, window_ns // _WINDOW_BUCKETS)
        self._calls = SlidingCounter(window_ns, bucket_ns)
        self._failures = SlidingCounter(window_ns, bucket_ns)
        self._window_ns = window_ns
        self._half_open_timeout_ns = int(config.half_open_timeout_s * _NS_PER_S)
        self.state = BreakerState.CLOSED
        self.since_ns = now_ns
        self.reason = ""
        self.retry_at_ns: int | None = None
        self.open_count = 0
        self.consecutive_failures = 0
        self.consecutive_outage_failures = 0
        """Front-door failures in a row (``OUTAGE_SHAPED``); not persisted."""
        self.lockout_until_ns: int | None = None
        self.status_hold: str | None = None
        self._probe_admitted_ns: int | None = None
        self._half_open_from_ns = 0
        """When the open period ended (``retry_at_ns``), not when a timer tick noticed it: a
        call sent after it tested the service as it is now. Keeps replays independent of the
        live timer's phase."""

    # -- inputs --------------------------------------------------------------------------

    def record_success(
        self,
        now_ns: int,
        *,
        probe: bool,
        event_ns: int | None = None,
        started_ns: int | None = None,
    ) -> list[CircuitBreakerStateChanged]:
        """A successful call that ended at ``event_ns`` (default: now) and was sent at
        ``started_ns`` (default: ``event_ns``)."""
        changes = self.tick(now_ns)
        when = now_ns if event_ns is None else event_ns
        if self.state is BreakerState.CLOSED:
            if self._calls.add(when, now_ns=now_ns):
                self.consecutive_failures = 0
                self.consecutive_outage_failures = 0
        elif self._is_probe_answer(probe, when if started_ns is None else started_ns):
            changes.append(self._close(now_ns, "probe succeeded"))
        return changes

    def record_failure(
        self,
        now_ns: int,
        category: ErrorCategory,
        *,
        probe: bool,
        event_ns: int | None = None,
        started_ns: int | None = None,
    ) -> list[CircuitBreakerStateChanged]:
        """A failed call. Client mistakes count as calls but not as failures. A report of a
        call that ended before the window (a backlog drained late) is not counted."""
        changes = self.tick(now_ns)
        when = now_ns if event_ns is None else event_ns
        counted = category in BREAKER_COUNTED
        if self._is_probe_answer(probe, when if started_ns is None else started_ns):
            if counted:
                changes.append(self._open(now_ns, f"probe failed: {category}"))
            else:
                changes.append(self._close(now_ns, f"probe answered: {category}"))
            return changes
        if self.state is not BreakerState.CLOSED:
            return changes
        if not self._calls.add(when, now_ns=now_ns):
            return changes
        if not counted:
            self.consecutive_failures = 0
            self.consecutive_outage_failures = 0
            return changes
        self._failures.add(when, now_ns=now_ns)
        if category in FAST_TRIP:
            self.consecutive_failures += 1
        if category in OUTAGE_SHAPED:
            self.consecutive_outage_failures += 1
            if self.consecutive_outage_failures >= self._config.outage_failures_to_trip:
                count = self.consecutive_outage_failures
                reason = f"{count} consecutive outage-shaped failures: {category}"
                changes.append(self._open(now_ns, reason))
                return changes
        else:
            self.consecutive_outage_failures = 0
        if self.consecutive_failures >= self._config.consecutive_failures_to_trip:
            reason = f"{self.consecutive_failures} consecutive failures: {category}"
            changes.append(self._open(now_ns, reason))
            return changes
        calls = self._calls.total(now_ns)
        failures = self._failures.total(now_ns)
        if (
            calls >= self._config.minimum_calls
            and failures / calls >= self._config.failure_rate_threshold
        ):
            reason = f"failure rate {failures}/{calls} in {self._config.window_s:g}s: {category}"
            changes.append(self._open(now_ns, reason))
        return changes

    def open_with(self, now_ns: int, reason: str) -> list[CircuitBreakerStateChanged]:
        """Open a CLOSED breaker for what another scope learnt (its front door is down too)."""
        changes = self.tick(now_ns)
        if self.state is BreakerState.CLOSED:
            changes.append(self._open(now_ns, reason))
        return changes

    def _is_probe_answer(self, probe: bool, started_ns: int) -> bool:
        """Whether a call outcome decides a HALF_OPEN breaker: a call flagged as the probe,
        or any call sent after the breaker became half-open (it tested the service as it
        is now, whoever sent it). Calls sent earlier were in flight before the trip."""
        if self.state is not BreakerState.HALF_OPEN:
            return False
        return probe or started_ns >= self._half_open_from_ns

    def lockout(
        self, now_ns: int, *, event_ns: int | None = None
    ) -> list[CircuitBreakerStateChanged]:
        """Temporary lockout: hold OPEN for ``lockout_s`` from when Kraken answered it (a late
        report of an expired lockout changes nothing), no earlier probe."""
        changes = self.tick(now_ns)
        answered_ns = now_ns if event_ns is None else min(event_ns, now_ns)
        until_ns = answered_ns + int(self._config.lockout_s * _NS_PER_S)
        if until_ns <= now_ns:
            return changes
        self.lockout_until_ns = max(until_ns, self.lockout_until_ns or until_ns)
        retry_at = None if self.status_hold is not None else self.lockout_until_ns
        if self.state is BreakerState.OPEN and self.retry_at_ns is not None and retry_at:
            retry_at = max(retry_at, self.retry_at_ns)
        changes.extend(self._move(BreakerState.OPEN, now_ns, "temporary lockout", retry_at))
        return changes

    def hold(self, status: str, now_ns: int) -> list[CircuitBreakerStateChanged]:
        """Hold OPEN (``retry_at_ns=None``) because of the exchange status."""
        changes = self.tick(now_ns)
        self.status_hold = status
        changes.extend(self._move(BreakerState.OPEN, now_ns, f"exchange status {status}", None))
        return changes

    def release_hold(self, now_ns: int, status: str) -> list[CircuitBreakerStateChanged]:
        """The exchange status no longer warrants a hold: close, unless locked out."""
        if self.status_hold is None:
            return self.tick(now_ns)
        self.status_hold = None
        if self.lockout_until_ns is not None and now_ns < self.lockout_until_ns:
            return self._move(BreakerState.OPEN, now_ns, "temporary lockout", self.lockout_until_ns)
        return [self._close(now_ns, f"exchange status {status}")]

    def tick(self, now_ns: int) -> list[CircuitBreakerStateChanged]:
        if self.lockout_until_ns is not None and now_ns >= self.lockout_until_ns:
            self.lockout_until_ns = None
        if (
            self.state is BreakerState.OPEN
            and self.status_hold is None
            and self.retry_at_ns is not None
            and now_ns >= self.retry_at_ns
        ):
            self._probe_admitted_ns = None
            self._half_open_from_ns = self.retry_at_ns
            return self._move(BreakerState.HALF_OPEN, now_ns, "open period over", None)
        if (
            self.state is BreakerState.HALF_OPEN
            and now_ns - self.since_ns >= self._half_open_timeout_ns
        ):
            # Nobody answered (no probe sent, or it was lost): open again, so the breaker
            # always has a scheduled way out and the next half-open admits a new probe.
            timeout_s = self._config.half_open_timeout_s
            return [self._open(now_ns, f"no probe answer in {timeout_s:g}s")]
        return []

    def admit_probe(self, now_ns: int) -> bool:
        """Whether a probe may be sent now (one at a time; a lost probe expires after the
        window). Advisory: probes are recognised by ``probe=True`` in the call events."""
        self.tick(now_ns)
        if self.state is not BreakerState.HALF_OPEN:
            return False
        admitted = self._probe_admitted_ns
        if admitted is not None and now_ns - admitted < self._window_ns:
            return False
        self._probe_admitted_ns = now_ns
        return True

    # -- persistence ---------------------------------------------------------------------

    def snapshot(self) -> BreakerSnapshot:
        return BreakerSnapshot(
            scope=self.scope,
            state=self.state,
            since_ns=self.since_ns,
            reason=self.reason,
            retry_at_ns=self.retry_at_ns,
            open_count=self.open_count,
            lockout_until_ns=self.lockout_until_ns,
            status_hold=self.status_hold,
            consecutive_failures=self.consecutive_failures,
        )

    def restore(self, snapshot: BreakerSnapshot) -> None:
        self.state = snapshot.state
        self.since_ns = snapshot.since_ns
        self.reason = snapshot.reason
        self.retry_at_ns = snapshot.retry_at_ns
        self.open_count = snapshot.open_count
        self.lockout_until_ns = snapshot.lockout_until_ns
        self.status_hold = snapshot.status_hold
        self.consecutive_failures = snapshot.consecutive_failures
        self.consecutive_outage_failures = 0
        self._probe_admitted_ns = None
        self._half_open_from_ns = snapshot.since_ns
        self._calls.clear()
        self._failures.clear()

    # -- transitions ---------------------------------------------------------------------

    def _open(self, now_ns: int, reason: str) -> CircuitBreakerStateChanged:
        self.open_count += 1
        doublings = min(self.open_count - 1, _MAX_DOUBLINGS)
        duration_s = min(self._config.open_max_s, self._config.open_base_s * 2**doublings)
        retry_at: int | None = now_ns + int(duration_s * _NS_PER_S)
        if self.lockout_until_ns is not None and retry_at is not None:
            retry_at = max(retry_at, self.lockout_until_ns)
        if self.status_hold is not None:
            retry_at = None
        return self._transition(BreakerState.OPEN, now_ns, reason, retry_at)

    def _close(self, now_ns: int, reason: str) -> CircuitBreakerStateChanged:
        self.open_count = 0
        return self._transition(BreakerState.CLOSED, now_ns, reason, None)

    def _move(
        self, state: BreakerState, now_ns: int, reason: str, retry_at_ns: int | None
    ) -> list[CircuitBreakerStateChanged]:
        """Transition unless nothing visible would change."""
        if (state, retry_at_ns, reason) == (self.state, self.retry_at_ns, self.reason):
            return []
        return [self._transition(state, now_ns, reason, retry_at_ns)]

    def _transition(
        self, state: BreakerState, now_ns: int, reason: str, retry_at_ns: int | None
    ) -> CircuitBreakerStateChanged:
        previous = self.state
        self.state = state
        if state is not previous:
            self.since_ns = now_ns
        self.reason = reason
        self.retry_at_ns = retry_at_ns
        self.consecutive_failures = 0
        self.consecutive_outage_failures = 0
        self._calls.clear()
        self._failures.clear()
        return CircuitBreakerStateChanged(
            ts_event=now_ns,
            ts_init=now_ns,
            scope=self.scope,
            state=state,
            previous=previous,
            reason=reason,
            since_ns=self.since_ns,
            retry_at_ns=retry_at_ns,
            open_count=self.open_count,
        )
