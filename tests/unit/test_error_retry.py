"""Retry verdicts per category and operation kind, delay strategies and the retry budget."""

from __future__ import annotations

import random
from typing import NamedTuple

import pytest

from actors.error_classifier import (
    DelayStrategy,
    ErrorCategory,
    KrakenErrorClassifier,
    backoff_delay,
)
from bus.clock import ManualClock
from schemas.config import BreakerConfig, ErrorClassifierConfig, ExecutionConfig, GalFridayConfig
from schemas.events import BreakerState, KrakenCallFailed, KrakenCallSucceeded, OperationKind
from schemas.queries import VerdictRequest

C = ErrorCategory
READ, CANCEL, PLACE = OperationKind.READ, OperationKind.CANCEL, OperationKind.PLACE
NS = 1_000_000_000
THROTTLE_S = 1_700_000_000
START_NS = (THROTTLE_S - 2) * NS


def classifier(clock: ManualClock | None = None, **sections: object) -> KrakenErrorClassifier:
    config = GalFridayConfig(**sections)  # type: ignore[arg-type]
    return KrakenErrorClassifier(
        config, clock=clock or ManualClock(start_ns=START_NS), rng=random.Random(7)
    )


def failed(
    *errors: str,
    operation: OperationKind = READ,
    scope: str = "kraken.private",
    transport_error: str | None = None,
    http_status: int | None = None,
    outcome_unknown: bool = False,
    probe: bool = False,
) -> KrakenCallFailed:
    return KrakenCallFailed(
        ts_event=START_NS,
        ts_init=START_NS,
        scope=scope,
        endpoint="Endpoint",
        operation=operation,
        latency_ns=1,
        errors=errors,
        transport_error=transport_error,
        http_status=http_status,
        outcome_unknown=outcome_unknown,
        probe=probe,
    )


def succeeded(scope: str = "kraken.private") -> KrakenCallSucceeded:
    return KrakenCallSucceeded(
        ts_event=START_NS,
        ts_init=START_NS,
        scope=scope,
        endpoint="Endpoint",
        operation=READ,
        latency_ns=1,
    )


# -- the catalogue table -------------------------------------------------------------------
# Per operation: R = retry, N = no retry, U = no retry + reconcile first,
# W = no retry until the exchange is online again, 1 = one retry only (fresh nonce).


class Row(NamedTuple):
    text: str
    category: ErrorCategory
    kraken_md: str
    """KRAKEN.md §2.2's Retry? column: R, R*, N or U."""
    read: str
    cancel: str
    place: str


CATALOGUE_ROWS = [
    Row("EGeneral:Invalid arguments", C.INVALID_ARGUMENTS, "N", "N", "N", "N"),
    Row("EGeneral:Invalid arguments:volume", C.INVALID_ARGUMENTS, "N", "N", "N", "N"),
    Row("EGeneral:Invalid arguments:Index unavailable", C.INDEX_UNAVAILABLE, "N", "N", "N", "N"),
    Row("EGeneral:Temporary lockout", C.LOCKOUT, "N", "N", "N", "N"),
    Row("EGeneral:Permission denied", C.PERMISSION, "N", "N", "N", "N"),
    Row("EGeneral:Internal error", C.INTERNAL, "U", "R", "R", "U"),
    Row("EGeneral:Internal error:1234", C.INTERNAL, "U", "R", "R", "U"),
    Row("EGeneral:Unknown method", C.INVALID_ARGUMENTS, "N", "N", "N", "N"),
    Row("EGeneral:Too many requests", C.RATE_LIMIT, "R", "R", "R", "R"),
    Row("EService:Unavailable", C.SERVICE_UNAVAILABLE, "R", "R", "R", "R"),
    Row("EService:Busy", C.BUSY, "R", "R", "R", "R"),
    Row("EService:Market in cancel_only mode", C.MARKET_MODE, "R*", "R", "R", "W"),
    Row("EService:Market in post_only mode", C.MARKET_MODE, "R*", "R", "R", "W"),
    Row("EService:Deadline elapsed", C.DEADLINE_ELAPSED, "R*", "R", "R", "R"),
    Row(f"EService: Throttled: {THROTTLE_S}", C.THROTTLED, "R*", "R", "R", "R"),
    Row("EAPI:Invalid key", C.AUTH, "N", "N", "N", "N"),
    Row("EAPI:Invalid signature", C.AUTH, "N", "N", "N", "N"),
    Row("EAPI:Invalid nonce", C.NONCE, "R*", "1", "1", "N"),
    Row("EAPI:Rate limit exceeded", C.RATE_LIMIT, "R*", "R", "R", "R"),
    Row("EAPI:Bad request", C.INVALID_ARGUMENTS, "N", "N", "N", "N"),
    Row("EAuth:Account temporary disabled", C.ACCOUNT, "N", "N", "N", "N"),
    Row("EAuth:Account unconfirmed", C.ACCOUNT, "N", "N", "N", "N"),
    Row("EAuth:Rate limit exceeded", C.RATE_LIMIT, "R", "R", "R", "R"),
    Row("EAuth:Too many requests", C.RATE_LIMIT, "R", "R", "R", "R"),
    Row("EOrder:Cannot open opposing position", C.MARGIN, "N", "N", "N", "N"),
    Row("EOrder:Cannot open position", C.MARGIN, "N", "N", "N", "N"),
    Row("EOrder:Margin allowance exceeded", C.MARGIN, "N", "N", "N", "N"),
    Row("EOrder:Margin level too low", C.MARGIN, "N", "N", "N", "N"),
    Row("EOrder:Margin position size exceeded", C.MARGIN, "N", "N", "N", "N"),
    Row("EOrder:Insufficient margin", C.MARGIN, "N", "N", "N", "N"),
    Row("EOrder:Insufficient funds", C.INSUFFICIENT_FUNDS, "N", "N", "N", "N"),
    Row("EOrder:Order minimum not met", C.INVALID_ORDER, "N", "N", "U", "N"),
    Row("EOrder:Cost minimum not met", C.INVALID_ORDER, "N", "N", "U", "N"),
    Row("EOrder:Tick size check failed", C.INVALID_ORDER, "N", "N", "U", "N"),
    Row("EOrder:Invalid price", C.INVALID_ORDER, "N", "N", "U", "N"),
    Row("EOrder:Invalid price:Invalid price argument", C.INVALID_ORDER, "N", "N", "U", "N"),
    Row("EOrder:Invalid order", C.INVALID_ORDER, "N", "N", "U", "N"),
    Row("EOrder:Orders limit exceeded", C.ORDERS_LIMIT, "N", "N", "N", "N"),
    Row("EOrder:Rate limit exceeded", C.RATE_LIMIT, "R*", "R", "R", "R"),
    Row("EOrder:Domain rate limit exceeded", C.RATE_LIMIT, "R*", "R", "R", "R"),
    Row("EOrder:Positions limit exceeded", C.MARGIN, "N", "N", "N", "N"),
    Row("EOrder:Unknown position", C.MARGIN, "N", "N", "N", "N"),
    Row("EOrder:Scheduled orders limit exceeded", C.ORDERS_LIMIT, "N", "N", "N", "N"),
    Row("EOrder:Reduce only:No position exists", C.INVALID_ORDER, "N", "N", "U", "N"),
    Row("EOrder:Unknown order", C.UNKNOWN_ORDER, "N", "N", "U", "N"),
    Row("EAPI:Invalid token", C.SESSION_EXPIRED, "R*", "R", "R", "R"),
    # KRAKEN.md lists ESession:Invalid session as both R* (official SDK) and N (ccxt): R* wins.
    Row("ESession:Invalid session", C.SESSION_EXPIRED, "R*", "R", "R", "R"),
    Row("EOrder:Post only order", C.INVALID_ORDER, "N", "N", "U", "N"),
    Row("Post only order", C.INVALID_ORDER, "N", "N", "U", "N"),
    Row("EQuery:Unknown asset pair", C.UNKNOWN_ASSET, "N", "N", "N", "N"),
    Row("EQuery:Unknown asset", C.UNKNOWN_ASSET, "N", "N", "N", "N"),
    Row("EQuery:Invalid asset pair", C.UNKNOWN_ASSET, "N", "N", "N", "N"),
    Row("EBM:limit exceeded:CAL", C.ACCOUNT, "N", "N", "N", "N"),
    Row("EFunding:Max fee exceeded", C.FUNDING, "N", "N", "N", "N"),
    Row("ETrade:User Locked", C.ACCOUNT, "N", "N", "N", "N"),
    # KRAKEN.md says R; an internal error on a placement is still an unknown outcome here.
    Row("EDatabase:Internal error", C.INTERNAL, "R", "R", "R", "U"),
    # From the python-kraken-sdk map (§2.4).
    Row("EAuth:Failed", C.AUTH, "N", "N", "N", "N"),
    Row("EAPI:Permission denied", C.PERMISSION, "N", "N", "N", "N"),
    Row("EFunding:Unknown withdraw key", C.FUNDING, "N", "N", "N", "N"),
    Row("Exceeded msg rate", C.RATE_LIMIT, "R", "R", "R", "R"),
    Row("EOrder:Brand new error", C.UNKNOWN, "U", "R", "N", "U"),
]


def assert_decision(expected: str, operation: OperationKind, text: str) -> None:
    verdict = classifier().should_retry(text, operation, 1)
    label = f"{text} / {operation}: {verdict.reason}"
    if expected in ("R", "1"):
        assert verdict.retry, label
        assert not verdict.reconcile_first, label
        assert verdict.strategy in {"fixed", "linear", "exponential"}, label
    else:
        assert not verdict.retry, label
        assert verdict.reconcile_first is (expected == "U"), label
        assert verdict.delay_s == 0.0, label
        assert verdict.max_retries == 0, label
    if expected == "1":
        assert verdict.max_retries == 1, label
        assert not classifier().should_retry(text, operation, 2).retry, label
    if expected == "W":
        assert "online" in verdict.reason, label


@pytest.mark.parametrize("row", CATALOGUE_ROWS, ids=[row.text for row in CATALOGUE_ROWS])
def test_verdict_for_every_catalogued_error_matches_the_table(row: Row) -> None:
    assert classifier().classify_error(row.text).category is row.category
    assert_decision(row.read, READ, row.text)
    assert_decision(row.cancel, CANCEL, row.text)
    assert_decision(row.place, PLACE, row.text)


@pytest.mark.parametrize("row", CATALOGUE_ROWS, ids=[row.text for row in CATALOGUE_ROWS])
def test_table_agrees_with_kraken_md_retry_column(row: Row) -> None:
    """N never retries anything; R retries reads and cancels; U reconciles a placement."""
    decisions = {row.read, row.cancel, row.place}
    if row.kraken_md == "N":
        assert decisions <= {"N", "U"}
        assert row.place == "N"
    elif row.kraken_md == "R":
        assert (row.read, row.cancel) == ("R", "R")
        assert row.place in {"R", "U"}
    elif row.kraken_md == "U":
        assert (row.read, row.place) == ("R", "U")
    else:
        assert row.read in {"R", "1"}
        assert row.place != "U"


def test_verdict_when_throttled_then_waits_until_the_timestamp() -> None:
    verdict = classifier().should_retry(f"EService: Throttled: {THROTTLE_S}", PLACE, 1)
    assert verdict.retry
    assert verdict.retry_not_before_ns == THROTTLE_S * NS
    assert 2.0 <= verdict.delay_s <= 3.0  # 2 s to the instant, plus at most one base of jitter


def test_verdict_when_throttled_far_beyond_cap_then_no_retry_but_instant_given() -> None:
    verdict = classifier().should_retry(f"EService:Throttled:{THROTTLE_S + 3600}", READ, 1)
    assert not verdict.retry
    assert verdict.retry_not_before_ns == (THROTTLE_S + 3600) * NS


def test_verdict_when_throttled_instant_passed_then_retry_after_jitter_only() -> None:
    verdict = classifier().should_retry(f"EService:Throttled:{THROTTLE_S - 60}", READ, 1)
    assert verdict.retry
    assert 0.0 <= verdict.delay_s <= 1.0


@pytest.mark.parametrize("transport_error", ["timeout", "connection", "http_5xx", "non_json"])
def test_verdict_when_transport_failure_on_place_then_reconcile_not_retry(
    transport_error: str,
) -> None:
    call = failed("boom", operation=PLACE, scope="kraken.trading", transport_error=transport_error)
    verdict = classifier().should_retry(call, PLACE, 1)
    assert (verdict.retry, verdict.reconcile_first) == (False, True)
    assert verdict.severity == "ambiguous"


@pytest.mark.parametrize("transport_error", ["timeout", "connection", "http_5xx", "non_json"])
def test_verdict_when_transport_failure_on_read_then_retry(transport_error: str) -> None:
    verdict = classifier().should_retry(failed("boom", transport_error=transport_error), READ, 1)
    assert verdict.retry
    assert not verdict.reconcile_first


def test_verdict_when_outcome_unknown_flag_on_place_then_reconcile_even_if_retryable() -> None:
    call = failed("EService:Busy", operation=PLACE, outcome_unknown=True)
    verdict = classifier().should_retry(call, PLACE, 1)
    assert (verdict.retry, verdict.reconcile_first) == (False, True)


def test_verdict_when_nonce_on_validate_placement_then_one_retry() -> None:
    engine = classifier()
    assert engine.should_retry("EAPI:Invalid nonce", PLACE, 1, validate=True).retry
    assert not engine.should_retry("EAPI:Invalid nonce", PLACE, 2, validate=True).retry
    assert not engine.should_retry("EAPI:Invalid nonce", PLACE, 1).retry
    probe = failed("EAPI:Invalid nonce", operation=PLACE, scope="kraken.trading", probe=True)
    assert engine.should_retry(probe, PLACE, 1).retry


def test_verdict_when_attempts_exceed_max_retries_then_exhausted() -> None:
    engine = classifier(execution=ExecutionConfig(max_retries=2))
    assert engine.should_retry("EService:Busy", READ, 2).retry
    verdict = engine.should_retry("EService:Busy", READ, 3)
    assert not verdict.retry
    assert "exhausted" in verdict.reason
    assert verdict.max_retries == 2


def test_verdict_request_when_attempt_zero_then_error_set() -> None:
    request = VerdictRequest(call=failed("EService:Busy"), attempt=0, operation=READ)
    verdict = classifier().verdict(request)
    assert not verdict.retry
    assert verdict.error is not None


def test_verdict_request_carries_category_detail_scope_and_breaker_state() -> None:
    call = failed("EGeneral:Invalid arguments:volume", operation=PLACE, scope="kraken.trading")
    verdict = classifier().verdict(VerdictRequest(call=call, attempt=1, operation=PLACE))
    assert (verdict.category, verdict.detail) == ("invalid_arguments", "volume")
    assert (verdict.breaker_scope, verdict.breaker_state) == ("kraken.trading", "closed")
    assert verdict.severity == "rejected"


# -- delays ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "attempt", "ceiling"),
    [
        (DelayStrategy.FIXED, 1, 0.5),
        (DelayStrategy.FIXED, 5, 0.5),
        (DelayStrategy.LINEAR, 1, 0.5),
        (DelayStrategy.LINEAR, 3, 1.5),
        (DelayStrategy.LINEAR, 100, 4.0),
        (DelayStrategy.EXPONENTIAL, 1, 0.5),
        (DelayStrategy.EXPONENTIAL, 3, 2.0),
        (DelayStrategy.EXPONENTIAL, 10_000, 4.0),
    ],
)
def test_backoff_delay_when_full_jitter_then_within_zero_and_ceiling(
    strategy: DelayStrategy, attempt: int, ceiling: float
) -> None:
    rng = random.Random(1234)
    delays = [backoff_delay(strategy, attempt, 0.5, 4.0, rng) for _ in range(2000)]
    assert all(0.0 <= d <= ceiling for d in delays)
    # Full jitter spreads over the whole range rather than clustering near the ceiling.
    assert min(delays) < ceiling * 0.05
    assert max(delays) > ceiling * 0.95


def test_backoff_delay_when_seeded_then_deterministic() -> None:
    first = [backoff_delay(DelayStrategy.EXPONENTIAL, 3, 1.0, 30.0, random.Random(9)) for _ in "ab"]
    assert first[0] == first[1]


def test_verdict_when_strategy_overridden_then_used() -> None:
    errors = ErrorClassifierConfig(strategies={"busy": "linear", "internal": "fixed"})
    engine = classifier(errors=errors)
    assert engine.should_retry("EService:Busy", READ, 1).strategy == "linear"
    assert engine.should_retry("EGeneral:Internal error", READ, 1).strategy == "fixed"
    assert engine.should_retry("EService:Unavailable", READ, 1).strategy == "exponential"


def test_classifier_when_strategy_override_names_unknown_category_then_rejected() -> None:
    with pytest.raises(ValueError, match="bogus"):
        classifier(errors=ErrorClassifierConfig(strategies={"bogus": "linear"}))


def test_verdict_when_rate_limited_then_delay_at_least_one_second() -> None:
    engine = classifier(execution=ExecutionConfig(retry_base_delay_s=0.01, max_retries=50))
    for attempt in range(1, 4):
        assert engine.should_retry("EAPI:Rate limit exceeded", READ, attempt).delay_s >= 1.0


def test_verdict_when_exponential_then_delay_bounded_by_cap() -> None:
    engine = classifier(
        execution=ExecutionConfig(retry_base_delay_s=1.0, max_retries=50),
        errors=ErrorClassifierConfig(retry_cap_s=5.0),
    )
    for _ in range(20):
        engine.on_call_succeeded(succeeded())  # keep the budget open
    delays = [engine.should_retry("EService:Busy", READ, 40).delay_s for _ in range(3)]
    assert all(0.0 <= d <= 5.0 for d in delays)


# -- budget ---------------------------------------------------------------------------------


def test_budget_when_few_calls_then_floor_allows_first_retries_only() -> None:
    engine = classifier()
    granted = [engine.should_retry("EService:Busy", READ, 1).retry for _ in range(5)]
    assert granted == [True, True, True, False, False]
    assert "budget" in engine.should_retry("EService:Busy", READ, 1).reason


def test_budget_when_recent_calls_succeed_then_up_to_one_retry_per_call() -> None:
    clock = ManualClock(start_ns=START_NS)
    engine = classifier(clock)
    for _ in range(20):
        engine.on_call_succeeded(succeeded())
    granted = sum(engine.should_retry("EService:Busy", READ, 1).retry for _ in range(30))
    assert granted == 20


def test_budget_when_most_recent_calls_failed_then_ten_percent_of_calls() -> None:
    clock = ManualClock(start_ns=START_NS)
    engine = classifier(clock, breakers=BreakerConfig(consecutive_failures_to_trip=1000))
    for _ in range(94):
        engine.on_call_succeeded(succeeded())
    for _ in range(6):
        engine.on_call_failed(failed("EService:Busy"))
    granted = sum(engine.should_retry("EService:Busy", READ, 1).retry for _ in range(30))
    assert granted == 10


def test_budget_when_window_passes_then_refilled() -> None:
    clock = ManualClock(start_ns=START_NS)
    engine = classifier(clock)
    for _ in range(3):
        assert engine.should_retry("EService:Busy", READ, 1).retry
    assert not engine.should_retry("EService:Busy", READ, 1).retry
    clock.advance(61)
    assert engine.should_retry("EService:Busy", READ, 1).retry


def test_budget_is_per_scope() -> None:
    engine = classifier()
    for _ in range(3):
        engine.should_retry("EService:Busy", READ, 1, scope="kraken.public")
    assert not engine.should_retry("EService:Busy", READ, 1, scope="kraken.public").retry
    assert engine.should_retry("EService:Busy", READ, 1, scope="kraken.private").retry


def test_budget_when_not_retryable_then_not_consumed() -> None:
    engine = classifier()
    for _ in range(10):
        engine.should_retry("EOrder:Insufficient funds", PLACE, 1)
    assert engine.should_retry("EService:Busy", PLACE, 1).retry


def test_verdict_when_breaker_open_then_denied_with_retry_at() -> None:
    clock = ManualClock(start_ns=START_NS)
    engine = classifier(clock)
    for _ in range(5):
        engine.on_call_failed(failed("EService:Unavailable"))
    verdict = engine.should_retry("EService:Unavailable", READ, 1, scope="kraken.private")
    assert not verdict.retry
    assert verdict.breaker_state == "open"
    assert verdict.retry_not_before_ns == clock.now_ns + 5 * NS
    assert "circuit" in verdict.reason


def test_verdict_when_auth_error_and_trading_breaker_open_then_denied() -> None:
    """Account-wide failures look at the private and trading breakers too."""
    engine = classifier()
    engine.on_call_failed(failed("EGeneral:Temporary lockout"))
    verdict = engine.should_retry("EService:Busy", PLACE, 1, scope="kraken.trading")
    assert not verdict.retry
    assert verdict.breaker_state == "open"


def test_verdict_when_only_the_trading_socket_breaker_is_open_then_retry_over_rest() -> None:
    """The router sends orders over REST while ``kraken.ws_trading`` is not CLOSED: that
    breaker alone must not refuse a placement's retry; with REST trading open too, it does."""
    engine = classifier()
    for _ in range(10):
        engine.on_call_failed(
            failed(operation=PLACE, scope="kraken.ws_trading", transport_error="connection")
        )
    assert engine.breaker_state("kraken.ws_trading") is not BreakerState.CLOSED
    assert engine.breaker_state("kraken.trading") is BreakerState.CLOSED
    answer = failed("EService:Unavailable", operation=PLACE, scope="kraken.ws_trading")
    verdict = engine.should_retry(answer, PLACE, 1)
    assert verdict.retry, verdict.reason
    for _ in range(10):
        engine.on_call_failed(
            failed(operation=PLACE, scope="kraken.trading", transport_error="connection")
        )
    assert engine.breaker_state("kraken.trading") is not BreakerState.CLOSED
    refused = engine.should_retry(answer, PLACE, 1)
    assert not refused.retry
    assert "circuit" in refused.reason
