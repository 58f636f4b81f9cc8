"""Two API keys of one account in the simulator (``AccountSetup(account_of=...)``): each key signs
with its own secret and nonces, and both see the account's orders and balances."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from kraken.sim import (
    DEFAULT_API_KEY,
    AccountSetup,
    ManualClock,
    RunningSim,
    Scenario,
    SimOptions,
    parse_scenario,
)
from kraken.sim.server import build_exchange
from tests.support.sim import SimClient, sim_fixture

pytestmark = pytest.mark.sim

SECOND_SECRET = base64.b64encode(b"same-account-second-key".ljust(64, b"y")).decode()
SECOND_KEY = AccountSetup(key="desk-1b", secret=SECOND_SECRET, account_of=DEFAULT_API_KEY)


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    options = SimOptions(
        auto_tick=False, clock=ManualClock(), scenario=Scenario(accounts=(SECOND_KEY,))
    )
    async for running in sim_fixture(options):
        running.exchange.set_price("XBTUSD", Decimal("50000.0"))
        yield running


async def test_second_key_of_an_account_sees_its_orders_and_keeps_its_own_nonces(
    sim: RunningSim,
) -> None:
    async with (
        SimClient(sim) as first,
        SimClient(sim, api_key="desk-1b", api_secret=SECOND_SECRET) as second,
    ):
        market = {"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": "0.001"}
        placed = await second.private("AddOrder", {**market, "cl_ord_id": "by-second-key"})
        assert placed["error"] == []
        closed = (await first.private("ClosedOrders", {"cl_ord_id": "by-second-key"}))["result"]
        assert [order["cl_ord_id"] for order in closed["closed"].values()] == ["by-second-key"]
        nonce = 10**18
        mine = await first.private("Balance", nonce=nonce)
        same = await second.private("Balance", nonce=nonce)  # same nonce, other key: fine
        assert same["error"] == []
        assert same["result"] == mine["result"]  # one account's balances
    assert sim.exchange.account("desk-1b") is sim.exchange.account(DEFAULT_API_KEY)


def test_account_of_an_unknown_key_is_refused() -> None:
    scenario = parse_scenario({"accounts": [{"key": "k", "secret": "c2VjcmV0", "account_of": "x"}]})
    with pytest.raises(ValueError, match="account_of 'x'"):
        build_exchange(SimOptions(scenario=scenario))
