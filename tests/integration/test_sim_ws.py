"""WebSocket v2 of the simulated exchange: status, ticker, heartbeat, ping, disconnect, silence."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from kraken.sim import RunningSim, SimOptions, WsDisconnect
from tests.support.sim import kraken_fixture, sim_fixture

pytestmark = pytest.mark.sim

TIMEOUT_S = 5.0


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async for running in sim_fixture(SimOptions(auto_tick=False, heartbeat_interval_s=0.05)):
        yield running


@pytest.fixture
async def ws(sim: RunningSim) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    async with aiohttp.ClientSession() as session, session.ws_connect(sim.ws_url) as socket:
        yield socket


async def receive(ws: aiohttp.ClientWebSocketResponse, timeout: float = TIMEOUT_S) -> Any:
    message = await ws.receive(timeout=timeout)
    assert message.type is aiohttp.WSMsgType.TEXT, message
    return json.loads(message.data)


async def receive_skipping_heartbeats(ws: aiohttp.ClientWebSocketResponse) -> Any:
    while True:
        message = await receive(ws)
        if message.get("channel") != "heartbeat":
            return message


async def subscribe(ws: aiohttp.ClientWebSocketResponse, *symbols: str, req_id: int = 1) -> None:
    await ws.send_str(
        json.dumps(
            {
                "method": "subscribe",
                "params": {"channel": "ticker", "symbol": list(symbols)},
                "req_id": req_id,
            }
        )
    )


async def test_status_is_sent_on_connect(ws: aiohttp.ClientWebSocketResponse) -> None:
    status = await receive(ws)
    assert status["channel"] == "status"
    assert status["type"] == "update"
    [data] = status["data"]
    assert (data["system"], data["api_version"]) == ("online", "v2")
    assert isinstance(data["connection_id"], int)
    assert isinstance(data["version"], str)


async def test_ticker_subscribe_acks_per_symbol_then_snapshot_then_updates(
    sim: RunningSim, ws: aiohttp.ClientWebSocketResponse
) -> None:
    await receive(ws)  # status
    await subscribe(ws, "BTC/USD", "ETH/USD", req_id=7)
    for symbol in ("BTC/USD", "ETH/USD"):
        ack = await receive(ws)
        assert ack["method"] == "subscribe"
        assert ack["success"] is True
        assert ack["req_id"] == 7
        assert ack["result"] == {
            "channel": "ticker",
            "event_trigger": "trades",
            "snapshot": True,
            "symbol": symbol,
        }
        assert {"time_in", "time_out"} <= set(ack)
        snapshot = await receive(ws)
        assert (snapshot["channel"], snapshot["type"]) == ("ticker", "snapshot")
        assert snapshot["data"][0]["symbol"] == symbol
    documented = kraken_fixture("ws_v2_ticker_subscribe_and_snapshot_official_docs_example.json")[
        "snapshot"
    ]["data"][0]
    assert set(snapshot["data"][0]) == set(documented)
    assert all(
        isinstance(snapshot["data"][0][key], float)
        for key in documented
        if key not in {"symbol", "timestamp"}
    )
    sim.exchange.set_price("XBTUSD", Decimal("45000.0"))
    update = await receive_skipping_heartbeats(ws)
    assert (update["channel"], update["type"]) == ("ticker", "update")
    assert update["data"][0]["symbol"] == "BTC/USD"
    assert (update["data"][0]["bid"], update["data"][0]["ask"]) == (45000.0, 45000.1)


async def test_unknown_symbol_is_refused_like_kraken(ws: aiohttp.ClientWebSocketResponse) -> None:
    await receive(ws)
    await subscribe(ws, "XBT/USD")
    refusal = await receive(ws)
    assert refusal["error"] == "Currency pair not supported XBT/USD"
    assert (refusal["method"], refusal["success"], refusal["symbol"]) == (
        "subscribe",
        False,
        "XBT/USD",
    )


async def test_ping_gets_pong_with_req_id(ws: aiohttp.ClientWebSocketResponse) -> None:
    await receive(ws)
    await ws.send_str(json.dumps({"method": "ping", "req_id": 101}))
    pong = await receive(ws)
    assert (pong["method"], pong["req_id"]) == ("pong", 101)


async def test_heartbeat_flows_once_subscribed(ws: aiohttp.ClientWebSocketResponse) -> None:
    await receive(ws)
    await subscribe(ws, "SOL/USD")
    await receive(ws)  # ack
    await receive(ws)  # snapshot
    assert await receive(ws) == {"channel": "heartbeat"}


async def test_status_change_is_pushed(
    sim: RunningSim, ws: aiohttp.ClientWebSocketResponse
) -> None:
    await receive(ws)
    sim.exchange.set_status("maintenance")
    assert (await receive_skipping_heartbeats(ws))["data"][0]["system"] == "maintenance"


async def test_server_side_disconnect_closes_the_socket(
    sim: RunningSim, ws: aiohttp.ClientWebSocketResponse
) -> None:
    await receive(ws)
    sim.faults.add(WsDisconnect(at_s=0))
    sim.exchange.process_time()
    message = await ws.receive(timeout=TIMEOUT_S)
    assert message.type in {
        aiohttp.WSMsgType.CLOSE,
        aiohttp.WSMsgType.CLOSED,
        aiohttp.WSMsgType.CLOSING,
    }


async def test_abrupt_disconnect_via_control_endpoint(
    sim: RunningSim, ws: aiohttp.ClientWebSocketResponse
) -> None:
    await receive(ws)
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{sim.control_url}/ws/disconnect", json={"abrupt": True}) as answer,
    ):
        assert answer.status == 200
    message = await ws.receive(timeout=TIMEOUT_S)
    assert message.type in {
        aiohttp.WSMsgType.CLOSE,
        aiohttp.WSMsgType.CLOSED,
        aiohttp.WSMsgType.ERROR,
    }


async def test_silence_stops_everything_including_heartbeats_until_it_ends(
    sim: RunningSim, ws: aiohttp.ClientWebSocketResponse
) -> None:
    await receive(ws)
    await subscribe(ws, "BTC/USD")
    await receive(ws)
    await receive(ws)
    sim.exchange.silence_websockets(3600)
    await ws.send_str(json.dumps({"method": "ping", "req_id": 1}))
    sim.exchange.set_price("XBTUSD", Decimal("41000"))
    with pytest.raises(TimeoutError):
        await ws.receive(timeout=0.5)
    sim.exchange.silence_websockets(0)
    assert await receive(ws) == {"channel": "heartbeat"}
