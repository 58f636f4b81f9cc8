"""Order look-ups of concurrent reconciliations merged into one exchange look-up.

A dropped connection leaves every request in flight on it (up to ``parallel_limit``) an unknown
outcome at the same moment; each reconciles on its own schedule, and one look-up per order per
round would spend the REST call budget many times over (each round is ``OpenOrders`` plus
``ClosedOrders`` pages). Look-ups asked for while another is being made wait for it to finish
and then go out together, as one :meth:`ExchangeGateway.find_orders` call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from actors.batch_router.ports import LookupResult, OrderLookup

__all__ = ["LookupCoalescer"]

Finder = Callable[[Sequence[OrderLookup]], Awaitable[dict[str, LookupResult]]]


class LookupCoalescer:
    def __init__(self, find: Finder) -> None:
        self._find = find
        self._waiting: list[_Waiter] = []
        self._draining: asyncio.Task[None] | None = None
        self.lookups_made = 0

    async def find(self, lookups: Sequence[OrderLookup]) -> dict[str, LookupResult]:
        """The answer for ``lookups`` (keyed by ``cl_ord_id``), from a look-up that started
        after this call; a failing look-up raises here as it did in the gateway."""
        answer: asyncio.Future[dict[str, LookupResult]] = asyncio.get_running_loop().create_future()
        self._waiting.append((lookups, answer))
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain())
        return await answer

    async def _drain(self) -> None:
        try:
            await asyncio.sleep(0)  # callers failing at the same moment join this look-up
            while self._waiting:
                batch, self._waiting = self._waiting, []
                merged = {lookup.cl_ord_id: lookup for lookups, _ in batch for lookup in lookups}
                self.lookups_made += 1
                try:
                    answers = await self._find(list(merged.values()))
                except Exception as e:
                    for _, answer in batch:
                        if not answer.done():
                            answer.set_exception(e)
                    continue
                for lookups, answer in batch:
                    if not answer.done():
                        answer.set_result(
                            {
                                lookup.cl_ord_id: answers[lookup.cl_ord_id]
                                for lookup in lookups
                                if lookup.cl_ord_id in answers
                            }
                        )
        finally:
            self._draining = None


_Waiter = tuple[Sequence[OrderLookup], "asyncio.Future[dict[str, LookupResult]]"]
