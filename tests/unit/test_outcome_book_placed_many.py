"""A chunk's placed orders: one journal write before any of their events, then the events
sent together (one pipelined publish), then noted as published; a failed publish notes none.
The batch's last outcomes are published with its summary, after being stored."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest

from actors.batch_router.outcomes import DecidedOutcome, OrderSlot, OutcomeBook
from actors.batch_router.ports import OutcomeEvent
from schemas.events import BatchCompleted, OrderPlaced
from schemas.orders import BatchStrategy
from tests.support.batch_router_doubles import limit_order


class _Sink:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[OutcomeEvent]] = []
        self._fail = fail

    async def emit(self, event: OutcomeEvent) -> None:
        await self.emit_many([event])

    async def emit_many(self, events: Sequence[OutcomeEvent]) -> None:
        if self._fail:
            raise TimeoutError("no ack")
        self.calls.append(list(events))


class _Journal:
    def __init__(self, sink: _Sink) -> None:
        self.writes: list[list[DecidedOutcome]] = []
        self.on_bus: list[int] = []
        self._sink = sink

    async def store(self, outcome: DecidedOutcome) -> None:
        await self.store_many([outcome])

    async def store_many(self, outcomes: Sequence[DecidedOutcome]) -> None:
        sent = [event for call in self._sink.calls for event in call]
        assert not [o for o in outcomes if o.event in sent], "stored after its event was published"
        self.writes.append(list(outcomes))

    def published(self, index: int) -> None:
        self.on_bus.append(index)


def _slots(count: int) -> list[OrderSlot]:
    return [OrderSlot(index, limit_order(), f"c{index}") for index in range(count)]


async def test_a_chunk_is_stored_once_then_published_together_then_noted() -> None:
    sink = _Sink()
    journal = _Journal(sink)
    book = OutcomeBook("b", sink, lambda: 7, journal)
    slots = _slots(4)
    book.set_notional(2, Decimal("12.5"))
    await book.placed_many([(slot, f"O{slot.index}") for slot in slots], attempts=1)
    assert len(journal.writes) == 1
    assert [outcome.event.index for outcome in journal.writes[0]] == [0, 1, 2, 3]
    assert journal.writes[0][2].notional == Decimal("12.5")
    assert len(sink.calls) == 1
    events = sink.calls[0]
    assert all(isinstance(event, OrderPlaced) for event in events)
    assert [(event.index, event.txid) for event in events] == [  # type: ignore[union-attr]
        (0, "O0"), (1, "O1"), (2, "O2"), (3, "O3"),
    ]  # fmt: skip
    assert [outcome.event for outcome in journal.writes[0]] == events
    assert journal.on_bus == [0, 1, 2, 3]
    assert all(book.is_decided(slot.index) for slot in slots)


async def test_a_failed_publish_notes_nothing_as_published() -> None:
    """A resumed run publishes again what may not be on the bus (msg ids dedup repeats)."""
    sink = _Sink(fail=True)
    journal = _Journal(sink)
    book = OutcomeBook("b", sink, lambda: 7, journal)
    with pytest.raises(TimeoutError):
        await book.placed_many([(slot, "O") for slot in _slots(3)], attempts=1)
    assert len(journal.writes) == 1
    assert journal.on_bus == []


def _summary(book: OutcomeBook, slots: list[OrderSlot]) -> BatchCompleted:
    return book.completed(
        slots=slots, strategy=BatchStrategy.SMART_ROUTING, started_ns=0, retries=0,
        api_calls=2, validate_only=False,
    )  # fmt: skip


async def test_the_last_outcomes_are_stored_then_published_with_the_summary() -> None:
    """One pipelined publish for the batch's last events and its summary, summary last."""
    sink = _Sink()
    journal = _Journal(sink)
    slots = _slots(5)
    book = OutcomeBook("b", sink, lambda: 7, journal, order_count=len(slots))
    await book.placed_many([(slot, f"O{slot.index}") for slot in slots[:2]], attempts=1)
    await book.rejected(slots[2], "too small", category="local")
    assert [[event.index for event in call] for call in sink.calls] == [[0, 1], [2]]  # type: ignore[union-attr]
    await book.placed_many([(slot, f"O{slot.index}") for slot in slots[3:]], attempts=1)
    assert len(sink.calls) == 2, "the last outcomes went out before the summary"
    assert [outcome.event.index for outcome in journal.writes[-1]] == [3, 4]
    assert journal.on_bus == [0, 1, 2]
    summary = _summary(book, slots)
    await book.publish_summary(summary)
    assert sink.calls[2] == [*(outcome.event for outcome in journal.writes[-1]), summary]
    assert journal.on_bus == [0, 1, 2, 3, 4]


async def test_a_failed_summary_publish_notes_none_of_the_last_outcomes() -> None:
    sink = _Sink()
    journal = _Journal(sink)
    slots = _slots(2)
    book = OutcomeBook("b", sink, lambda: 7, journal, order_count=len(slots))
    await book.placed_many([(slot, "O") for slot in slots], attempts=1)
    sink._fail = True
    with pytest.raises(TimeoutError):
        await book.publish_summary(_summary(book, slots))
    assert len(journal.writes) == 1
    assert journal.on_bus == []


async def test_without_an_order_count_every_outcome_goes_out_at_once() -> None:
    sink = _Sink()
    journal = _Journal(sink)
    slots = _slots(2)
    book = OutcomeBook("b", sink, lambda: 7, journal)
    await book.placed_many([(slot, "O") for slot in slots], attempts=1)
    summary = _summary(book, slots)
    await book.publish_summary(summary)
    assert sink.calls == [[outcome.event for outcome in journal.writes[0]], [summary]]
    assert journal.on_bus == [0, 1]
