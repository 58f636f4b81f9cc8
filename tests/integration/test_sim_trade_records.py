"""Trade-level records over REST: partial fills, trades, ledgers, fees, edits, several API keys."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from kraken.sim import AccountSetup, BookProfile, ManualClock, RunningSim, Scenario, SimOptions
from tests.support.sim import SimClient, sim_fixture

pytestmark = pytest.mark.sim

SECOND_SECRET = base64.b64encode(b"second-desk-secret".ljust(64, b"x")).decode()
SECOND = AccountSetup(
    key="desk-2", secret=SECOND_SECRET, tier="pro", balances={"ZUSD": Decimal(5000)}
)
# Three asks of 0.05 BTC: a 0.2 BTC buy walks all three and rests the rest.
THIN = BookProfile(levels=3, size_min=1000, size_max=1000)


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    options = SimOptions(
        auto_tick=False,
        clock=ManualClock(),
        book_profile=THIN,
        scenario=Scenario(accounts=(SECOND,)),
    )
    async for running in sim_fixture(options):
        running.exchange.set_price("XBTUSD", Decimal("50000.0"))
        yield running


@pytest.fixture
async def client(sim: RunningSim) -> AsyncIterator[SimClient]:
    async with SimClient(sim) as opened:
        yield opened


def buy(volume: str, price: str, **extra: str) -> dict[str, str]:
    return {
        "pair": "XBTUSD",
        "type": "buy",
        "ordertype": "limit",
        "volume": volume,
        "price": price,
        **extra,
    }


async def test_partially_filled_order_shows_its_trades_ledgers_and_holds(
    client: SimClient,
) -> None:
    placed = await client.private("AddOrder", buy("0.2", "50000.5", cl_ord_id="walk"))
    [txid] = placed["result"]["txid"]
    order = (await client.private("QueryOrders", {"txid": txid, "trades": "true"}))["result"][txid]
    assert order["status"] == "open"
    assert order["reason"] is None
    assert (order["vol"], order["vol_exec"]) == ("0.20000000", "0.15000000")
    assert order["price"] == "50000.2"  # volume-weighted over 50000.1, .2 and .3
    assert len(order["trades"]) == 3
    without = (await client.private("QueryOrders", {"txid": txid}))["result"][txid]
    assert "trades" not in without

    history = (await client.private("TradesHistory"))["result"]
    assert history["count"] == 3
    assert set(history["trades"]) == set(order["trades"])
    trade_ids = ",".join(order["trades"])
    queried = (await client.private("QueryTrades", {"txid": trade_ids}))["result"]
    assert sorted(t["price"] for t in queried.values()) == ["50000.1", "50000.2", "50000.3"]
    assert {t["ordertxid"] for t in queried.values()} == {txid}
    fees = sum((Decimal(t["fee"]) for t in queried.values()), Decimal(0))
    assert fees == Decimal(order["fee"])

    ledger = (await client.private("Ledgers", {"asset": "ZUSD"}))["result"]
    assert ledger["count"] == 3
    entry_ids = ",".join(ledger["ledger"])
    again = (await client.private("QueryLedgers", {"id": entry_ids}))["result"]
    assert again == ledger["ledger"]
    # Ledger amounts use the asset's decimals (ZUSD: 4), trades the pair's cost decimals (5).
    assert sum(Decimal(e["fee"]) for e in again.values()) == fees.quantize(Decimal("0.0001"))

    balance_ex = (await client.private("BalanceEx"))["result"]
    assert Decimal(balance_ex["ZUSD"]["hold_trade"]) == Decimal("0.05") * Decimal(
        "50000.5"
    ) * Decimal("1.004")
    assert Decimal(balance_ex["XXBT"]["balance"]) == Decimal("10.15")

    volume = (await client.private("TradeVolume", {"pair": "XBTUSD"}))["result"]
    assert volume["currency"] == "ZUSD"
    assert Decimal(volume["volume"]) == Decimal("7500.03")
    assert volume["fees"]["XXBTZUSD"]["fee"] == "0.4000"
    assert volume["fees"]["XXBTZUSD"]["nextvolume"] == "10000.0000"
    assert volume["fees_maker"]["XXBTZUSD"]["fee"] == "0.2500"
    trade_balance = (await client.private("TradeBalance"))["result"]
    assert Decimal(trade_balance["eb"]) > 0


async def test_fee_tier_follows_thirty_day_volume(sim: RunningSim, client: SimClient) -> None:
    for _ in range(2):  # 2 x 0.15 BTC x 50000 = 15 000 USD: second tier (0.35 %)
        await client.private("AddOrder", buy("0.15", "50000.3", timeinforce="IOC"))
        sim.exchange.set_price("XBTUSD", Decimal("50000.0"))  # the thin book refills
    volume = (await client.private("TradeVolume", {"pair": "XBTUSD"}))["result"]
    assert volume["fees"]["XXBTZUSD"]["fee"] == "0.3500"


async def test_cancel_order_batch_by_txid_and_cl_ord_id(client: SimClient) -> None:
    [first] = (await client.private("AddOrder", buy("0.01", "40000")))["result"]["txid"]
    await client.private("AddOrder", buy("0.01", "40000", cl_ord_id="b-2"))
    await client.private("AddOrder", buy("0.01", "40000", cl_ord_id="b-3"))
    answer = await client.private(
        "CancelOrderBatch", {"orders": [first], "cl_ord_ids": ["b-2"]}, as_json=True
    )
    assert answer == {"error": [], "result": {"count": 2}}
    still_open = (await client.private("OpenOrders"))["result"]["open"]
    assert [o["cl_ord_id"] for o in still_open.values()] == ["b-3"]


async def test_amend_keeps_the_txid_and_edit_replaces_the_order(client: SimClient) -> None:
    [txid] = (await client.private("AddOrder", buy("0.01", "40000")))["result"]["txid"]
    amended = await client.private("AmendOrder", {"txid": txid, "limit_price": "41000"})
    assert amended["error"] == []
    assert "amend_id" in amended["result"]
    order = (await client.private("QueryOrders", {"txid": txid}))["result"][txid]
    assert (order["descr"]["price"], order["misc"], order["status"]) == (
        "41000.0",
        "amended",
        "open",
    )
    edited = await client.private("EditOrder", {"txid": txid, "pair": "XBTUSD", "volume": "0.02"})
    result = edited["result"]
    assert result["originaltxid"] == txid
    assert result["txid"] != txid
    assert result["volume"] == "0.02000000"
    old = (await client.private("QueryOrders", {"txid": txid}))["result"][txid]
    assert old["status"] == "canceled"
    assert await client.private("AmendOrder", {"txid": txid, "limit_price": "1"}) == {
        "error": ["EOrder:Unknown order"]
    }


async def test_trigger_order_is_accepted_over_rest(client: SimClient) -> None:
    stop = {"pair": "XBTUSD", "type": "sell", "ordertype": "stop-loss", "volume": "0.01"}
    answer = await client.private("AddOrder", {**stop, "price": "-5%"})
    assert answer["error"] == []
    assert answer["result"]["descr"]["order"] == "sell 0.01000000 XBTUSD @ stop-loss 47500.0"


async def test_each_api_key_has_its_own_balances_nonces_and_counter(sim: RunningSim) -> None:
    async with (
        SimClient(sim) as first,
        SimClient(sim, api_key="desk-2", api_secret=SECOND_SECRET) as second,
    ):
        nonce = 10**15
        mine = await first.private("Balance", nonce=nonce)
        theirs = await second.private("Balance", nonce=nonce)  # same nonce, other key: fine
        assert Decimal(mine["result"]["ZUSD"]) == Decimal(1_000_000)
        assert theirs["result"] == {"ZUSD": "5000.0000"}
        assert await second.private("Balance", nonce=nonce) == {"error": ["EAPI:Invalid nonce"]}
        # Starter: 15 calls on the REST counter; the pro key's counter is its own.
        for _ in range(15):
            await first.private("Balance")
        assert await first.private("Balance") == {"error": ["EAPI:Rate limit exceeded"]}
        assert (await second.private("Balance"))["error"] == []
    assert sim.exchange.accounts["desk-2"].tier.value == "pro"
