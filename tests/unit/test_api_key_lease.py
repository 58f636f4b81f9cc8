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


async def test_a_successor_learns_the_rest_call_counter_too() -> None:
    """Kraken's REST call counter belongs to the key as well (lookups, tokens, the dead man's
    switch): a successor starting from zero is refused ``EAPI:Rate limit exceeded``."""
    store = MemoryKeyValue()
    predecessor = ApiKeyLease(
        store, "the-key", owner="a", clock=time.time_ns, lease_s=LEASE_S, call_level=lambda: 13.5
    )
    await predecessor.acquire()
    await asyncio.sleep(LEASE_S * 1.1)  # it died: its lease ran out

    successor = _lease(store, "b")
    await successor.acquire()

    assert successor.inherited is not None
    assert successor.inherited.call_level == 13.5


async def test_a_released_key_is_taken_over_at_once_with_the_counters_as_they_ended() -> None:
    """A graceful stop hands the key over: no waiting out the lease, and the counters written
    after the process's last Kraken call, not at its last renewal."""
    store = MemoryKeyValue()
    levels = {"XBTUSD": 1.0}
    calls = [2.0]
    predecessor = ApiKeyLease(
        store, "the-key", owner="a", clock=time.time_ns, lease_s=60.0,
        trading_levels=lambda: levels, call_level=lambda: calls[0],
    )  # fmt: skip
    await predecessor.acquire()
    levels, calls = {"XBTUSD": 30.0}, [14.0]  # its last calls, after the last renewal
    await predecessor.release()

    successor = ApiKeyLease(store, "the-key", owner="b", clock=time.time_ns, lease_s=60.0)
    await asyncio.wait_for(successor.acquire(), 5)  # a held lease would be waited out: 60 s

    assert successor.inherited is not None
    assert successor.inherited.trading_levels == {"XBTUSD": 30.0}
    assert successor.inherited.call_level == 14.0


async def test_a_release_does_not_undo_a_takeover() -> None:
    """Released late (its lease ran out and another process took the key): nothing is written."""
    store = MemoryKeyValue()
    old = _lease(store, "a")
    await old.acquire()
    await asyncio.sleep(LEASE_S * 1.1)
    new = _lease(store, "b")
    await new.acquire()
    await old.release()
    with pytest.raises(ApiKeyInUse, match="in use by b"):
        await ApiKeyLease(store, "the-key", owner="c", clock=time.time_ns, lease_s=0.05).acquire()
