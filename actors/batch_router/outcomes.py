"""One outcome per order, published once, and the batch summary built from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import msgspec

from actors.batch_router.ports import Clock, EventSink
from schemas.events import (
    BatchCompleted,
    OrderFailed,
    OrderOutcome,
    OrderPlaced,
    OrderRejected,
    OrderResult,
)
from schemas.orders import BatchStrategy, OrderRequest

__all__ = ["LOCAL_CATEGORY", "DecidedOutcome", "OrderSlot", "OutcomeBook", "OutcomeJournal"]

UNKNOWN_OUTCOME = "unknown_outcome"
"""``OrderFailed.reason`` of an order that may or may not be on the exchange."""
LOCAL_CATEGORY = "local"
"""``OrderRejected.category`` of the router's own validation and risk checks."""


class DecidedOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """An order's outcome as stored before its event was published: final for the run."""

    event: OrderPlaced | OrderRejected | OrderFailed
    notional: Decimal | None = None


class OutcomeJournal(Protocol):
    async def store(self, outcome: DecidedOutcome) -> None:
        """Store ``outcome`` durably before its event is published (a resumed run reads it
        back and never decides that order again); raise to stop the batch."""

    async def store_many(self, outcomes: Sequence[DecidedOutcome]) -> None:
        """:meth:`store` for outcomes decided together (one write)."""

    def published(self, index: int) -> None:
        """The event of order ``index`` is on the bus (noted with the next write, so a resumed
        run publishes again only what may not have been)."""


class NoJournal:
    """Nothing to resume from (tests, validate-only runs)."""

    async def store(self, outcome: DecidedOutcome) -> None:
        return None

    async def store_many(self, outcomes: Sequence[DecidedOutcome]) -> None:
        return None

    def published(self, index: int) -> None:
        return None


@dataclass(frozen=True, slots=True)
class OrderSlot:
    """An order of the batch with its position and its client id."""

    index: int
    order: OrderRequest
    cl_ord_id: str

    @property
    def pair(self) -> str:
        return self.order.pair


OrderEvent = OrderPlaced | OrderRejected | OrderFailed


class OutcomeBook:
    """Records exactly one outcome per order and emits its event as it is decided.

    With ``order_count`` (the batch's number of orders), the events of the outcomes that
    decide the batch's last orders are stored like any other but published with the batch's
    summary (:meth:`publish_summary`): one pipelined publish, outcomes first, instead of one
    round trip for them and another for the summary after their acks."""

    def __init__(
        self,
        batch_id: str,
        sink: EventSink,
        clock: Clock,
        journal: OutcomeJournal | None = None,
        *,
        order_count: int | None = None,
    ) -> None:
        self.batch_id = batch_id
        self._sink = sink
        self._clock = clock
        self._journal: OutcomeJournal = journal if journal is not None else NoJournal()
        self._results: dict[int, OrderResult] = {}
        self._notionals: dict[int, Decimal] = {}
        self._order_count = order_count
        self._held: list[OrderEvent] = []
        """Stored outcome events of the last orders, waiting for the summary."""

    def is_decided(self, index: int) -> bool:
        return index in self._results

    def set_notional(self, index: int, value: Decimal | None) -> None:
        if value is None:
            self._notionals.pop(index, None)
        else:
            self._notionals[index] = value

    def notional(self, index: int) -> Decimal | None:
        return self._notionals.get(index)

    def may_be_live(self, index: int) -> bool:
        """Placed, or with an unknown outcome: either way it counts as exposure."""
        result = self._results.get(index)
        if result is None:
            return True
        return result.outcome is OrderOutcome.PLACED or result.reason == UNKNOWN_OUTCOME

    def outcome(self, index: int) -> OrderOutcome | None:
        result = self._results.get(index)
        return None if result is None else result.outcome

    async def placed(
        self, slot: OrderSlot, *, txid: str, attempts: int, reconciled: bool = False
    ) -> None:
        self._record(slot, OrderOutcome.PLACED, txid=txid)
        await self._publish(self._placed_event(slot, txid, attempts, self._clock(), reconciled))

    async def placed_many(self, placed: Sequence[tuple[OrderSlot, str]], *, attempts: int) -> None:
        """:meth:`placed` for the orders of one answer (``(slot, txid)`` each): one journal
        write for all, then their events pipelined (sent together, acks awaited together)."""
        now = self._clock()
        events = []
        for slot, txid in placed:
            self._record(slot, OrderOutcome.PLACED, txid=txid)
            events.append(self._placed_event(slot, txid, attempts, now))
        notionals = self._notionals
        await self._journal.store_many(
            [DecidedOutcome(event=event, notional=notionals.get(event.index)) for event in events]
        )
        await self._emit(events)

    def _placed_event(
        self, slot: OrderSlot, txid: str, attempts: int, now: int, reconciled: bool = False
    ) -> OrderPlaced:
        return OrderPlaced(
            ts_event=now,
            ts_init=now,
            batch_id=self.batch_id,
            index=slot.index,
            pair=slot.pair,
            cl_ord_id=slot.cl_ord_id,
            txid=txid,
            attempts=attempts,
            reconciled=reconciled,
        )

    async def rejected(
        self, slot: OrderSlot, reason: str, *, category: str, errors: tuple[str, ...] = ()
    ) -> None:
        self._record(slot, OrderOutcome.REJECTED, reason=reason)
        now = self._clock()
        await self._publish(
            OrderRejected(
                ts_event=now,
                ts_init=now,
                batch_id=self.batch_id,
                index=slot.index,
                pair=slot.pair,
                cl_ord_id=slot.cl_ord_id,
                reason=reason,
                category=category,
                errors=errors,
            )
        )

    async def failed(
        self, slot: OrderSlot, reason: str, *, detail: str = "", errors: tuple[str, ...] = ()
    ) -> None:
        self._record(slot, OrderOutcome.FAILED, reason=reason)
        now = self._clock()
        await self._publish(
            OrderFailed(
                ts_event=now,
                ts_init=now,
                batch_id=self.batch_id,
                index=slot.index,
                pair=slot.pair,
                cl_ord_id=slot.cl_ord_id,
                reason=reason,
                detail=detail,
                errors=errors,
            )
        )

    async def _publish(self, event: OrderEvent) -> None:
        await self._journal.store(
            DecidedOutcome(event=event, notional=self._notionals.get(event.index))
        )
        await self._emit([event])

    async def _emit(self, events: Sequence[OrderEvent]) -> None:
        """Publish stored outcome events, then note them published; the last orders' wait
        for the summary."""
        if len(self._results) == self._order_count:
            self._held.extend(events)
            return
        await self._sink.emit_many(events)
        for event in events:
            self._journal.published(event.index)

    async def publish_summary(self, summary: BatchCompleted) -> None:
        """The batch's summary, after every outcome event: the held ones go out with it, in
        order on one connection, and are noted published once all are acked (a failure
        notes none: a resumed run publishes them again, deduplicated by message id)."""
        held, self._held = self._held, []
        await self._sink.emit_many([*held, summary])
        for event in held:
            self._journal.published(event.index)

    async def restore(self, slot: OrderSlot, decided: DecidedOutcome, *, publish: bool) -> None:
        """An outcome a previous run of the batch stored: taken as final. ``publish`` when its
        event may not have reached the bus (the same event, with the same message id)."""
        event = decided.event
        self.set_notional(slot.index, decided.notional)
        if isinstance(event, OrderPlaced):
            self._record(slot, OrderOutcome.PLACED, txid=event.txid)
        elif isinstance(event, OrderRejected):
            self._record(slot, OrderOutcome.REJECTED, reason=event.reason)
        else:
            self._record(slot, OrderOutcome.FAILED, reason=event.reason)
        if publish:
            await self._emit([event])

    def record_silently(self, slot: OrderSlot, reason: str) -> None:
        """A rejection covered by a ``BatchRejected`` event: no per-order event."""
        self._record(slot, OrderOutcome.REJECTED, reason=reason)

    def completed(
        self,
        *,
        slots: Sequence[OrderSlot],
        strategy: BatchStrategy,
        started_ns: int,
        retries: int,
        api_calls: int,
        validate_only: bool,
    ) -> BatchCompleted:
        """The summary; every slot must have an outcome by now."""
        results = tuple(self._results[slot.index] for slot in slots)
        placed = sum(1 for result in results if result.outcome is OrderOutcome.PLACED)
        rejected = sum(1 for result in results if result.outcome is OrderOutcome.REJECTED)
        exposure = sum(
            (
                result.notional
                for result in results
                if result.outcome is OrderOutcome.PLACED and result.notional is not None
            ),
            Decimal(0),
        )
        now = self._clock()
        return BatchCompleted(
            ts_event=now,
            ts_init=now,
            batch_id=self.batch_id,
            strategy=strategy,
            results=results,
            total=len(results),
            placed=placed,
            rejected=rejected,
            failed=len(results) - placed - rejected,
            success_rate=placed / len(results) if results else 0.0,
            duration_ns=max(0, now - started_ns),
            retries=retries,
            api_calls=api_calls,
            exposure_used=exposure,
            validate_only=validate_only,
        )

    def _record(
        self,
        slot: OrderSlot,
        outcome: OrderOutcome,
        *,
        txid: str | None = None,
        reason: str | None = None,
    ) -> None:
        if slot.index in self._results:
            raise RuntimeError(f"order {slot.index} of batch {self.batch_id} decided twice")
        self._results[slot.index] = OrderResult(
            index=slot.index,
            pair=slot.pair,
            cl_ord_id=slot.cl_ord_id,
            outcome=outcome,
            txid=txid,
            reason=reason,
            notional=self._notionals.get(slot.index),
        )
