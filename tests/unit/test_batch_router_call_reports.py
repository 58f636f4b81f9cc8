"""The batch router's queue of Kraken call reports is bounded: a bus outage cannot grow it
without limit; the oldest reports go first and are counted (issue 11, point 3). Queued reports
are published together."""

from __future__ import annotations

import asyncio

from actors.batch_router.shell import BatchRouterActor
from bus import Subjects
from schemas.events import KrakenCallSucceeded, OperationKind


def report(index: int) -> KrakenCallSucceeded:
    return KrakenCallSucceeded(
        ts_event=index,
        ts_init=index,
        scope="kraken.trading",
        endpoint="AddOrder",
        operation=OperationKind.PLACE,
        latency_ns=1,
    )


def test_call_reports_beyond_the_bound_drop_the_oldest_and_are_counted() -> None:
    router = BatchRouterActor()
    bound = router._calls.maxsize
    assert bound > 0
    for index in range(bound + 3):
        router._on_call(report(index))
    assert router._calls.qsize() == bound
    assert router._calls.get_nowait().ts_event == 3
    assert router._call_reports_dropped == 3


class _Context:
    """What ``_publish_calls`` uses of the bus: subjects and pipelined durable publishes."""

    def __init__(self, *, fail_first: bool = False) -> None:
        self.subjects = Subjects("gf")
        self.published: list[list[tuple[str, object, str]]] = []
        self._fail = fail_first

    async def publish_durable_many(self, messages: list[tuple[str, object, str]]) -> list[object]:
        if self._fail:
            self._fail = False
            raise TimeoutError("no ack")
        self.published.append(list(messages))
        return [None] * len(messages)


async def test_queued_reports_go_out_together_in_order_with_their_own_ids() -> None:
    """Reports queued while a publish is under way (a chunked batch's calls) share the next
    pipelined publish; a failed publish loses its reports, not the reporter."""
    router = BatchRouterActor()
    context = _Context(fail_first=True)
    router._context = context  # type: ignore[assignment]
    router._call_id_prefix = "r"
    reporter = asyncio.create_task(router._publish_calls())
    try:
        router._on_call(report(0))
        await asyncio.wait_for(router._calls.join(), 2)  # the failed publish
        for index in range(1, 4):
            router._on_call(report(index))
        await asyncio.wait_for(router._calls.join(), 2)
    finally:
        reporter.cancel()
    assert len(context.published) == 1
    sent = context.published[0]
    assert [msg_id for _, _, msg_id in sent] == ["r:2", "r:3", "r:4"]
    assert [event.ts_event for _, event, _ in sent] == [1, 2, 3]  # type: ignore[attr-defined]
    assert {subject for subject, _, _ in sent} == {"gf.kraken.call.succeeded"}
