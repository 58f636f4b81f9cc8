"""The active/standby lease on a KV key: renewal by compare-and-set, takeover after the TTL
measured on the standby's own clock (skew between hosts is irrelevant), clean hand-over."""

from __future__ import annotations

from actors.error_classifier.lease import Lease
from bus.testing import MemoryKeyValue

TTL_S = 3.0
S = 1_000_000_000


class Clock:
    """One host's clock: only differences of its own readings matter to the lease."""

    def __init__(self, now_ns: int) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, seconds: float) -> None:
        self.now_ns += int(seconds * S)


def lease(kv: MemoryKeyValue, holder: str, clock: Clock) -> Lease:
    return Lease(kv, key="error-classifier", holder=holder, ttl_s=TTL_S, clock=clock)


async def test_the_first_instance_takes_the_free_lease_and_the_second_stands_by() -> None:
    kv = MemoryKeyValue()
    a, b = lease(kv, "a", Clock(0)), lease(kv, "b", Clock(0))
    assert await a.step()
    assert not await b.step()
    assert (await kv.get("error-classifier")).value == b"a"


async def test_a_renewed_lease_is_never_taken_over_whatever_the_clocks_say() -> None:
    kv = MemoryKeyValue()
    clock_a, clock_b = Clock(0), Clock(3_600 * S)  # an hour apart
    a, b = lease(kv, "a", clock_a), lease(kv, "b", clock_b)
    await a.step()
    for _ in range(30):
        clock_a.advance(TTL_S / 3)
        clock_b.advance(TTL_S / 3)
        assert await a.step()
        assert not await b.step()


async def test_a_standby_takes_over_after_the_ttl_on_its_own_clock_after_the_holder_quit() -> None:
    kv = MemoryKeyValue()
    clock_a, clock_b = Clock(0), Clock(-5 * S)  # b runs 5 s behind a
    a, b = lease(kv, "a", clock_a), lease(kv, "b", clock_b)
    await a.step()
    await b.step()  # b sees revision r at its t0
    # a dies (no more renewals); a's own view expires before b may take over.
    clock_a.advance(TTL_S * 0.8)
    assert not a.active()
    clock_b.advance(TTL_S - 0.1)
    assert not await b.step()
    clock_b.advance(0.1)
    assert await b.step()
    assert b.takeovers == 1
    assert (await kv.get("error-classifier")).value == b"b"


async def test_a_holder_that_lost_the_key_steps_down_at_its_next_renewal() -> None:
    kv = MemoryKeyValue()
    clock_a, clock_b = Clock(0), Clock(0)
    a, b = lease(kv, "a", clock_a), lease(kv, "b", clock_b)
    await a.step()
    await b.step()
    clock_b.advance(TTL_S)  # a was paused (GC, partition) for a whole TTL
    assert await b.step()
    assert not await a.step()
    assert not a.active()
    clock_b.advance(TTL_S / 3)
    assert await b.step()


async def test_a_released_lease_is_taken_over_at_once() -> None:
    kv = MemoryKeyValue()
    a, b = lease(kv, "a", Clock(0)), lease(kv, "b", Clock(0))
    await a.step()
    await b.step()
    await a.release()
    assert not a.active()
    assert await b.step()


async def test_every_takeover_starts_a_higher_term_than_the_deposed_holders() -> None:
    kv = MemoryKeyValue()
    clock_a, clock_b = Clock(0), Clock(0)
    a, b = lease(kv, "a", clock_a), lease(kv, "b", clock_b)
    await a.step()
    await b.step()
    clock_a.advance(TTL_S * 2)  # a stalls: no renewal
    clock_b.advance(TTL_S)
    assert await b.step()
    assert b.term > a.term > 0
    clock_b.advance(TTL_S * 2)  # now b stalls and a takes the lease back
    clock_a.advance(TTL_S)
    await a.step()  # a learns it lost the lease
    await a.step()  # and watches b's revision
    clock_a.advance(TTL_S)
    assert await a.step()
    assert a.term > b.term
