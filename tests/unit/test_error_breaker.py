"""Circuit breakers driven by call events, exchange status and an injected clock."""

from __future__ import annotations

import random

import msgspec

from actors.error_classifier import BreakerSnapshot, KrakenErrorClassifier
from bus.clock import ManualClock
from schemas.config import BreakerConfig
from schemas.events import (
    BreakerState,
    CircuitBreakerStateChanged,
    ExchangeStatus,
    ExchangeStatusChanged,
    KrakenCallFailed,
    KrakenCallSucceeded,
    OperationKind,
)

NS = 1_000_000_000
OPEN, HALF_OPEN, CLOSED = BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED
PRIVATE, TRADING, PUBLIC = "kraken.private", "kraken.trading", "kraken.public"


class _EventClock:
    """Call events are stamped with the engine's clock: they happen now, as in production."""

    clock = ManualClock()


def engine(clock: ManualClock, **breakers: float) -> KrakenErrorClassifier:
    _EventClock.clock = clock
    config = BreakerConfig(**breakers)  # type: ignore[arg-type]
    return KrakenErrorClassifier(clock=clock, rng=random.Random(1), breakers=config)


def fail(
    *errors: str, scope: str = PRIVATE, probe: bool = False, transport: str | None = None
) -> KrakenCallFailed:
    return KrakenCallFailed(
        ts_event=_EventClock.clock.now_ns,
        ts_init=_EventClock.clock.now_ns,
        scope=scope,
        endpoint="Balance",
        operation=OperationKind.READ,
        latency_ns=1,
        errors=errors,
        transport_error=transport,
        probe=probe,
    )


def ok(scope: str = PRIVATE, probe: bool = False) -> KrakenCallSucceeded:
    return KrakenCallSucceeded(
        ts_event=_EventClock.clock.now_ns,
        ts_init=_EventClock.clock.now_ns,
        scope=scope,
        endpoint="Balance",
        operation=OperationKind.READ,
        latency_ns=1,
        probe=probe,
    )


def status(value: ExchangeStatus, exchange: str = "kraken") -> ExchangeStatusChanged:
    return ExchangeStatusChanged(
        ts_event=1,
        ts_init=1,
        exchange=exchange,
        status=value,
        previous=None,
        source="ws",
        can_place=value is ExchangeStatus.ONLINE,
        can_cancel=value is not ExchangeStatus.MAINTENANCE,
    )


def trip(classifier: KrakenErrorClassifier, scope: str = PRIVATE) -> CircuitBreakerStateChanged:
    changes: list[CircuitBreakerStateChanged] = []
    for _ in range(5):
        changes += classifier.on_call_failed(fail("EService:Unavailable", scope=scope))
    assert [c.state for c in changes] == [OPEN]
    return changes[0]


def test_breaker_when_failure_rate_reached_with_minimum_calls_then_opens() -> None:
    clock = ManualClock(start_ns=1_000 * NS)
    classifier = engine(clock, consecutive_failures_to_trip=100)
    for _ in range(3):
        assert classifier.on_call_succeeded(ok()) == []
    changes = []
    for _ in range(3):
        changes += classifier.on_call_failed(fail("EAPI:Rate limit exceeded"))
    assert [c.state for c in changes] == [OPEN]  # 3 failures of 6 calls = 50 %
    assert changes[0].previous is CLOSED
    assert changes[0].retry_at_ns == clock.now_ns + 5 * NS
    assert "failure rate 3/6" in changes[0].reason


def test_breaker_when_below_minimum_calls_then_stays_closed() -> None:
    clock = ManualClock(start_ns=1_000 * NS)
    classifier = engine(clock, consecutive_failures_to_trip=100)
    for _ in range(4):
        assert classifier.on_call_failed(fail("EAPI:Rate limit exceeded")) == []
    assert classifier.breaker_state(PRIVATE) is CLOSED


def test_breaker_when_failures_leave_the_window_then_they_stop_counting() -> None:
    clock = ManualClock(start_ns=1_000 * NS)
    classifier = engine(clock, consecutive_failures_to_trip=100)
    for _ in range(4):
        classifier.on_call_failed(fail("EAPI:Rate limit exceeded"))
    clock.advance(61)
    for _ in range(4):
        classifier.on_call_succeeded(ok())
    assert classifier.on_call_failed(fail("EAPI:Rate limit exceeded")) == []  # 1/5, not 5/9


def test_breaker_when_client_mistakes_then_never_opens() -> None:
    clock = ManualClock(start_ns=1_000 * NS)
    classifier = engine(clock)
    for text in ["EGeneral:Invalid arguments:volume", "EOrder:Insufficient funds"] * 10:
        assert classifier.on_call_failed(fail(text, scope=TRADING)) == []
    assert classifier.on_call_failed(fail("EOrder:Unknown order", scope=TRADING)) == []
    assert classifier.breaker_state(TRADING) is CLOSED


def test_breaker_when_consecutive_hard_failures_then_fast_trip() -> None:
    clock = ManualClock(start_ns=1_000 * NS)
    classifier = engine(clock, consecutive_failures_to_trip=3, minimum_calls=1000)
    for _ in range(10):
        classifier.on_call_succeeded(ok())
    assert classifier.on_call_failed(fail("x", transport="timeout")) == []
    assert classifier.on_call_failed(fail("EService:Busy")) == []
    changes = classifier.on_call_failed(fail("EGeneral:Internal error"))
    assert [c.state for c in changes] == [OPEN]
    assert "3 consecutive" in changes[0].reason


def test_breaker_when_success_between_hard_failures_then_streak_resets() -> None:
    clock = ManualClock(start_ns=1_000 * NS)
    classifier = engine(clock, consecutive_failures_to_trip=3, minimum_calls=1000)
    for _ in range(5):
        classifier.on_call_failed(fail("EService:Busy"))
        classifier.on_call_failed(fail("EService:Busy"))
        classifier.on_call_succeeded(ok())
    assert classifier.breaker_state(PRIVATE) is CLOSED


def test_breaker_when_open_period_over_then_tick_moves_to_half_open() -> None:
    clock = ManualClock(start_ns=1_000 * NS)
    classifier = engine(clock)
    opened = trip(classifier)
    clock.advance(4.9)
    assert classifier.tick() == []
    clock.advance(0.1)
    changes = classifier.tick()
    assert [(c.previous, c.state) for c in changes] == [(OPEN, HALF_OPEN)]
    assert changes[0].retry_at_ns is None
    assert opened.open_count == 1


def test_breaker_when_probe_succeeds_then_closes() -> None:
    clock = ManualClock(start_ns=1_000 * NS)
    classifier = engine(clock)
    trip(classifier)
    clock.advance(5)
    classifier.tick()
    assert classifier.admit_probe(PRIVATE)
    assert not classifier.admit_probe(PRIVATE)  # one probe at a time
    assert classifier.on_call_succeeded(ok()) == []  # not a probe: ignored
    changes = classifier.on_call_succeeded(ok(probe=True))
    assert [(c.previous, c.state) for c in changes] == [(HALF_OPEN, CLOSED)]
    assert changes[0].open_count == 0


def test_breaker_when_probe_fails_then_reopens_doubling_up_to_cap() -> None:
    clock = ManualClock(start_ns=1_000 * NS)
    classifier = engine(clock, open_base_s=5, open_max_s=30)
    trip(classifier)
    durations = []
    for _ in range(5):
        clock.advance(1000)
        assert [c.state for c in classifier.tick()] == [HALF_OPEN]
        (change,) = classifier.on_call_failed(fail("EService:Unavailable", probe=True))
        assert change.state is OPEN
        assert change.retry_at_ns is not None
        durations.append((change.retry_at_ns - clock.now_ns) / NS)
    assert durations == [10, 20, 30, 30, 30]


def test_breaker_when_reopened_after_close_then_duration_restarts_at_base() -> None:
    clock = ManualClock(start_ns=1_000 * NS)
    classifier = engine(clock)
    trip(classifier)
    clock.advance(5)
    classifier.tick()
    classifier.on_call_failed(fail("EService:Unavailable", probe=True))  # 10 s
    clock.advance(10)
    classifier.tick()
    classifier.on_call_succeeded(ok(probe=True))
    reopened = trip(classifier)
    assert reopened.retry_at_ns == clock.now_ns + 5 * NS


def test_breaker_when_probe_answered_with_client_error_then_closes() -> None:
    clock = ManualClock(start_ns=1_000 * NS)
    classifier = engine(clock)
    trip(classifier)
    clock.advance(5)
    classifier.tick()
    changes = classifier.on_call_failed(fail("EOrder:Insufficient funds", probe=True))
    assert [c.state for c in changes] == [CLOSED]


def test_breaker_when_event_arrives_after_open_period_then_advances_without_tick() -> None:
    clock = ManualClock(start_ns=1_000 * NS)
    classifier = engine(clock)
    trip(classifier)
    clock.advance(6)
    changes = classifier.on_call_succeeded(ok(probe=True))
    assert [c.state for c in changes] == [HALF_OPEN, CLOSED]


def test_breaker_when_lockout_then_private_and_trading_open_for_fifteen_minutes() -> None:
    clock = ManualClock(start_ns=1_000 * NS)
    classifier = engine(clock)
    changes = classifier.on_call_failed(fail("EGeneral:Temporary lockout"))
    assert {(c.scope, c.state) for c in changes} == {(PRIVATE, OPEN), (TRADING, OPEN)}
    assert all(c.retry_at_ns == clock.now_ns + 900 * NS for c in changes)
    clock.advance(899)
    assert classifier.tick() == []
    assert not classifier.admit_probe(PRIVATE)
    clock.advance(1)
    assert {(c.scope, c.state) for c in classifier.tick()} == {
        (PRIVATE, HALF_OPEN),
        (TRADING, HALF_OPEN),
    }
    assert classifier.breaker_state(PUBLIC) is CLOSED


def test_breaker_when_lockout_repeats_then_timer_restarts() -> None:
    clock = ManualClock(start_ns=1_000 * NS)
    classifier = engine(clock)
    classifier.on_call_failed(fail("EGeneral:Temporary lockout"))
    clock.advance(600)
    changes = classifier.on_call_failed(fail("EGeneral:Temporary lockout"))
    assert all(c.retry_at_ns == clock.now_ns + 900 * NS for c in changes)
    clock.advance(600)
    assert classifier.tick() == []


def test_breaker_when_maintenance_then_trading_and_private_held_until_online() -> None:
    clock = ManualClock(start_ns=1_000 * NS)
    classifier = engine(clock)
    changes = classifier.on_exchange_status(status(ExchangeStatus.MAINTENANCE))
    assert {(c.scope, c.state, c.retry_at_ns) for c in changes} == {
        (TRADING, OPEN, None),
        (PRIVATE, OPEN, None),
    }
    assert classifier.breaker_state(PUBLIC) is CLOSED
    assert classifier.breaker_state("kraken.ws") is CLOSED
    clock.advance(100_000)
    assert classifier.tick() == []
    assert classifier.on_call_succeeded(ok(TRADING, probe=True)) == []
    released = classifier.on_exchange_status(status(ExchangeStatus.ONLINE))
    assert {(c.scope, c.previous, c.state) for c in released} == {
        (TRADING, OPEN, CLOSED),
        (PRIVATE, OPEN, CLOSED),
    }


def test_breaker_when_cancel_only_then_trading_held_and_private_released() -> None:
    clock = ManualClock(start_ns=1_000 * NS)
    classifier = engine(clock)
    classifier.on_exchange_status(status(ExchangeStatus.MAINTENANCE))
    changes = classifier.on_exchange_status(status(ExchangeStatus.CANCEL_ONLY))
    assert {(c.scope, c.state) for c in changes} == {(TRADING, OPEN), (PRIVATE, CLOSED)}
    assert classifier.breaker_state(TRADING) is OPEN
    (trading,) = [c for c in changes if c.scope == TRADING]
    assert trading.reason == "exchange status cancel_only"
    assert trading.retry_at_ns is None


def test_breaker_when_post_only_then_nothing_held() -> None:
    classifier = engine(ManualClock(start_ns=1_000 * NS))
    assert classifier.on_exchange_status(status(ExchangeStatus.POST_ONLY)) == []


def test_breaker_when_status_for_another_exchange_then_ignored() -> None:
    classifier = engine(ManualClock(start_ns=1_000 * NS))
    assert classifier.on_exchange_status(status(ExchangeStatus.MAINTENANCE, "binance")) == []


def test_breaker_when_online_during_lockout_then_stays_open_until_lockout_ends() -> None:
    clock = ManualClock(start_ns=1_000 * NS)
    classifier = engine(clock)
    classifier.on_call_failed(fail("EGeneral:Temporary lockout"))
    classifier.on_exchange_status(status(ExchangeStatus.MAINTENANCE))
    locked_until = clock.now_ns + 900 * NS
    clock.advance(60)
    changes = classifier.on_exchange_status(status(ExchangeStatus.ONLINE))
    assert {(c.scope, c.state, c.retry_at_ns) for c in changes} == {
        (TRADING, OPEN, locked_until),
        (PRIVATE, OPEN, locked_until),
    }


def test_snapshot_restore_round_trip_through_json() -> None:
    clock = ManualClock(start_ns=1_000 * NS)
    first = engine(clock)
    trip(first)
    first.on_exchange_status(status(ExchangeStatus.CANCEL_ONLY))
    wire = msgspec.json.encode(first.snapshot())
    states = msgspec.json.decode(wire, type=tuple[BreakerSnapshot, ...])

    second = engine(clock)
    second.restore(states)
    assert second.snapshot() == first.snapshot()
    assert second.breaker_state(PRIVATE) is OPEN
    assert second.breaker_state(TRADING) is OPEN
    clock.advance(5)
    assert [(c.scope, c.state) for c in second.tick()] == [(PRIVATE, HALF_OPEN)]


# -- issue 11, point 3: reports count when the call happened, not when they arrive -----------


def late(event: KrakenCallFailed, seconds_ago: float) -> KrakenCallFailed:
    at = _EventClock.clock.now_ns - int(seconds_ago * NS)
    return msgspec.structs.replace(event, ts_event=at, ts_init=at)


def test_breaker_when_backlog_of_an_old_outage_is_drained_then_stays_closed() -> None:
    """A classifier restarted ten minutes after an outage reads its reports: nothing opens."""
    clock = ManualClock(start_ns=1_000_000 * NS)
    classifier = engine(clock)
    changes = []
    for index in range(20):
        changes += classifier.on_call_failed(late(fail("EService:Unavailable"), 600 - index))
    assert changes == []
    assert classifier.breaker_state(PRIVATE) is CLOSED


def test_breaker_when_late_reports_age_out_then_counted_from_their_own_time() -> None:
    """Four failures that happened 55 s ago leave the 60 s window 5 s later, although they
    arrived only now."""
    clock = ManualClock(start_ns=1_000_000 * NS)
    classifier = engine(clock, consecutive_failures_to_trip=100)
    for _ in range(4):
        assert classifier.on_call_failed(late(fail("EAPI:Rate limit exceeded"), 55)) == []
    clock.advance(10)
    assert classifier.on_call_failed(fail("EAPI:Rate limit exceeded")) == []  # 1/1, not 5/5
    assert classifier.breaker_state(PRIVATE) is CLOSED


def test_breaker_when_report_is_late_but_inside_the_window_then_it_counts() -> None:
    clock = ManualClock(start_ns=1_000_000 * NS)
    classifier = engine(clock, consecutive_failures_to_trip=100)
    changes = []
    for _ in range(5):
        changes += classifier.on_call_failed(late(fail("EAPI:Rate limit exceeded"), 30))
    assert [c.state for c in changes] == [OPEN]


# -- issue 11, point 2: no breaker stays half-open without a scheduled way out ---------------


def test_breaker_when_half_open_and_nobody_probes_then_reopens_after_the_timeout() -> None:
    clock = ManualClock(start_ns=1_000_000 * NS)
    classifier = engine(clock, half_open_timeout_s=10.0)
    trip(classifier, scope=PUBLIC)
    clock.advance(5)
    assert [c.state for c in classifier.tick()] == [HALF_OPEN]
    clock.advance(9.9)
    assert classifier.tick() == []
    clock.advance(0.1)
    changes = classifier.tick()
    assert [(c.previous, c.state) for c in changes] == [(HALF_OPEN, OPEN)]
    assert changes[0].retry_at_ns is not None  # it will be half-open again, for a new probe
    assert "no probe" in changes[0].reason


def test_breaker_when_half_open_then_a_call_sent_after_it_decides_without_probe_flag() -> None:
    """The market-data WebSocket reconnect after kraken.ws turned half-open is a real test of
    the service even though nobody flagged it as a probe."""
    clock = ManualClock(start_ns=1_000_000 * NS)
    classifier = engine(clock)
    trip(classifier, scope=PUBLIC)
    clock.advance(5)
    classifier.tick()
    in_flight = msgspec.structs.replace(ok(scope=PUBLIC), latency_ns=2 * NS)
    assert classifier.on_call_succeeded(in_flight) == []  # sent before the half-open began
    clock.advance(1)
    changes = classifier.on_call_succeeded(ok(scope=PUBLIC))
    assert [c.state for c in changes] == [CLOSED]


# -- short outages (issue 14 item 6) --------------------------------------------------------


def test_breaker_when_the_front_door_fails_twice_in_a_row_then_opens_at_once() -> None:
    """An HTML 5xx or a refused connection means the exchange is unreachable: waiting for
    five of them only lets more calls into the outage."""
    clock = ManualClock(start_ns=1_000 * NS)
    classifier = engine(clock)
    for _ in range(20):
        classifier.on_call_succeeded(ok(scope=TRADING))
    assert classifier.on_call_failed(fail("x", scope=TRADING, transport="http_5xx")) == []
    changes = classifier.on_call_failed(fail("x", scope=TRADING, transport="connection"))
    assert (changes[0].scope, changes[0].state) == (TRADING, OPEN)
    assert "2 consecutive outage-shaped failures" in changes[0].reason


def test_breaker_when_single_front_door_errors_come_between_successes_then_stays_closed() -> None:
    clock = ManualClock(start_ns=1_000 * NS)
    classifier = engine(clock)
    for _ in range(50):
        assert classifier.on_call_failed(fail("x", scope=TRADING, transport="http_5xx")) == []
        for _ in range(4):
            assert classifier.on_call_succeeded(ok(scope=TRADING)) == []
    assert classifier.breaker_state(TRADING) is CLOSED


def test_breaker_when_the_front_door_is_down_then_every_rest_scope_opens_together() -> None:
    """Public, private and trading calls go through the same front door: what one scope
    learns spares the others their own failed calls. The WebSocket is another door."""
    clock = ManualClock(start_ns=1_000 * NS)
    classifier = engine(clock)
    changes = []
    for _ in range(2):
        changes += classifier.on_call_failed(fail("x", scope=PUBLIC, transport="http_5xx"))
    assert {(c.scope, c.state) for c in changes} == {
        (PUBLIC, OPEN),
        (PRIVATE, OPEN),
        (TRADING, OPEN),
    }
    assert classifier.breaker_state("kraken.ws") is CLOSED
    assert all("kraken.public" in c.reason for c in changes if c.scope != PUBLIC)


def test_breaker_when_kraken_answers_unavailable_then_only_that_scope_opens() -> None:
    """``EService:Unavailable`` comes from Kraken itself, often for one engine: five in a
    row trip the call's own scope (independent faults must not trip it), the others stay."""
    clock = ManualClock(start_ns=1_000 * NS)
    classifier = engine(clock)
    trip(classifier, scope=TRADING)
    assert classifier.breaker_state(PUBLIC) is CLOSED
    assert classifier.breaker_state(PRIVATE) is CLOSED
