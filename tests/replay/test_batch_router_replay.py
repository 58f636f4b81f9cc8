"""Replay ``batch_router_session.gfl`` through the real ``BatchRouterActor`` on a ``MemoryBus``
and check it publishes the outcomes the live router published.

How the replay runs: a fresh sim with the recording's options and prices (same seed, no
ticking), the router with the recording's config (:func:`router_config`, only the sim URLs
differ), a ``ManualClock`` set to each record's receive time. The recorded inputs (prices,
stale/recovered, breaker, kill switch, batch requests) are published on the in-memory bus in
log order; publishing a batch returns once the router's handler has returned, i.e. after its
``BatchCompleted``, so each batch is finished before the next input.

How outputs are compared (:func:`mismatches`): the order, placed, rejected and failed events,
``BatchRejected`` and ``BatchCompleted``, grouped per batch, batches in completion order. Within
a batch the events are compared sorted by (type, index), because the live log holds them in
arrival order at the recorder. Every field must be equal, txids included (the sim draws them
from one seeded generator in the order placements reach it, and the client sends private calls
one at a time per key, so a seed and an input sequence give the same txids), except
:data:`EXCLUDED_FIELDS`:

- ``ts_event`` and ``ts_init`` of every event: the live router read the wall clock, the replay
  the manual clock at the record's receive time;
- ``BatchCompleted.duration_ns``: wall time spent on the batch, different on every run.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from actors.batch_router.bus_ports import KILL_SWITCH_KEY
from actors.batch_router.shell import BatchRouterActor
from bus import LogRecord, ManualClock, Subjects, read_event_log, replay
from bus.codec import MESSAGES
from bus.jetstream import CONTROL_BUCKET, MSG_ID_HEADER
from bus.testing import MemoryBus, subject_matches
from kraken.sim import DEFAULT_API_SECRET, running_sim
from schemas import AnyMessage
from schemas.events import (
    BatchCompleted,
    BatchRejected,
    OrderBatchRequested,
    OrderOutcome,
    OrderPlaced,
    OrderRejected,
    TradingHalted,
    TradingResumed,
)
from schemas.orders import BatchStrategy
from tests.replay.record_batch_router_session import (
    EXPOSURE_LIMIT,
    LOG_PATH,
    SUBJECT_ROOT,
    output_subjects,
    prepare_sim,
    router_config,
    sim_credentials,
    sim_options,
)

EXCLUDED_FIELDS = ("ts_event", "ts_init", "duration_ns")
"""Fields never compared (see the module docstring for why)."""
BATCH_TIMEOUT_S = 30.0
"""Generous bound on one replayed batch, so a hung router fails the test instead of stalling."""
_OUTPUTS = output_subjects(Subjects(SUBJECT_ROOT))


@dataclass(frozen=True)
class RecordedSession:
    inputs: list[LogRecord]
    outputs: list[AnyMessage]


def is_output(subject: str) -> bool:
    return any(subject_matches(pattern, subject) for pattern in _OUTPUTS)


def load_session(path: Path = LOG_PATH) -> RecordedSession:
    records = list(read_event_log(path))
    return RecordedSession(
        inputs=[r for r in records if not is_output(r.subject)],
        outputs=[MESSAGES.decode(r.payload) for r in records if is_output(r.subject)],
    )


async def replay_session(inputs: Sequence[LogRecord], **execution: object) -> list[AnyMessage]:
    """Feed the recorded inputs to a fresh router and sim; return the router's outputs.

    ``execution`` overrides settings of the recorded config (for the negative tests).
    """
    clock = ManualClock(inputs[0].received_ns)
    # The sim shares the replay's clock: Kraken ``deadline``s the router computes at recorded
    # times must be judged at those times, not against today's wall clock.
    async with running_sim(dataclasses.replace(sim_options(), clock=clock)) as sim:
        prepare_sim(sim)
        config = router_config(sim.rest_url, sim.ws_url, execution=execution)
        bus = MemoryBus(config=config, clock=clock)
        actor = BatchRouterActor(config=config, credentials=sim_credentials())
        await bus.attach(actor)

        async def deliver(record: LogRecord) -> None:
            message = MESSAGES.decode(record.payload)
            if isinstance(message, TradingHalted | TradingResumed):
                # As `galfriday halt/resume` do: the state is stored, then announced.
                await bus.bucket(CONTROL_BUCKET).put(KILL_SWITCH_KEY, record.payload)
            async with asyncio.timeout(BATCH_TIMEOUT_S):
                await bus.publish(record.subject, message, msg_id=record.headers.get(MSG_ID_HEADER))
            if isinstance(message, OrderBatchRequested):
                done = [e.batch_id for e in bus.of_type(BatchCompleted)]
                assert message.batch_id in done, f"batch {message.batch_id} did not complete"

        try:
            await replay(inputs, deliver, clock=clock)
        finally:
            await actor.stop()
    return [p.message for p in bus.published if is_output(p.subject)]


# -- comparison -----------------------------------------------------------------------------------


def comparable(event: AnyMessage) -> AnyMessage:
    """The event with :data:`EXCLUDED_FIELDS` zeroed."""
    present = {name: 0 for name in EXCLUDED_FIELDS if hasattr(event, name)}
    return msgspec.structs.replace(event, **present)


def _tag(event: AnyMessage) -> str:
    return str(type(event).__struct_config__.tag)


def per_batch(outputs: Sequence[AnyMessage]) -> dict[str, list[AnyMessage]]:
    """Comparable outputs by batch id, batches in completion order, each sorted by type, index."""
    order = [e.batch_id for e in outputs if isinstance(e, BatchCompleted)]
    grouped: dict[str, list[AnyMessage]] = {batch_id: [] for batch_id in order}
    for event in outputs:
        batch_id = getattr(event, "batch_id", None)
        grouped.setdefault(str(batch_id), []).append(comparable(event))
    for events in grouped.values():
        events.sort(key=lambda e: (_tag(e), getattr(e, "index", -1)))
    return grouped


def mismatches(recorded: Sequence[AnyMessage], replayed: Sequence[AnyMessage]) -> list[str]:
    """Every difference between the live and the replayed outputs; empty when they agree."""
    live, again = per_batch(recorded), per_batch(replayed)
    found: list[str] = []
    if list(live) != list(again):
        found.append(f"batches (completion order): recorded {list(live)}, replayed {list(again)}")
    for batch_id in [b for b in live if b in again]:
        expected, actual = live[batch_id], again[batch_id]
        if [_tag(e) for e in expected] != [_tag(e) for e in actual]:
            found.append(
                f"{batch_id}: recorded events {[_tag(e) for e in expected]}, "
                f"replayed {[_tag(e) for e in actual]}"
            )
            continue
        for recorded_event, replayed_event in zip(expected, actual, strict=True):
            if recorded_event != replayed_event:
                found.append(
                    f"{batch_id}: recorded {recorded_event!r}, replayed {replayed_event!r}"
                )
    return found


# -- tests ----------------------------------------------------------------------------------------


def test_recorded_log_covers_every_strategy_and_each_rejection_kind() -> None:
    """The log is not vacuous: all strategies, placed orders with txids, and every rejection."""
    session = load_session()
    requests = [MESSAGES.decode(r.payload) for r in session.inputs]
    strategies = {e.strategy for e in requests if isinstance(e, OrderBatchRequested)}
    assert strategies == set(BatchStrategy)
    placed = [e for e in session.outputs if isinstance(e, OrderPlaced)]
    assert len(placed) >= 10
    assert all(e.txid for e in placed)
    reasons = [e.reason for e in session.outputs if isinstance(e, OrderRejected)]
    for kind in ("volume_not_positive", "risk_exposure_limit", "risk_reference_stale"):
        assert any(reason.startswith(kind) for reason in reasons), kind
    assert sum(reason.startswith("kill_switch") for reason in reasons) == 2
    assert any(isinstance(e, BatchRejected) for e in session.outputs)
    completed = {e.batch_id: e for e in session.outputs if isinstance(e, BatchCompleted)}
    assert completed["halted"].rejected == completed["halted"].total
    assert completed["resumed"].results[0].outcome is OrderOutcome.PLACED


def test_recorded_log_holds_no_api_secret() -> None:
    assert DEFAULT_API_SECRET.encode() not in LOG_PATH.read_bytes()


@pytest.mark.sim
async def test_replay_when_fed_the_recorded_inputs_then_outputs_match_the_live_router() -> None:
    session = load_session()

    replayed = await replay_session(session.inputs)

    assert mismatches(session.outputs, replayed) == []


@pytest.mark.sim
@pytest.mark.parametrize(
    ("execution", "changed_batch"),
    [
        ({"max_batch_exposure": EXPOSURE_LIMIT * 2}, "exposure"),
        ({"max_batch_exposure": Decimal(300)}, "sequential"),
        ({"max_batch_size": 9}, "oversize"),
    ],
    ids=["exposure-raised", "exposure-lowered", "batch-size-raised"],
)
async def test_replay_when_router_config_differs_then_outputs_mismatch(
    execution: dict[str, object], changed_batch: str
) -> None:
    session = load_session()

    replayed = await replay_session(session.inputs, **execution)

    found = mismatches(session.outputs, replayed)
    assert any(line.startswith(f"{changed_batch}: ") for line in found), found


def test_mismatches_when_times_and_durations_differ_then_nothing_is_reported() -> None:
    """The exclusions: only timestamps and durations may differ."""
    outputs = load_session().outputs
    shifted = [
        msgspec.structs.replace(e, **{name: 12_345 for name in EXCLUDED_FIELDS if hasattr(e, name)})
        for e in outputs
    ]

    assert mismatches(outputs, shifted) == []


def test_mismatches_when_a_txid_differs_then_reported() -> None:
    """The txid check has teeth: one placed order's txid changed in the event."""
    outputs = load_session().outputs
    index = next(i for i, e in enumerate(outputs) if isinstance(e, OrderPlaced))
    changed = list(outputs)
    changed[index] = msgspec.structs.replace(outputs[index], txid="OAAAAA-BBBBB-CCCCCC")

    found = mismatches(outputs, changed)

    assert len(found) == 1
    assert "OAAAAA-BBBBB-CCCCCC" in found[0]


def test_mismatches_when_order_events_are_reordered_then_only_batch_order_counts() -> None:
    """Arrival order inside a batch is not compared; the batches' completion order is."""
    outputs = load_session().outputs
    completions = [e for e in outputs if isinstance(e, BatchCompleted)]
    order_events = [e for e in outputs if not isinstance(e, BatchCompleted)]

    assert mismatches(outputs, [*reversed(order_events), *completions]) == []
    assert mismatches(outputs, [*order_events, *reversed(completions)]) != []
