"""Batch ids executed once, and a fenced ownership lease per batch, in a NATS KV bucket.

One record per batch id (key: the id, base64url) says which run of it exists (``run_id``, the
JetStream ``stream_seq`` of the request that started it, ``started_ns``), who owns it and until
when (``lease_until_ns``), and whether it is ``done``. Every change is a compare-and-set on the
record's revision, so two routers can never both believe they own a batch:

- a request whose batch id already has a run from another stream message is a duplicate,
  refused for ``batch_id_retention_days`` (KV history is not needed: the record is the proof);
- the owner renews its lease (compare-and-set) before every placement and in the background;
  any failure (revision moved, NATS unreachable, timeout) means it stops at once;
- a router resuming someone else's run waits until that owner's lease has expired plus the
  longest time one of its orders can still land (the Kraken placement deadline) plus a margin,
  and only then looks orders up: nothing of the old owner's can appear after that.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import msgspec

from actors.batch_router.outcomes import DecidedOutcome
from actors.batch_router.ports import OwnershipLost
from bus.ports import KeyValueStore

__all__ = ["BatchClaim", "BatchClaims", "BatchLease", "Claim", "ClaimKind", "claim_key"]

_log = logging.getLogger(__name__)
_NS = 1_000_000_000


class BatchClaim(msgspec.Struct, frozen=True, kw_only=True):
    batch_id: str
    run_id: str
    stream_seq: int
    started_ns: int
    owner: str
    lease_until_ns: int
    in_flight_ns: int
    """The owner's longest in-flight time: an order it sent lands by lease end + this."""
    done: bool = False
    outcomes: tuple[DecidedOutcome, ...] = ()
    """Outcomes decided so far, stored before their events were published: final."""
    published: tuple[int, ...] = ()
    """Orders whose outcome event was on the bus at the last write (the others of
    ``outcomes`` are published again by a resumed run)."""


class ClaimKind(enum.StrEnum):
    NEW = "new"
    """This router starts the first run of the batch id."""
    RESUME = "resume"
    """This router owns a run that already began (redelivery, takeover): look orders up."""
    DUPLICATE = "duplicate"
    """The batch id was already executed from another request: refuse it."""
    DONE = "done"
    """This very request was completed already (its ``BatchCompleted`` is stored)."""


@dataclass(frozen=True)
class Claim:
    kind: ClaimKind
    record: BatchClaim
    lease: BatchLease | None = None
    settle_until_ns: int = 0
    """Look-ups must wait until this time: the previous owner's orders may land until then."""


def claim_key(batch_id: str) -> str:
    """A KV key for any batch id (KV keys allow only ``[-_=./a-zA-Z0-9]``)."""
    return base64.urlsafe_b64encode(batch_id.encode()).decode().rstrip("=") or "_"


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(BatchClaim)


class BatchLease:
    """The owner's hold on one batch; the executor's :class:`PlacementFence`."""

    def __init__(
        self,
        store: KeyValueStore,
        record: BatchClaim,
        revision: int,
        clock: Callable[[], int],
        lease_s: float,
    ) -> None:
        self._store = store
        self._key = claim_key(record.batch_id)
        self.record = record
        self._revision = revision
        self._clock = clock
        self._lease_ns = int(lease_s * _NS)
        self._timeout_s = lease_s / 3
        self._lock = asyncio.Lock()
        self.lost: BaseException | None = None
        self._pending: list[DecidedOutcome] = []
        self._published: set[int] = set(record.published)
        self._next_write: asyncio.Future[None] | None = None
        """Done when the write that takes the outcomes now pending is stored."""
        self._writer: asyncio.Task[None] | None = None

    def published(self, index: int) -> None:
        self._published.add(index)

    async def store(self, outcome: DecidedOutcome) -> None:
        """Store a decided outcome in the record (the executor's :class:`OutcomeJournal`).

        Group commit: outcomes decided together (a chunk's answers, or while a write is under
        way) share one compare-and-set, and all of them resume together when it is stored,
        not one lock hand-over after another. Raises :class:`OwnershipLost` if it fails."""
        await self.store_many((outcome,))

    async def store_many(self, outcomes: Sequence[DecidedOutcome]) -> None:
        """:meth:`store` for several outcomes: they join one write."""
        self._pending.extend(outcomes)
        written = self._next_write
        if written is None:
            written = asyncio.get_running_loop().create_future()
            self._next_write = written
            # A task, not a call: outcomes decided in this same turn of the loop join it.
            self._writer = asyncio.create_task(self._write_pending(written))
        await asyncio.shield(written)

    async def _write_pending(self, written: asyncio.Future[None]) -> None:
        try:
            async with self._lock:
                self._next_write = None  # outcomes decided from now on wait for the next write
                if self._pending:  # else a renewal meanwhile took them
                    await self._write_locked(done=False)
        except BaseException as e:
            failure = e if isinstance(e, Exception) else OwnershipLost(f"journal write: {e!r}")
            written.set_exception(failure)
            written.exception()  # retrieved: its waiters, if any, raise it themselves
            if failure is not e:
                raise
        else:
            written.set_result(None)

    async def confirm(self) -> None:
        """Prove ownership right before a placement; raise :class:`OwnershipLost` if it cannot.

        A lease written (compare-and-set) less than a third of its length ago is proof enough:
        no other router takes a batch over before its recorded lease end, and an order sent now
        lands by that end plus the in-flight time the taker waits out. Older, it is renewed
        by compare-and-set first. Skipping the fresh case saves a bus round trip per order."""
        if self.lost is not None:
            raise OwnershipLost(f"batch {self.record.batch_id}: lease lost") from self.lost
        written_ns = self.record.lease_until_ns - self._lease_ns
        if 0 <= self._clock() - written_ns < self._lease_ns // 3:
            return
        await self._write(done=False)

    def lands_by_ns(self) -> int:
        """The owner's recorded lease end plus its in-flight time: what a taker waits out."""
        return self.record.lease_until_ns + self.record.in_flight_ns

    async def finish(self) -> None:
        """Mark the batch done (its ``BatchCompleted`` is stored)."""
        await self._write(done=True)

    async def keep_alive(self, on_lost: Callable[[], object]) -> None:
        """Renew every third of the lease; on failure call ``on_lost`` (stop the batch)."""
        while True:
            await asyncio.sleep(self._timeout_s)
            try:
                await self.confirm()
            except OwnershipLost:
                on_lost()
                return

    async def _write(self, *, done: bool) -> None:
        async with self._lock:
            await self._write_locked(done=done)

    async def _write_locked(self, *, done: bool) -> None:
        if self.lost is not None:
            raise OwnershipLost(f"batch {self.record.batch_id}: lease lost") from self.lost
        pending = tuple(self._pending)
        renewed = msgspec.structs.replace(
            self.record,
            lease_until_ns=self._clock() + self._lease_ns,
            done=done,
            outcomes=self.record.outcomes + pending,
            published=tuple(sorted(self._published)),
        )
        try:
            async with asyncio.timeout(self._timeout_s):
                revision = await self._store.update(
                    self._key, _ENCODER.encode(renewed), last=self._revision
                )
        except Exception as e:  # revision moved, bus down or stalled: no longer provable
            self.lost = e
            _log.warning("batch.lease_lost batch_id=%s error=%r", self.record.batch_id, e)
            raise OwnershipLost(f"batch {self.record.batch_id}: lease lost") from e
        self.record, self._revision = renewed, revision
        del self._pending[: len(pending)]


class BatchClaims:
    """Claims batches for one router process (``owner``)."""

    def __init__(
        self,
        store: KeyValueStore,
        *,
        owner: str,
        clock: Callable[[], int],
        sleep: Callable[[float], Awaitable[None]],
        lease_s: float,
        in_flight_s: float,
        margin_s: float,
        retention_s: float,
    ) -> None:
        self._store = store
        self._owner = owner
        self._clock = clock
        self._sleep = sleep
        self._lease_s = lease_s
        self._in_flight_ns = int(in_flight_s * _NS)
        self._margin_ns = int(margin_s * _NS)
        self._retention_ns = int(retention_s * _NS)

    async def claim(self, batch_id: str, stream_seq: int) -> Claim:
        """Decide what this router does with a delivered request; waits while another live
        owner holds the batch (it may finish it: then ``DONE``)."""
        key = claim_key(batch_id)
        # The common case, a batch id never seen: one create instead of a read and a create.
        # It fails when any record exists; then the loop below decides.
        fresh = self._new_record(batch_id, stream_seq, self._clock())
        written = await self._write_new(key, fresh, None)
        if written is not None:
            return Claim(ClaimKind.NEW, fresh, self._lease(fresh, written))
        while True:
            current, revision = await self._read(key)
            now = self._clock()
            if current is None or self._expired(current, now, stream_seq):
                fresh = self._new_record(batch_id, stream_seq, now)
                written = await self._write_new(key, fresh, revision)
                if written is not None:
                    return Claim(ClaimKind.NEW, fresh, self._lease(fresh, written))
                continue  # someone else wrote first: look again
            if current.stream_seq != stream_seq:
                return Claim(ClaimKind.DUPLICATE, current)
            if current.done:
                return Claim(ClaimKind.DONE, current)
            if current.owner != self._owner and current.lease_until_ns > now:
                # A live owner: wait for it to finish or to lose its lease.
                await self._sleep(min(self._lease_s / 3, (current.lease_until_ns - now) / _NS))
                continue
            taken = msgspec.structs.replace(
                current,
                owner=self._owner,
                lease_until_ns=now + int(self._lease_s * _NS),
                in_flight_ns=self._in_flight_ns,
            )
            try:
                written = await self._store.update(key, _ENCODER.encode(taken), last=revision)
            except Exception:  # taken concurrently: look again
                continue
            settle = current.lease_until_ns + current.in_flight_ns + self._margin_ns
            return Claim(ClaimKind.RESUME, taken, self._lease(taken, written), settle)

    def _expired(self, current: BatchClaim, now: int, stream_seq: int) -> bool:
        """A record older than the retention no longer blocks a new run of its batch id."""
        return current.stream_seq != stream_seq and now - current.started_ns > self._retention_ns

    def _new_record(self, batch_id: str, stream_seq: int, now: int) -> BatchClaim:
        return BatchClaim(
            batch_id=batch_id,
            # No stream sequence (an in-memory bus, a replay): nothing tells runs apart, so the
            # ids stay the batch's plain derived ones and a replay reproduces them.
            run_id=uuid.uuid4().hex[:16] if stream_seq else "",
            stream_seq=stream_seq,
            started_ns=now,
            owner=self._owner,
            lease_until_ns=now + int(self._lease_s * _NS),
            in_flight_ns=self._in_flight_ns,
        )

    async def _write_new(self, key: str, record: BatchClaim, revision: int | None) -> int | None:
        try:
            if revision is None:
                written: int = await self._store.create(key, _ENCODER.encode(record))
            else:
                written = await self._store.update(key, _ENCODER.encode(record), last=revision)
        except Exception:  # created or replaced concurrently
            return None
        return written

    async def _read(self, key: str) -> tuple[BatchClaim | None, int | None]:
        try:
            entry = await self._store.get(key)
        except Exception as e:  # a key never written (or purged) raises, by store
            if (
                isinstance(e, KeyError)
                or "NotFound" in type(e).__name__
                or "Deleted" in type(e).__name__
            ):
                return None, None
            raise
        value = getattr(entry, "value", None)
        if not value:
            return None, getattr(entry, "revision", None)
        return _DECODER.decode(value), entry.revision

    def _lease(self, record: BatchClaim, revision: int) -> BatchLease:
        return BatchLease(self._store, record, revision, self._clock, self._lease_s)
