"""Public REST endpoints of the simulated exchange, checked against Kraken's recorded answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from kraken.sim import RunningSim, SimOptions
from tests.support.sim import SimClient, kraken_fixture, sim_fixture

pytestmark = pytest.mark.sim

_fixture = kraken_fixture


def shape(value: Any) -> Any:
    """Key sets and JSON types, recursively (lists by their first element)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async for running in sim_fixture(SimOptions(auto_tick=False)):
        yield running


@pytest.fixture
async def client(sim: RunningSim) -> AsyncIterator[SimClient]:
    async with SimClient(sim) as opened:
        yield opened


@pytest.mark.parametrize(
    ("method", "fixture"),
    [
        ("Time", "rest_time_2025-11_nautilus.json"),
        ("SystemStatus", "rest_systemstatus_online_2025-11_nautilus.json"),
    ],
)
async def test_public_answer_has_the_recorded_shape(
    client: SimClient, method: str, fixture: str
) -> None:
    assert shape(await client.public(method)) == shape(_fixture(fixture))


async def test_ticker_entry_has_the_recorded_shape_keyed_by_pair_id(client: SimClient) -> None:
    recorded = _fixture("rest_ticker_XBTUSDT_2025-11_nautilus.json")
    answer = await client.public("Ticker", pair="XBTUSDT")
    assert shape(answer) == shape(recorded)
    by_altname = await client.public("Ticker", pair="XBTUSD")
    assert list(by_altname["result"]) == ["XXBTZUSD"]
    by_symbol = await client.public("Ticker", pair="BTC/USD,ETHXBT")
    assert list(by_symbol["result"]) == ["BTC/USD", "XETHXXBT"]


async def test_ticker_without_pair_lists_every_pair(client: SimClient) -> None:
    answer = await client.public("Ticker")
    assert set(answer["result"]) == {"XXBTZUSD", "XETHZUSD", "XBTUSDT", "SOLUSD", "XETHXXBT"}


async def test_assetpairs_xbtusdt_equals_the_recorded_entry(client: SimClient) -> None:
    recorded = _fixture("rest_assetpairs_XBTUSDT_2025-11_nautilus.json")
    assert await client.public("AssetPairs", pair="XBTUSDT") == recorded


async def test_assetpairs_lists_the_required_pairs_with_their_names(client: SimClient) -> None:
    result = (await client.public("AssetPairs"))["result"]
    names = {key: (entry["altname"], entry["wsname"]) for key, entry in result.items()}
    assert names == {
        "XXBTZUSD": ("XBTUSD", "XBT/USD"),
        "XETHZUSD": ("ETHUSD", "ETH/USD"),
        "XBTUSDT": ("XBTUSDT", "XBT/USDT"),
        "SOLUSD": ("SOLUSD", "SOL/USD"),
        "XETHXXBT": ("ETHXBT", "ETH/XBT"),
    }
    recorded_shape = shape(_fixture("rest_assetpairs_XBTUSDT_2025-11_nautilus.json")["result"])
    assert all(shape(entry) == recorded_shape["XBTUSDT"] for entry in result.values())


async def test_unknown_pair_answers_kraken_error_without_result(client: SimClient) -> None:
    assert await client.public("Ticker", pair="NOPE") == {"error": ["EQuery:Unknown asset pair"]}
    assert await client.public("AssetPairs", pair="XBT/USD") == {
        "error": ["EQuery:Unknown asset pair"]
    }


async def test_systemstatus_follows_the_exchange_status(sim: RunningSim, client: SimClient) -> None:
    sim.exchange.set_status("maintenance")
    assert (await client.public("SystemStatus"))["result"]["status"] == "maintenance"


async def test_ohlc_rows_have_kraken_types_and_last_cursor(
    sim: RunningSim, client: SimClient
) -> None:
    sim.exchange.step_prices(5)
    answer = await client.public("OHLC", pair="XBTUSD", interval="1")
    assert answer["error"] == []
    rows = answer["result"]["XXBTZUSD"]
    assert rows
    assert [type(field).__name__ for field in rows[-1]] == [
        "int", "str", "str", "str", "str", "str", "str", "int",
    ]  # fmt: skip
    assert answer["result"]["last"] == rows[-1][0] - 60
    bad = await client.public("OHLC", pair="XBTUSD", interval="2")
    assert bad == {"error": ["EGeneral:Invalid arguments:interval"]}
