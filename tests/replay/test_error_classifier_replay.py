"""Replay ``error_classifier_outage.gfl`` through the real ``ErrorClassifierActor`` on a
``MemoryBus`` and check it makes the breaker transitions the live actor made.

How the replay runs: the recorded input events (Kraken call events, exchange-status events)
are published on the in-memory bus in log order, the ``ManualClock`` set to each record's
receive time first. The actor's own timer is left dormant (its period is real time, which
means nothing here); instead, before each record, the replay does what the timer does —
``core.tick`` then the shell's emit path (outbox, durable publish, KV store) — at every
open-period deadline that falls before that record.

How transitions are compared (:func:`mismatches`), pairwise in order:

- exactly: scope, previous and new state, reason, ``open_count`` and the open period
  (``retry_at_ns - ts_event``);
- ``since_ns`` within a tolerance. Event-driven transitions (open on the tripping failure,
  close on the probe) happen live at the actor's clock when it handled the event, in replay at
  the recorder's receive time of that event: the two differ by the delivery skew between two
  subscribers of one server in one process, ``DELIVERY_SKEW_NS`` either way. Timer-driven ones
  (OPEN → HALF_OPEN) happen in replay exactly at the deadline, live at the first 0.25 s timer
  tick after it (or the next event, if sooner): the live one lags by 0 to one tick, plus the
  skew inherited from the opening event.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest

from actors.error_classifier.shell import ErrorClassifierActor
from bus import LogRecord, ManualClock, Subjects, read_event_log, replay
from bus.codec import MESSAGES
from bus.jetstream import MSG_ID_HEADER
from bus.testing import MemoryBus, subject_matches
from schemas import GalFridayConfig
from schemas.events import BreakerState, CircuitBreakerStateChanged
from tests.replay.record_error_classifier_outage import (
    ACTOR_SEED,
    LOG_PATH,
    SUBJECT_ROOT,
    TIMER_TICK_S,
    classifier_config,
)

_NS_PER_S = 1_000_000_000
DELIVERY_SKEW_NS = 100_000_000
"""Live handling vs recorder receive time of the same message. Under 1 ms in the recordings
made so far; 100 ms leaves room for a re-recording on a loaded machine and is still well
under the 0.5 s open period the exact checks pin."""
TIMER_LAG_NS = int(TIMER_TICK_S * _NS_PER_S)
DORMANT_TIMER_S = 3600.0
"""The actor's real-time timer must not tick at whatever the manual clock says mid-replay."""


@dataclass(frozen=True)
class RecordedOutage:
    inputs: list[LogRecord]
    transitions: list[CircuitBreakerStateChanged]


def load_outage(path: Path = LOG_PATH) -> RecordedOutage:
    breakers = Subjects(SUBJECT_ROOT).breakers_all()
    records = list(read_event_log(path))
    transitions = [
        MESSAGES.decode(r.payload) for r in records if subject_matches(breakers, r.subject)
    ]
    return RecordedOutage(
        inputs=[r for r in records if not subject_matches(breakers, r.subject)],
        transitions=[t for t in transitions if isinstance(t, CircuitBreakerStateChanged)],
    )


def next_deadline(actor: ErrorClassifierActor, until_ns: int) -> int | None:
    """The earliest open-period end not after ``until_ns``, where a timer tick changes state."""
    deadlines = [
        snapshot.retry_at_ns
        for snapshot in actor.core.snapshot()
        if snapshot.state is BreakerState.OPEN
        and snapshot.status_hold is None
        and snapshot.retry_at_ns is not None
        and snapshot.retry_at_ns <= until_ns
    ]
    return min(deadlines, default=None)


async def run_timer_until(actor: ErrorClassifierActor, clock: ManualClock, until_ns: int) -> None:
    """The body of the shell's timer loop, run at each deadline up to ``until_ns``."""
    while (deadline := next_deadline(actor, until_ns)) is not None:
        clock.set(deadline)
        published = actor.health()["transitions_published"]
        await actor.tick_once(clock())
        assert actor.health()["transitions_published"] > published, (
            f"tick at {deadline} did nothing"
        )


async def replay_outage(
    inputs: Sequence[LogRecord], config: GalFridayConfig
) -> list[CircuitBreakerStateChanged]:
    """Feed the recorded inputs to a fresh actor; return the transitions it published."""
    clock = ManualClock(inputs[0].received_ns)
    bus = MemoryBus(config=config, clock=clock)
    actor = ErrorClassifierActor(
        config=config,
        rng=random.Random(ACTOR_SEED),
        tick_interval_s=DORMANT_TIMER_S,
        probe_public=False,
    )
    await bus.attach(actor)

    async def deliver(record: LogRecord) -> None:
        await run_timer_until(actor, clock, record.received_ns)
        clock.set(record.received_ns)
        message = MESSAGES.decode(record.payload)
        await bus.publish(record.subject, message, msg_id=record.headers.get(MSG_ID_HEADER))

    try:
        await replay(inputs, deliver)
    finally:
        await actor.stop()
    return bus.of_type(CircuitBreakerStateChanged)


def _exact(change: CircuitBreakerStateChanged) -> tuple[object, ...]:
    open_period = None if change.retry_at_ns is None else change.retry_at_ns - change.ts_event
    return (
        change.scope,
        str(change.previous),
        str(change.state),
        change.reason,
        change.open_count,
        open_period,
    )


def _lag_bounds(change: CircuitBreakerStateChanged) -> tuple[int, int]:
    """Allowed live ``since_ns`` minus replayed ``since_ns``."""
    if change.state is BreakerState.HALF_OPEN:
        return -DELIVERY_SKEW_NS, TIMER_LAG_NS + DELIVERY_SKEW_NS
    return -DELIVERY_SKEW_NS, DELIVERY_SKEW_NS


def mismatches(
    recorded: Sequence[CircuitBreakerStateChanged], replayed: Sequence[CircuitBreakerStateChanged]
) -> list[str]:
    """Every difference between the live and the replayed transitions; empty when they agree."""
    found: list[str] = []
    if len(recorded) != len(replayed):
        found.append(f"{len(recorded)} transitions recorded, {len(replayed)} replayed")
    for index, (live, again) in enumerate(zip(recorded, replayed, strict=False)):
        if _exact(live) != _exact(again):
            found.append(f"#{index}: recorded {_exact(live)}, replayed {_exact(again)}")
            continue
        low, high = _lag_bounds(live)
        lag = live.since_ns - again.since_ns
        if not low <= lag <= high:
            found.append(f"#{index} {live.state}: live since_ns lags the replay by {lag} ns")
    return found


def with_breakers(**changes: float) -> Callable[[GalFridayConfig], GalFridayConfig]:
    def change(config: GalFridayConfig) -> GalFridayConfig:
        breakers = msgspec.structs.replace(config.breakers, **changes)
        return msgspec.structs.replace(config, breakers=breakers)

    return change


def test_recorded_log_holds_a_full_outage_cycle() -> None:
    """The log is not vacuous: failures in, and the breaker opened, re-opened and closed."""
    outage = load_outage()
    failures = [MESSAGES.decode(r.payload) for r in outage.inputs]
    assert any("EService:Unavailable" in getattr(event, "errors", ()) for event in failures)
    states = [t.state for t in outage.transitions]
    assert states[0] is BreakerState.OPEN
    assert states[-1] is BreakerState.CLOSED
    assert sum(1 for t in outage.transitions if t.previous is BreakerState.HALF_OPEN) >= 2


async def test_replay_when_fed_the_recorded_inputs_then_transitions_match_the_live_actor() -> None:
    outage = load_outage()

    replayed = await replay_outage(outage.inputs, classifier_config())

    assert mismatches(outage.transitions, replayed) == []


@pytest.mark.parametrize(
    "change",
    [
        with_breakers(consecutive_failures_to_trip=6),
        with_breakers(open_base_s=1.0),
        with_breakers(open_max_s=0.5),
    ],
    ids=["trip-threshold", "open-period", "open-cap"],
)
async def test_replay_when_breaker_config_differs_then_transitions_mismatch(
    change: Callable[[GalFridayConfig], GalFridayConfig],
) -> None:
    outage = load_outage()

    replayed = await replay_outage(outage.inputs, change(classifier_config()))

    assert mismatches(outage.transitions, replayed) != []


async def test_mismatches_when_a_replayed_transition_is_off_by_a_tick_then_reported() -> None:
    """The time check has teeth: the same transitions, one moved by two timer ticks."""
    outage = load_outage()
    replayed = await replay_outage(outage.inputs, classifier_config())
    first = replayed[0]
    moved = msgspec.structs.replace(first, since_ns=first.since_ns + 2 * TIMER_LAG_NS)

    found = mismatches(outage.transitions, [moved, *replayed[1:]])

    assert len(found) == 1
    assert found[0].startswith(f"#0 {first.state}: live since_ns lags the replay by -")
