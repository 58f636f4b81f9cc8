"""The simulator's book as Kraken shows it: REST Depth/Trades/Spread/Assets and the WS v2 book."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from kraken.book_checksum import book_checksum
from kraken.sim import RunningSim, SimOptions
from tests.support.sim import SimClient, sim_fixture

pytestmark = pytest.mark.sim

TIMEOUT_S = 5.0


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async for running in sim_fixture(SimOptions(auto_tick=False, heartbeat_interval_s=60)):
        running.exchange.set_price("XBTUSD", Decimal("50000.0"))
        yield running


@pytest.fixture
async def client(sim: RunningSim) -> AsyncIterator[SimClient]:
    async with SimClient(sim) as opened:
        yield opened


async def test_depth_lists_the_book_best_first_with_count(
    sim: RunningSim, client: SimClient
) -> None:
    answer = await client.public("Depth", pair="XBTUSD", count="3")
    book = answer["result"]["XXBTZUSD"]
    assert [row[0] for row in book["asks"]] == ["50000.1", "50000.2", "50000.3"]
    assert [row[0] for row in book["bids"]] == ["50000.0", "49999.9", "49999.8"]
    top = sim.exchange.books["XXBTZUSD"].asks[0]
    assert book["asks"][0][1] == f"{top.qty:.8f}"
    assert isinstance(book["asks"][0][2], int)


async def test_depth_shows_liquidity_taken_by_an_order(sim: RunningSim, client: SimClient) -> None:
    top = sim.exchange.books["XXBTZUSD"].asks[0].qty
    market = {"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": str(top)}
    assert (await client.private("AddOrder", market))["error"] == []
    book = (await client.public("Depth", pair="XBTUSD", count="1"))["result"]["XXBTZUSD"]
    assert book["asks"][0][0] == "50000.2"


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"pair": "XBTUSD", "count": "501"}, "EGeneral:Invalid arguments:count"),
        ({"pair": "NOPE"}, "EQuery:Unknown asset pair"),
        ({}, "EGeneral:Invalid arguments:pair"),
    ],
)
async def test_depth_refuses_bad_arguments(
    client: SimClient, params: dict[str, str], error: str
) -> None:
    assert await client.public("Depth", **params) == {"error": [error]}


async def test_unknown_public_path_answers_kraken_json_envelope(client: SimClient) -> None:
    raw = await client.public_raw("NoSuchThing")
    assert raw.status == 200
    assert raw.content_type == "application/json"
    assert raw.json() == {"error": ["EGeneral:Unknown method"]}


async def test_trades_spread_and_assets(sim: RunningSim, client: SimClient) -> None:
    sim.exchange.step_prices(3)
    trades = (await client.public("Trades", pair="XBTUSD"))["result"]
    rows = trades["XXBTZUSD"]
    assert len(rows) >= 4
    assert {row[3] for row in rows} <= {"b", "s"}
    assert int(trades["last"]) > 0
    spread = (await client.public("Spread", pair="XBTUSD"))["result"]
    assert all(Decimal(ask) > Decimal(bid) for _, bid, ask in spread["XXBTZUSD"])
    assets = (await client.public("Assets", asset="XBT,USD"))["result"]
    assert assets["XXBT"]["decimals"] == 10
    assert assets["ZUSD"]["altname"] == "USD"
    assert await client.public("Assets", asset="NOPE") == {"error": ["EQuery:Unknown asset"]}


# -- WS v2 book ----------------------------------------------------------------------------


async def _receive(ws: aiohttp.ClientWebSocketResponse) -> Any:
    while True:
        message = await ws.receive(timeout=TIMEOUT_S)
        assert message.type is aiohttp.WSMsgType.TEXT, message
        decoded = json.loads(message.data, parse_float=Decimal)
        if decoded.get("channel") not in {"heartbeat", "status"}:
            return decoded


def _apply(side: dict[Decimal, Decimal], levels: list[dict[str, Decimal]]) -> None:
    for level in levels:
        if level["qty"] == 0:
            side.pop(level["price"], None)
        else:
            side[level["price"]] = level["qty"]


@pytest.mark.parametrize("depth", [10, 25])
async def test_ws_book_snapshot_and_updates_carry_kraken_checksums(
    sim: RunningSim, depth: int
) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(sim.ws_url) as ws:
        await ws.send_str(
            json.dumps(
                {
                    "method": "subscribe",
                    "params": {"channel": "book", "symbol": ["BTC/USD"], "depth": depth},
                }
            )
        )
        ack = await _receive(ws)
        assert ack["success"] is True
        assert ack["result"] == {
            "channel": "book",
            "depth": depth,
            "snapshot": True,
            "symbol": "BTC/USD",
        }
        snapshot = await _receive(ws)
        assert snapshot["type"] == "snapshot"
        [data] = snapshot["data"]
        asks = {level["price"]: level["qty"] for level in data["asks"]}
        bids = {level["price"]: level["qty"] for level in data["bids"]}
        assert len(asks) == len(bids) == depth
        for price in ("50123.0", "49900.0", "49900.0"):
            sim.exchange.set_price("XBTUSD", Decimal(price))
            update = await _receive(ws)
            assert update["type"] == "update"
            [data] = update["data"]
            _apply(asks, data["asks"])
            _apply(bids, data["bids"])
            asks = dict(sorted(asks.items())[:depth])
            bids = dict(sorted(bids.items(), reverse=True)[:depth])
            got = book_checksum(
                sorted(asks.items()),
                sorted(bids.items(), reverse=True),
                price_decimals=1,
                qty_decimals=8,
            )
            assert got == data["checksum"]
        assert min(asks) == Decimal("49900.1")


async def test_ws_book_refuses_an_unsupported_depth(sim: RunningSim) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(sim.ws_url) as ws:
        params = {"channel": "book", "symbol": ["BTC/USD"], "depth": 7}
        await ws.send_str(json.dumps({"method": "subscribe", "params": params}))
        reply = await _receive(ws)
        assert reply["success"] is False
