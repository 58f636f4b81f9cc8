"""Error statistics: windows, totals, top errors, trend, retries and breaker time."""

from __future__ import annotations

import random

import msgspec

from actors.error_classifier import KrakenErrorClassifier
from actors.error_classifier.statistics import MAX_KEYS, trend_of
from bus.clock import ManualClock
from schemas.events import (
    ErrorCount,
    ErrorStatistics,
    KrakenCallFailed,
    KrakenCallSucceeded,
    OperationKind,
)

NS = 1_000_000_000
MINUTE = 60 * NS


def fail(
    *errors: str, scope: str = "kraken.trading", operation: OperationKind = OperationKind.PLACE
) -> KrakenCallFailed:
    return KrakenCallFailed(
        ts_event=10_000 * NS,
        ts_init=10_000 * NS,
        scope=scope,
        endpoint="AddOrder",
        operation=operation,
        latency_ns=1,
        errors=errors,
    )


def ok(scope: str = "kraken.trading") -> KrakenCallSucceeded:
    return KrakenCallSucceeded(
        ts_event=10_000 * NS,
        ts_init=10_000 * NS,
        scope=scope,
        endpoint="AddOrder",
        operation=OperationKind.PLACE,
        latency_ns=1,
    )


def counts(rows: tuple[ErrorCount, ...]) -> dict[str, tuple[int, int, int]]:
    return {row.key: (row.last_minute, row.last_hour, row.total) for row in rows}


def test_statistics_when_errors_age_then_minute_hour_and_total_differ() -> None:
    clock = ManualClock(start_ns=10_000 * NS)
    classifier = KrakenErrorClassifier(clock=clock, rng=random.Random(1))
    classifier.on_call_failed(fail("EOrder:Insufficient funds"))
    clock.advance(2 * 3600)
    classifier.on_call_failed(fail("EOrder:Insufficient funds"))
    clock.advance(30 * 60)
    classifier.on_call_failed(fail("EOrder:Insufficient funds"))
    clock.advance(10)
    classifier.on_call_failed(
        fail("EGeneral:Invalid arguments:volume", "EGeneral:Invalid arguments:price")
    )

    stats = classifier.get_error_statistics()

    assert counts(stats.by_error) == {
        "EOrder:Insufficient funds": (1, 2, 3),
        "EGeneral:Invalid arguments": (2, 2, 2),
    }
    assert counts(stats.by_category) == {
        "insufficient_funds": (1, 2, 3),
        "invalid_arguments": (1, 1, 1),
    }
    assert counts(stats.by_scope) == {"kraken.trading": (2, 3, 4)}
    assert counts(stats.by_operation) == {"place": (2, 3, 4)}
    assert stats.top_errors == ("EOrder:Insufficient funds", "EGeneral:Invalid arguments")


def test_statistics_when_hour_passes_then_nothing_recent_but_total_kept() -> None:
    clock = ManualClock(start_ns=10_000 * NS)
    classifier = KrakenErrorClassifier(clock=clock, rng=random.Random(1))
    classifier.on_call_failed(fail("EService:Busy"))
    clock.advance(3601 + 60)
    stats = classifier.get_error_statistics()
    assert counts(stats.by_error) == {"EService:Busy": (0, 0, 1)}
    assert stats.top_errors == ()
    assert stats.trend == {}


def test_trend_when_burst_in_last_minute_then_rising() -> None:
    clock = ManualClock(start_ns=10_000 * NS)
    classifier = KrakenErrorClassifier(clock=clock, rng=random.Random(1))
    classifier.on_call_failed(fail("EService:Busy"))
    clock.advance(50 * 60)
    for _ in range(5):
        classifier.on_call_failed(fail("EOrder:Rate limit exceeded"))
    classifier.on_call_failed(fail("EService:Busy"))
    clock.advance(5 * 60)
    for _ in range(5):
        classifier.on_call_failed(fail("EOrder:Rate limit exceeded"))
    trend = classifier.get_error_statistics().trend
    assert trend == {"EOrder:Rate limit exceeded": "rising", "EService:Busy": "falling"}


def test_trend_function_thresholds() -> None:
    hour = 60 * MINUTE
    assert trend_of(1, 60, hour) == "steady"
    assert trend_of(5, 60, hour) == "rising"
    assert trend_of(0, 60, hour) == "falling"
    assert trend_of(5, 5, 30 * NS) == "steady"  # a young tracker: the window is the minute


def test_statistics_when_many_distinct_unknown_errors_then_keys_bounded() -> None:
    clock = ManualClock(start_ns=10_000 * NS)
    classifier = KrakenErrorClassifier(clock=clock, rng=random.Random(1))
    for i in range(MAX_KEYS + 50):
        classifier.on_call_failed(fail(f"mystery {i}"))
    stats = classifier.get_error_statistics()
    assert len(stats.by_error) == MAX_KEYS
    assert counts(stats.by_error)["other"][2] == 50 + 1  # the slot kept for ``other``


def test_statistics_count_retries_and_their_outcomes() -> None:
    clock = ManualClock(start_ns=10_000 * NS)
    classifier = KrakenErrorClassifier(clock=clock, rng=random.Random(1))
    busy = fail("EService:Busy", operation=OperationKind.READ)
    classifier.on_call_failed(busy)
    assert classifier.should_retry(busy, OperationKind.READ, 1).retry
    classifier.on_call_succeeded(ok())
    assert not classifier.should_retry("EOrder:Insufficient funds", OperationKind.PLACE, 1).retry
    stats = classifier.get_error_statistics()
    assert (stats.retries_granted, stats.retries_denied) == (1, 1)
    data = classifier.statistics_dict()
    assert (data["retries_succeeded"], data["retries_failed"]) == (1, 0)


def test_statistics_track_breaker_transitions_and_time_open() -> None:
    clock = ManualClock(start_ns=10_000 * NS)
    classifier = KrakenErrorClassifier(clock=clock, rng=random.Random(1))
    for _ in range(5):
        classifier.on_call_failed(fail("EService:Unavailable"))
    clock.advance(5)
    classifier.tick()
    clock.advance(3)
    assert classifier.get_error_statistics().breaker_open_ns == {"kraken.trading": 5 * NS}
    assert classifier.get_error_statistics().breaker_transitions == 2
    probe = KrakenCallSucceeded(
        ts_event=10_000 * NS,
        ts_init=10_000 * NS,
        scope="kraken.trading",
        endpoint="AddOrder",
        operation=OperationKind.PLACE,
        latency_ns=1,
        probe=True,
    )
    classifier.on_call_succeeded(probe)
    clock.advance(100)
    stats = classifier.get_error_statistics()
    assert stats.breaker_transitions == 3
    assert stats.breaker_open_ns == {"kraken.trading": 5 * NS}


def test_statistics_event_and_dict_are_json_encodable() -> None:
    clock = ManualClock(start_ns=10_000 * NS)
    classifier = KrakenErrorClassifier(clock=clock, rng=random.Random(1))
    classifier.on_call_failed(fail("\ud800 weird " + "x" * 10_000))
    classifier.on_call_failed(fail(b"\xff\xfe".decode("latin-1")))
    stats = classifier.get_error_statistics()
    decoded = msgspec.json.decode(msgspec.json.encode(stats), type=ErrorStatistics)
    assert decoded == stats
    assert msgspec.json.decode(msgspec.json.encode(classifier.statistics_dict()))["by_error"]
