"""The API-key lease says what happened: a bucket that does not answer (a stalled link) is not
"another process holding the key"; a live rival is named."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from actors.batch_router.key_lease import ApiKeyInUse, ApiKeyLease
from bus.testing import MemoryKeyValue

LEASE_S = 0.3


class StalledKeyValue(MemoryKeyValue):
    """A bucket behind a link that freezes and thaws: reads time out while ``stalled``, and
    writes land (the held traffic flows after the thaw) — a create then finds the key exists,
    written by this very process."""

    def __init__(self) -> None:
        super().__init__()
        self.stalled = False

    async def get(self, key: str):  # type: ignore[no-untyped-def]
        if self.stalled:
            raise TimeoutError("nats: timeout")
        return await super().get(key)

    async def update(self, key: str, value: bytes, last: int | None = None) -> int:
        if self.stalled:
            await super().update(key, value, last)  # it lands; the answer is lost
            raise TimeoutError("nats: timeout")
        return await super().update(key, value, last)


def _lease(store: MemoryKeyValue, owner: str) -> ApiKeyLease:
    return ApiKeyLease(store, "the-key", owner=owner, clock=time.time_ns, lease_s=LEASE_S)


async def test_a_stalled_bucket_is_not_reported_as_another_process_holding_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = StalledKeyValue()
    lease = _lease(store, "router-a")
    await lease.acquire()
    store.stalled = True

    with caplog.at_level(logging.INFO, logger="actors.batch_router.key_lease"):
        await lease._reacquire()
        store.stalled = False
        await lease._reacquire()

    text = caplog.text
    assert "in use by another process" not in text
    assert "apikey.lease_unconfirmed" in text
    assert "TimeoutError" in text
    assert "apikey.lease_renewed" in text  # once the bucket answers, our own lease is ours


async def test_a_live_rival_is_named() -> None:
    store = MemoryKeyValue()
    rival = _lease(store, "router-b")
    await rival.acquire()
    renewing = asyncio.create_task(rival.keep())
    try:
        with pytest.raises(ApiKeyInUse, match="in use by router-b"):
            await _lease(store, "router-a").acquire()
    finally:
        renewing.cancel()


async def test_a_successor_learns_the_trading_counters_its_predecessor_wrote() -> None:
    store = MemoryKeyValue()
    levels = {"XBTUSD": 42.0}
    predecessor = ApiKeyLease(
        store,
        "the-key",
        owner="a",
        clock=time.time_ns,
        lease_s=LEASE_S,
        trading_levels=lambda: levels,
    )
    await predecessor.acquire()
    written = time.time_ns()
    await asyncio.sleep(LEASE_S * 1.1)  # it died: its lease ran out

    successor = _lease(store, "b")
    await successor.acquire()

    assert successor.inherited is not None
    assert successor.inherited.trading_levels == levels
    assert successor.inherited.written_ns <= written
    assert _lease(MemoryKeyValue(), "c").inherited is None  # nobody held the key before
