"""Look-ups asked for at the same time go out as one; each caller gets its own answers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal

import pytest

from actors.batch_router.lookup_coalescer import LookupCoalescer
from actors.batch_router.ports import LookupResult, OrderLookup


def _lookup(cl_ord_id: str) -> OrderLookup:
    return OrderLookup(
        cl_ord_id=cl_ord_id, pair="BTC/USD", side="buy", volume=Decimal(1), opened_after_ns=0
    )


class _Venue:
    def __init__(self, *, fail: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail
        self.asked = asyncio.Event()

    async def find(self, lookups: Sequence[OrderLookup]) -> dict[str, LookupResult]:
        self.calls.append([lookup.cl_ord_id for lookup in lookups])
        self.asked.set()
        await asyncio.sleep(0)
        if self.fail:
            raise ConnectionError("venue down")
        return {
            lookup.cl_ord_id: LookupResult(found=True, txid=f"T-{lookup.cl_ord_id}")
            for lookup in lookups
        }


async def test_concurrent_callers_share_one_lookup_and_get_only_their_answers() -> None:
    venue = _Venue()
    coalescer = LookupCoalescer(venue.find)

    first, second = await asyncio.gather(
        coalescer.find([_lookup("a"), _lookup("b")]), coalescer.find([_lookup("c")])
    )

    assert venue.calls == [["a", "b", "c"]]
    assert set(first) == {"a", "b"}
    assert second == {"c": LookupResult(found=True, txid="T-c")}


async def test_a_caller_arriving_during_a_lookup_waits_for_a_fresh_one() -> None:
    """An answer older than the question proves nothing: a late caller gets the next look-up."""
    venue = _Venue()
    coalescer = LookupCoalescer(venue.find)

    early = asyncio.create_task(coalescer.find([_lookup("a")]))
    await venue.asked.wait()  # the first look-up is under way
    late = await coalescer.find([_lookup("a")])

    assert await early == late
    assert venue.calls == [["a"], ["a"]]


async def test_a_failing_lookup_fails_every_caller_that_shared_it() -> None:
    venue = _Venue(fail=True)
    coalescer = LookupCoalescer(venue.find)

    results = await asyncio.gather(
        coalescer.find([_lookup("a")]), coalescer.find([_lookup("b")]), return_exceptions=True
    )

    assert [type(result) for result in results] == [ConnectionError, ConnectionError]
    assert venue.calls == [["a", "b"]]
    with pytest.raises(ConnectionError):
        await coalescer.find([_lookup("c")])
