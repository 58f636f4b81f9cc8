"""The error-classifier shell on the in-memory bus: transitions published and stored with
compare-and-set, state restored on restart, timer ticks and statistics."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import msgspec
import pytest_asyncio

from actors.error_classifier.circuit_breaker import BreakerSnapshot
from actors.error_classifier.persistence import BreakerStore, snapshot_key
from actors.error_classifier.shell import ErrorClassifierActor
from bus.clock import ManualClock
from bus.codec import MESSAGES, encode
from bus.jetstream import BREAKER_SNAPSHOTS_BUCKET, BREAKERS_BUCKET, EXCHANGE_STATUS_BUCKET
from bus.subjects import Subjects
from bus.testing import MemoryBus, MemoryKeyValue
from schemas import GalFridayConfig
from schemas.config import BreakerConfig, ErrorClassifierConfig
from schemas.events import (
    BreakerState,
    CircuitBreakerStateChanged,
    ErrorStatistics,
    ExchangeStatus,
    ExchangeStatusChanged,
    KrakenCallFailed,
    OperationKind,
)
from schemas.queries import RetryVerdict, VerdictRequest
from tests.support.waiting import eventually

PUBLIC = "kraken.public"
CONFIG = GalFridayConfig(
    breakers=BreakerConfig(open_base_s=2.0),
    errors=ErrorClassifierConfig(statistics_interval_s=5.0),
)


def unavailable(scope: str = PUBLIC) -> KrakenCallFailed:
    return KrakenCallFailed(
        ts_event=ManualClock().now_ns,
        ts_init=ManualClock().now_ns,
        scope=scope,
        endpoint="Ticker",
        operation=OperationKind.READ,
        latency_ns=1,
        errors=("EService:Unavailable",),
    )


def actor() -> ErrorClassifierActor:
    # No network in unit tests: the public probe is covered by the integration tests.
    return ErrorClassifierActor(
        config=CONFIG, rng=random.Random(3), tick_interval_s=0.01, probe_public=False
    )


@pytest_asyncio.fixture
async def bus() -> MemoryBus:
    return MemoryBus(config=CONFIG, clock=ManualClock())


@pytest_asyncio.fixture
async def running(bus: MemoryBus) -> AsyncIterator[ErrorClassifierActor]:
    classifier = actor()
    await bus.attach(classifier)
    yield classifier
    await classifier.stop()


async def trip(bus: MemoryBus) -> None:
    for _ in range(CONFIG.breakers.consecutive_failures_to_trip):
        await bus.publish(bus.subjects.kraken_call("failed"), unavailable())


def changes(bus: MemoryBus) -> list[CircuitBreakerStateChanged]:
    return bus.of_type(CircuitBreakerStateChanged)


async def test_tripping_failures_publish_open_on_the_scope_subject_and_store_it(
    bus: MemoryBus, running: ErrorClassifierActor
) -> None:
    await trip(bus)
    published = [
        (p.subject, p.message.state, p.msg_id)
        for p in bus.published
        if isinstance(p.message, CircuitBreakerStateChanged)
    ]
    assert [(subject, state) for subject, state, _ in published] == [
        (bus.subjects.breaker(PUBLIC), BreakerState.OPEN)
    ]
    assert published[0][2]
    kv = bus.bucket(BREAKERS_BUCKET)
    stored = MESSAGES.decode((await kv.get(PUBLIC)).value or b"")
    assert isinstance(stored, CircuitBreakerStateChanged)
    assert stored.state is BreakerState.OPEN
    assert running.health()["breakers"][PUBLIC]["state"] == "open"


async def test_restarted_actor_restores_open_breaker_from_the_bucket(
    bus: MemoryBus, running: ErrorClassifierActor
) -> None:
    await trip(bus)
    await running.stop()
    successor = actor()
    await bus.attach(successor)
    try:
        assert successor.health()["breakers"][PUBLIC]["state"] == "open"
        assert successor.health()["breakers"][PUBLIC]["open_count"] == 1
        reply = await bus.request(
            bus.subjects.verdict(),
            VerdictRequest(call=unavailable(), attempt=1, operation=OperationKind.READ),
            timeout=1,
        )
        assert isinstance(reply, RetryVerdict)
        assert reply.breaker_state is BreakerState.OPEN
        assert reply.retry is False
    finally:
        await successor.stop()


async def test_timer_moves_open_to_half_open_when_the_open_period_ends(
    bus: MemoryBus, running: ErrorClassifierActor
) -> None:
    await trip(bus)
    assert isinstance(bus.clock, ManualClock)
    bus.clock.advance(CONFIG.breakers.open_base_s)
    await eventually(lambda: len(changes(bus)) == 2)
    assert [change.state for change in changes(bus)] == [BreakerState.OPEN, BreakerState.HALF_OPEN]
    stored = await BreakerStore(bus.bucket(BREAKERS_BUCKET)).load_change(PUBLIC)
    assert stored is not None
    assert stored.state is BreakerState.HALF_OPEN


async def test_statistics_are_published_every_interval_and_shown_by_stats(
    bus: MemoryBus, running: ErrorClassifierActor
) -> None:
    await bus.publish(bus.subjects.kraken_call("failed"), unavailable())
    assert isinstance(bus.clock, ManualClock)
    bus.clock.advance(CONFIG.errors.statistics_interval_s)
    await eventually(lambda: len(bus.of_type(ErrorStatistics)) == 1)
    (statistics,) = bus.of_type(ErrorStatistics)
    assert any(row.total == 1 for row in statistics.by_category)
    assert running.stats() == running.core.statistics_dict()
    assert running.stats()


def change(state: BreakerState, ts_event: int, term: int = 0) -> CircuitBreakerStateChanged:
    return CircuitBreakerStateChanged(
        ts_event=ts_event,
        ts_init=ts_event,
        scope=PUBLIC,
        state=state,
        previous=BreakerState.CLOSED,
        reason="test",
        since_ns=ts_event,
        term=term,
    )


async def test_store_updates_an_existing_key_with_its_revision() -> None:
    kv = MemoryKeyValue()
    store = BreakerStore(kv)
    assert await store.save_change(change(BreakerState.OPEN, 10))
    await kv.put("unrelated", b"x")  # moves the bucket's revision past the key's
    assert await store.save_change(change(BreakerState.HALF_OPEN, 20))
    stored = await store.load_change(PUBLIC)
    assert stored is not None
    assert stored.state is BreakerState.HALF_OPEN


async def test_store_does_not_replace_a_newer_change_written_by_another_instance() -> None:
    kv = MemoryKeyValue()
    await kv.put(PUBLIC, encode(change(BreakerState.CLOSED, 50)))
    store = BreakerStore(kv)
    assert not await store.save_change(change(BreakerState.OPEN, 40))
    stored = await store.load_change(PUBLIC)
    assert stored is not None
    assert stored.state is BreakerState.CLOSED


async def test_a_deposed_active_with_a_clock_ahead_cannot_overwrite_its_successor() -> None:
    """Two classifier hosts, the old active's clock 10 s ahead: after a stalled link it still
    flushes a CLOSED it decided before the standby took over (term 7 -> 8) and opened the
    breaker. Its timestamp is later, its term is not: the newer term's OPEN stays."""
    kv = MemoryKeyValue()
    store = BreakerStore(kv)
    assert await store.save_change(change(BreakerState.OPEN, 1_000, term=8))
    assert not await store.save_change(change(BreakerState.CLOSED, 10_000_001_000, term=7))
    stored = await store.load_change(PUBLIC)
    assert stored is not None
    assert (stored.state, stored.term) == (BreakerState.OPEN, 8)


async def test_a_snapshot_of_an_older_term_does_not_replace_a_newer_terms() -> None:
    kv = MemoryKeyValue()
    store = BreakerStore(kv, MemoryKeyValue())
    newer = BreakerSnapshot(scope=PUBLIC, state=BreakerState.OPEN, since_ns=1)
    older = BreakerSnapshot(scope=PUBLIC, state=BreakerState.CLOSED, since_ns=2)
    assert await store.save_snapshot(newer, written_ns=1_000, term=8)
    assert not await store.save_snapshot(older, written_ns=10_000_001_000, term=7)
    [restored] = await store.load_snapshots()
    assert restored.state is BreakerState.OPEN


async def test_store_retries_when_the_key_changes_between_read_and_write() -> None:
    kv = MemoryKeyValue()
    await kv.put(PUBLIC, encode(change(BreakerState.CLOSED, 1)))
    original_update = kv.update
    interfered = False

    async def racing_update(key: str, value: bytes, last: int | None = None) -> int:
        nonlocal interfered
        if not interfered:
            interfered = True
            await kv.put(key, encode(change(BreakerState.CLOSED, 2)))
        return await original_update(key, value, last)

    kv.update = racing_update  # type: ignore[method-assign]
    assert await BreakerStore(kv).save_change(change(BreakerState.OPEN, 3))
    stored = await BreakerStore(kv).load_change(PUBLIC)
    assert interfered
    assert stored is not None
    assert stored.state is BreakerState.OPEN


async def test_load_prefers_snapshots_and_falls_back_to_the_last_change() -> None:
    kv = MemoryKeyValue()
    store = BreakerStore(kv)
    snapshot = BreakerSnapshot(
        scope="kraken.trading", state=BreakerState.OPEN, since_ns=5, open_count=3
    )
    assert await store.save_snapshot(snapshot, written_ns=5)
    await kv.put("kraken.trading", encode(change(BreakerState.CLOSED, 1)))
    await kv.put(PUBLIC, encode(change(BreakerState.OPEN, 7)))
    await kv.put(snapshot_key("kraken.ws"), b"\xc1 not a snapshot")
    loaded = {s.scope: s for s in await store.load_snapshots()}
    assert loaded["kraken.trading"] == snapshot
    assert msgspec.structs.astuple(loaded[PUBLIC])[:3] == (PUBLIC, BreakerState.OPEN, 7)
    assert "kraken.ws" not in loaded


def exchange_status(status: ExchangeStatus, at_ns: int) -> ExchangeStatusChanged:
    return ExchangeStatusChanged(
        ts_event=at_ns,
        ts_init=at_ns,
        exchange="kraken",
        status=status,
        previous=None,
        source="rest",
        can_place=status is ExchangeStatus.ONLINE,
        can_cancel=status is not ExchangeStatus.MAINTENANCE,
    )


async def test_a_lost_online_is_read_from_the_status_bucket_and_releases_the_hold(
    bus: MemoryBus, running: ErrorClassifierActor
) -> None:
    """Issue 11, point 1: maintenance held the trading breaker; the ``online`` event never
    arrived, but market-data keeps the current status in KV: the hold does not outlive it."""
    now = bus.clock()
    await bus.publish(
        bus.subjects.exchange_status(), exchange_status(ExchangeStatus.MAINTENANCE, now)
    )
    assert running.core.breaker_state("kraken.trading") is BreakerState.OPEN
    online = exchange_status(ExchangeStatus.ONLINE, now + 1)
    await bus.bucket(EXCHANGE_STATUS_BUCKET).put("kraken", encode(online))
    assert isinstance(bus.clock, ManualClock)
    bus.clock.advance(running.status_refresh_s)
    await eventually(lambda: running.core.breaker_state("kraken.trading") is BreakerState.CLOSED)


async def test_a_stale_status_in_the_bucket_does_not_undo_a_newer_event(
    bus: MemoryBus, running: ErrorClassifierActor
) -> None:
    now = bus.clock()
    await bus.bucket(EXCHANGE_STATUS_BUCKET).put(
        "kraken", encode(exchange_status(ExchangeStatus.ONLINE, now - 10))
    )
    await bus.publish(
        bus.subjects.exchange_status(), exchange_status(ExchangeStatus.MAINTENANCE, now)
    )
    await running.refresh_exchange_status()
    assert running.core.breaker_state("kraken.trading") is BreakerState.OPEN


async def test_snapshots_live_in_their_own_bucket_not_among_the_breaker_states(
    bus: MemoryBus, running: ErrorClassifierActor
) -> None:
    """Issue 11, point 7: readers of ``breakers`` (market-data, the router) find only state
    changes there; the classifier's restore state is in ``breaker_snapshots``."""
    await trip(bus)
    assert await bus.bucket(BREAKERS_BUCKET).keys() == [PUBLIC]
    assert PUBLIC in await bus.bucket(BREAKER_SNAPSHOTS_BUCKET).keys()


def test_verdict_concurrency_follows_nats_handler_concurrency() -> None:
    config = msgspec.structs.replace(
        CONFIG, nats=msgspec.structs.replace(CONFIG.nats, handler_concurrency=7)
    )
    classifier = ErrorClassifierActor(config=config, probe_public=False)
    subjects = Subjects("gf")
    (verdicts,) = [s for s in classifier.subscriptions(subjects) if s.replies]
    assert verdicts.concurrency == 7
