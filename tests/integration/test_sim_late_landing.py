"""The simulator's late-landing fault and its ``deadline`` check: an AddOrder that reaches the
engine after its deadline is refused, one that reaches it before is placed, whether or not the
client ever hears back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest

from kraken.rest import format_deadline
from kraken.sim import LateLandingFault, RunningSim, SimOptions
from tests.support.sim import SimClient, sim_fixture
from tests.support.waiting import eventually

pytestmark = pytest.mark.sim

_S = 1_000_000_000


def _market_buy(deadline_in_s: float) -> dict[str, str]:
    deadline = format_deadline(time.time_ns() + int(deadline_in_s * _S))
    return {
        "pair": "XBTUSD",
        "type": "buy",
        "ordertype": "market",
        "volume": "0.01",
        "cl_ord_id": "late-1",
        "deadline": deadline,
    }


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async for running in sim_fixture(SimOptions(auto_tick=False)):
        running.exchange.set_price("XBTUSD", Decimal("50000.0"))
        yield running


async def test_order_held_past_its_deadline_is_rejected_deadline_elapsed(sim: RunningSim) -> None:
    sim.faults.add(LateLandingFault(hold_s=1.5, calls=1))
    async with SimClient(sim) as client:
        answer = await client.private("AddOrder", _market_buy(deadline_in_s=1.0))
    assert answer == {"error": ["EService:Deadline elapsed"]}
    assert sim.exchange.ledger() == []


async def test_order_held_inside_its_deadline_is_placed_late(sim: RunningSim) -> None:
    sim.faults.add(LateLandingFault(hold_s=0.5, calls=1))
    async with SimClient(sim) as client:
        answer = await client.private("AddOrder", _market_buy(deadline_in_s=5.0))
    assert answer["error"] == []
    [entry] = sim.exchange.ledger()
    assert entry.status == "closed"  # a market order fills at once


async def test_dropped_answer_still_lands_after_the_hold(sim: RunningSim) -> None:
    """``answer: drop``: the client sees a dead connection; the order lands later anyway."""
    sim.faults.add(LateLandingFault(hold_s=0.5, answer="drop", calls=1))
    async with SimClient(sim) as client:
        with pytest.raises(aiohttp.ClientError):
            await client.private("AddOrder", _market_buy(deadline_in_s=5.0))
    assert sim.exchange.ledger() == []  # not yet seen by the engine
    await eventually(lambda: len(sim.exchange.ledger()) == 1, timeout=5)
    await asyncio.sleep(0)
