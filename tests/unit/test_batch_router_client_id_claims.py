"""Client-supplied ``cl_ord_id`` values are claimed before any placement: a refused one is
rejected with its reason and never sent; a registry that cannot tell stops the batch unsent."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from actors.batch_router import derive_cl_ord_id
from schemas.events import OrderOutcome
from schemas.orders import BatchStrategy
from tests.support.batch_router_doubles import make_router, market_order


class RegistryDouble:
    def __init__(self, taken: Mapping[str, str] | None = None, broken: bool = False) -> None:
        self.taken = dict(taken or {})
        self.broken = broken
        self.asked: list[dict[int, str]] = []

    async def claim(self, cl_ord_ids: Mapping[int, str]) -> dict[int, str]:
        self.asked.append(dict(cl_ord_ids))
        if self.broken:
            raise ConnectionError("bucket unreachable")
        return {
            index: f"duplicate_cl_ord_id: {value!r} was used by batch {self.taken[value]!r}"
            for index, value in cl_ord_ids.items()
            if value in self.taken
        }


async def test_an_id_taken_by_an_earlier_batch_is_rejected_and_never_sent() -> None:
    router = make_router()
    registry = RegistryDouble({"desk-1": "older"})
    orders = [market_order(cl_ord_id="desk-1"), market_order(cl_ord_id="desk-2"), market_order()]

    completed = await router.processor.process_batch_orders(
        orders, BatchStrategy.SEQUENTIAL, batch_id="b", client_ids=registry
    )

    assert registry.asked == [{0: "desk-1", 1: "desk-2"}]  # derived ids are not the client's
    assert [r.outcome for r in completed.results] == [
        OrderOutcome.REJECTED,
        OrderOutcome.PLACED,
        OrderOutcome.PLACED,
    ]
    [rejected] = router.sink.rejected()
    assert rejected.reason.startswith("duplicate_cl_ord_id")
    assert rejected.category == "local"
    assert router.exchange.bookings == ["desk-2", derive_cl_ord_id("b", 2)]


async def test_a_registry_that_cannot_tell_stops_the_batch_before_any_placement() -> None:
    router = make_router()
    registry = RegistryDouble(broken=True)

    with pytest.raises(ConnectionError):
        await router.processor.process_batch_orders(
            [market_order(cl_ord_id="desk-3")],
            BatchStrategy.SEQUENTIAL,
            batch_id="b",
            client_ids=registry,
        )

    assert router.exchange.placement_calls == []


async def test_validate_only_and_invalid_orders_take_no_id() -> None:
    router = make_router()
    registry = RegistryDouble()

    await router.processor.process_batch_orders(
        [market_order(cl_ord_id="desk-4")],
        BatchStrategy.SEQUENTIAL,
        batch_id="v",
        validate_only=True,
        client_ids=registry,
    )
    await router.processor.process_batch_orders(
        [market_order(cl_ord_id="desk-5", volume="0")],
        BatchStrategy.SEQUENTIAL,
        batch_id="w",
        client_ids=registry,
    )

    assert registry.asked == []
