"""Nonces: strictly increasing per key, never below the floor, safe across threads and tasks."""

from __future__ import annotations

import asyncio
import itertools
import threading

from kraken.nonce import NonceSource, send_lock


def test_next_nonce_when_clock_stands_still_then_strictly_increasing() -> None:
    """A frozen clock still yields distinct, increasing nonces."""
    source = NonceSource()

    nonces = [source.next_nonce("key", lambda: 1_000) for _ in range(5)]

    assert nonces == [1_000, 1_001, 1_002, 1_003, 1_004]


def test_next_nonce_when_clock_steps_back_then_never_lower() -> None:
    """A wall clock recalibrated backwards cannot lower the nonce."""
    source = NonceSource()
    times = iter([5_000, 4_000, 3_000, 9_000])

    nonces = [source.next_nonce("key", lambda: next(times)) for _ in range(4)]

    assert nonces == [5_000, 5_001, 5_002, 9_000]


def test_raise_floor_when_higher_value_then_next_nonce_above_it() -> None:
    """The floor only goes up; nonces continue above it."""
    source = NonceSource()
    source.raise_floor("key", 10_000)
    source.raise_floor("key", 50)

    assert source.floor("key") == 10_000
    assert source.next_nonce("key", lambda: 1) == 10_001


def test_next_nonce_when_keys_differ_then_independent_sequences() -> None:
    """Each key has its own floor."""
    source = NonceSource()
    source.raise_floor("a", 10_000)

    assert source.next_nonce("b", lambda: 7) == 7


def test_next_nonce_when_many_threads_then_all_unique_and_ordered_per_thread() -> None:
    """Concurrent threads sharing a key never get a repeated or lower nonce."""
    source = NonceSource()
    ticks = itertools.count()
    results: list[list[int]] = [[] for _ in range(8)]

    def worker(out: list[int]) -> None:
        for _ in range(500):
            out.append(source.next_nonce("key", lambda: next(ticks) // 3))

    threads = [threading.Thread(target=worker, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    flat = [n for out in results for n in out]
    assert len(set(flat)) == len(flat) == 4000
    assert all(out == sorted(out) and len(set(out)) == len(out) for out in results)


async def test_send_lock_when_same_key_then_same_lock_and_serializes() -> None:
    """Tasks holding the per-key lock never overlap; other keys get other locks."""
    inside = 0
    overlaps = 0

    async def section() -> None:
        nonlocal inside, overlaps
        async with send_lock("k"):
            inside += 1
            overlaps += inside > 1
            await asyncio.sleep(0)
            inside -= 1

    await asyncio.gather(*(section() for _ in range(20)))

    assert overlaps == 0
    assert send_lock("k") is send_lock("k")
    assert send_lock("k") is not send_lock("other")
