"""Batch claims on a real NATS KV bucket: once-ever batch ids, the fenced ownership lease and
the takeover wait (time injected; the KV is real)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import nats
import pytest
import pytest_asyncio
from nats.js.kv import KeyValue

from actors.batch_router.batch_claims import BatchClaims, ClaimKind, claim_key
from actors.batch_router.outcomes import DecidedOutcome
from actors.batch_router.ports import OwnershipLost
from bus.clock import ManualClock
from bus.jetstream import ensure_key_value
from bus.ports import KeyValueStore
from schemas import GalFridayConfig
from schemas.events import OrderRejected

pytestmark = pytest.mark.nats

_S = 1_000_000_000
LEASE_S = 3.0
IN_FLIGHT_S = 5.0
MARGIN_S = 1.0


@pytest_asyncio.fixture
async def store(bus_config: GalFridayConfig, subject_root: str) -> AsyncIterator[KeyValue]:
    connection = await nats.connect(bus_config.nats.url)
    yield await ensure_key_value(connection.jetstream(), f"{subject_root}_batches", ttl_s=3600)
    await connection.drain()


def claims_of(store: KeyValueStore, owner: str, clock: ManualClock) -> BatchClaims:
    return BatchClaims(
        store,
        owner=owner,
        clock=clock,
        sleep=clock.sleep,
        lease_s=LEASE_S,
        in_flight_s=IN_FLIGHT_S,
        margin_s=MARGIN_S,
        retention_s=86_400.0,
    )


async def test_first_claim_is_new_and_a_later_request_of_the_same_id_is_a_duplicate(
    store: KeyValue,
) -> None:
    clock = ManualClock()
    router = claims_of(store, "a", clock)
    first = await router.claim("batch/1 with spaces", stream_seq=7)
    assert first.kind is ClaimKind.NEW
    assert first.lease is not None
    await first.lease.finish()
    clock.advance(3 * 3600)  # hours later: far past any stream duplicate window
    again = await router.claim("batch/1 with spaces", stream_seq=99)
    assert again.kind is ClaimKind.DUPLICATE
    same = await router.claim("batch/1 with spaces", stream_seq=7)
    assert same.kind is ClaimKind.DONE


async def test_batch_id_is_free_again_after_the_retention(store: KeyValue) -> None:
    clock = ManualClock()
    router = claims_of(store, "a", clock)
    first = await router.claim("old", stream_seq=1)
    clock.advance(2 * 86_400)
    second = await router.claim("old", stream_seq=2)
    assert second.kind is ClaimKind.NEW
    assert second.record.run_id != first.record.run_id  # new cl_ord_ids for the new run


async def test_takeover_waits_out_the_lease_and_fences_the_old_owner(store: KeyValue) -> None:
    clock = ManualClock()
    owner_a = await claims_of(store, "a", clock).claim("b1", stream_seq=3)
    assert owner_a.lease is not None
    await owner_a.lease.confirm()
    lease_end = owner_a.lease.record.lease_until_ns
    # B is handed the same message (A stalled). It waits while A's lease is alive…
    owner_b = await claims_of(store, "b", clock).claim("b1", stream_seq=3)
    assert clock() >= lease_end
    assert owner_b.kind is ClaimKind.RESUME
    assert owner_b.record.run_id == owner_a.record.run_id  # a resume finds its own orders
    # …and looks orders up only after A's last possible order has landed.
    assert owner_b.settle_until_ns == lease_end + int((IN_FLIGHT_S + MARGIN_S) * _S)
    # A wakes up: its next placement is refused before anything is sent.
    with pytest.raises(OwnershipLost):
        await owner_a.lease.confirm()
    assert owner_b.lease is not None
    await owner_b.lease.confirm()


async def test_live_owner_finishing_makes_the_other_router_ack_without_work(
    store: KeyValue,
) -> None:
    clock = ManualClock()
    owner_a = await claims_of(store, "a", clock).claim("b2", stream_seq=4)
    assert owner_a.lease is not None
    await owner_a.lease.finish()
    other = await claims_of(store, "b", clock).claim("b2", stream_seq=4)
    assert other.kind is ClaimKind.DONE


class _CountingStore:
    """The real bucket, counting the round trips a claim costs."""

    def __init__(self, store: KeyValue) -> None:
        self._store = store
        self.calls: list[str] = []

    async def get(self, key: str) -> object:
        self.calls.append("get")
        return await self._store.get(key)

    async def put(self, key: str, value: bytes) -> int:
        self.calls.append("put")
        return await self._store.put(key, value)

    async def create(self, key: str, value: bytes) -> int:
        self.calls.append("create")
        return await self._store.create(key, value)

    async def update(self, key: str, value: bytes, last: int | None = None) -> int:
        self.calls.append("update")
        return await self._store.update(key, value, last=last)

    async def keys(self) -> list[str]:
        return await self._store.keys()


async def test_a_new_batch_reaches_its_first_placement_after_one_bus_round_trip(
    store: KeyValue,
) -> None:
    """Issue 14: every KV round trip before the first order is added latency. A new batch id
    is claimed with one create, and a lease written moments ago proves ownership without
    another write."""
    clock = ManualClock()
    counting = _CountingStore(store)
    router = claims_of(counting, "a", clock)
    claim = await router.claim("fresh", stream_seq=9)
    assert claim.kind is ClaimKind.NEW
    assert claim.lease is not None
    await claim.lease.confirm()  # right before the first placement
    assert counting.calls == ["create"]
    # A third of the lease later the proof is renewed by compare-and-set before placing.
    clock.advance(LEASE_S / 3)
    await claim.lease.confirm()
    assert counting.calls == ["create", "update"]


async def test_a_claim_of_a_known_batch_id_still_reads_the_record(store: KeyValue) -> None:
    clock = ManualClock()
    await claims_of(store, "a", clock).claim("known", stream_seq=1)
    again = await claims_of(store, "b", clock).claim("known", stream_seq=2)
    assert again.kind is ClaimKind.DUPLICATE


async def test_decided_outcomes_are_stored_and_handed_to_the_resuming_router(
    store: KeyValue,
) -> None:
    """Outcomes stored by the owner before publishing come back with the takeover claim."""
    clock = ManualClock()
    owner_a = await claims_of(store, "a", clock).claim("kept", stream_seq=5)
    assert owner_a.lease is not None
    rejected = OrderRejected(
        ts_event=1,
        ts_init=1,
        batch_id="kept",
        index=0,
        pair="BTC/USD",
        cl_ord_id="c0",
        reason="insufficient_funds",
        category="insufficient_funds",
    )
    await owner_a.lease.store(DecidedOutcome(event=rejected, notional=Decimal("10")))
    owner_a.lease.published(0)
    # The note rides on the next renewal (a fresh lease is not rewritten before each order).
    clock.advance(LEASE_S / 3 + 0.01)
    await owner_a.lease.confirm()
    clock.advance(LEASE_S + 1)  # A died: its lease ran out
    owner_b = await claims_of(store, "b", clock).claim("kept", stream_seq=5)
    assert owner_b.kind is ClaimKind.RESUME
    assert owner_b.record.outcomes == (DecidedOutcome(event=rejected, notional=Decimal("10")),)
    assert owner_b.record.published == (0,)


def _rejected(batch_id: str, index: int) -> DecidedOutcome:
    event = OrderRejected(
        ts_event=1,
        ts_init=1,
        batch_id=batch_id,
        index=index,
        pair="BTC/USD",
        cl_ord_id=f"c{index}",
        reason="insufficient_funds",
        category="insufficient_funds",
    )
    return DecidedOutcome(event=event)


async def test_outcomes_decided_together_share_one_compare_and_set(store: KeyValue) -> None:
    """Issue 16: a chunk's answers are decided together; their journal writes were one CAS
    for the first outcome alone, then one for the rest (a bus round trip more before any of
    their events could be published)."""
    clock = ManualClock()
    counting = _CountingStore(store)
    router = claims_of(counting, "a", clock)
    claim = await router.claim("chunk", stream_seq=11)
    assert claim.lease is not None
    lease = claim.lease
    async with asyncio.TaskGroup() as group:
        for index in range(8):
            group.create_task(lease.store(_rejected("chunk", index)))
    assert counting.calls == ["create", "update"]
    stored = {outcome.event.index for outcome in lease.record.outcomes}
    assert stored == set(range(8))
    # Decided while that write is under way: the next write takes them all, once each.
    first = asyncio.create_task(lease.store(_rejected("chunk", 8)))
    await asyncio.sleep(0)  # its write has started
    later = [asyncio.create_task(lease.store(_rejected("chunk", i))) for i in (9, 10)]
    await asyncio.gather(first, *later)
    assert counting.calls == ["create", "update", "update", "update"]
    indices = [outcome.event.index for outcome in lease.record.outcomes]
    assert sorted(indices) == list(range(11))


async def test_outcomes_waiting_on_a_lost_lease_all_raise_and_none_is_stored(
    store: KeyValue,
) -> None:
    clock = ManualClock()
    claim = await claims_of(store, "a", clock).claim("taken", stream_seq=12)
    assert claim.lease is not None
    lease = claim.lease
    await store.put(claim_key("taken"), b"someone else's record")  # the revision moves
    results = await asyncio.gather(
        *(lease.store(_rejected("taken", index)) for index in range(3)), return_exceptions=True
    )
    assert all(isinstance(result, OwnershipLost) for result in results)
    assert lease.record.outcomes == ()
    with pytest.raises(OwnershipLost):
        await lease.store(_rejected("taken", 3))  # and stays lost
