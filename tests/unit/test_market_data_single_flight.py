"""Single-flight: one call per key, shared results, errors and cancellation handled."""

from __future__ import annotations

import asyncio

import pytest

from actors.market_data.single_flight import SingleFlight


async def test_cancelled_first_caller_does_not_cancel_the_shared_call() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    release = asyncio.Event()
    runs: list[str] = []

    async def call() -> int:
        runs.append("run")
        await release.wait()
        return 7

    async with asyncio.timeout(5):
        first = asyncio.create_task(flight.run("k", call))
        second = asyncio.create_task(flight.run("k", call))
        await asyncio.sleep(0)
        first.cancel()
        release.set()
        assert await second == 7
        with pytest.raises(asyncio.CancelledError):
            await first

    assert runs == ["run"]
    assert (flight.calls, flight.coalesced, flight.in_flight("k")) == (1, 1, False)


async def test_error_reaches_every_waiter_and_next_call_runs_again() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    attempts = 0

    async def failing() -> int:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0)
        raise ConnectionError("down")

    results = await asyncio.gather(
        *(flight.run("k", failing) for _ in range(3)), return_exceptions=True
    )

    assert all(isinstance(r, ConnectionError) for r in results)
    assert attempts == 1
    with pytest.raises(ConnectionError):
        await flight.run("k", failing)
    assert attempts == 2


async def test_different_keys_do_not_share() -> None:
    flight: SingleFlight[str, str] = SingleFlight()

    async def echo(value: str) -> str:
        await asyncio.sleep(0)
        return value

    assert list(
        await asyncio.gather(flight.run("a", lambda: echo("a")), flight.run("b", lambda: echo("b")))
    ) == ["a", "b"]
    assert flight.calls == 2
