"""The batch router's queue of Kraken call reports is bounded: a bus outage cannot grow it
without limit; the oldest reports go first and are counted (issue 11, point 3)."""

from __future__ import annotations

from actors.batch_router.shell import BatchRouterActor
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
