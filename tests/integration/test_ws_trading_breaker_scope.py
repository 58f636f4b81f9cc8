"""The trading socket has its own breaker scope, ``kraken.ws_trading``: its failures open that
breaker (placements move to REST) and never market-data's ``kraken.ws`` (which would move price
feeds to REST polling); its (re)connects and ping probes close it again."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from actors.error_classifier import KrakenErrorClassifier
from kraken.credentials import Credentials
from kraken.rest import KrakenRestClient
from kraken.sim import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    LatencyFault,
    RunningSim,
    SimOptions,
    running_sim,
)
from kraken.ws_trading import WS_TRADING_SCOPE, KrakenWsTrading
from schemas.config import KrakenConfig, KrakenTier
from schemas.events import BreakerState, KrakenCallFailed, KrakenCallSucceeded
from schemas.orders import OrderRequest, OrderSide, OrderType
from tests.support.waiting import eventually

pytestmark = pytest.mark.sim

Report = KrakenCallSucceeded | KrakenCallFailed


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with running_sim(SimOptions(auto_tick=False, seed=11)) as running:
        running.exchange.set_price("XBTUSD", Decimal(100_000))
        yield running


@pytest.fixture
async def rest(sim: RunningSim) -> AsyncIterator[KrakenRestClient]:
    config = KrakenConfig(rest_url=sim.rest_url, tier=KrakenTier.PRO)
    credentials = Credentials(api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET)
    async with KrakenRestClient(config, credentials=credentials) as client:
        yield client


def _order() -> OrderRequest:
    return OrderRequest(
        pair="BTC/USD",
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        volume=Decimal("0.01"),
        price=Decimal(90_000),
    )


async def test_trading_socket_failures_open_its_own_breaker_not_market_datas(
    sim: RunningSim, rest: KrakenRestClient
) -> None:
    reports: list[Report] = []
    sim.faults.add(LatencyFault(endpoints=("AddOrder",), ms=500))
    async with KrakenWsTrading(
        sim.ws_auth_url, rest.get_websockets_token, on_call=reports.append, seed=1
    ) as ws:
        for _ in range(3):
            before = sim.exchange.request_counts().get("ws:add_order", 0)
            placing = asyncio.create_task(ws.add_order(_order(), symbol="BTC/USD"))
            await eventually(
                lambda before=before: sim.exchange.request_counts().get("ws:add_order", 0) > before,
                5.0,
            )
            sim.exchange.disconnect_websockets()
            reply = await placing
            assert reply.outcome_unknown, reply
            await eventually(lambda: ws.connected, 5.0)
    failures = [r for r in reports if isinstance(r, KrakenCallFailed)]
    assert failures
    assert {f.scope for f in failures} == {WS_TRADING_SCOPE}
    assert WS_TRADING_SCOPE == "kraken.ws_trading"

    classifier = KrakenErrorClassifier(clock=time.time_ns, rng=random.Random(1))
    for report in reports:
        if isinstance(report, KrakenCallFailed):
            classifier.on_call_failed(report)
        else:
            classifier.on_call_succeeded(report)
    assert classifier.breaker_state("kraken.ws_trading") is BreakerState.OPEN
    assert classifier.breaker_state("kraken.ws") is BreakerState.CLOSED
    assert classifier.breaker_state("kraken.trading") is BreakerState.CLOSED


async def test_connects_and_pings_are_reported_under_the_trading_socket_scope(
    sim: RunningSim, rest: KrakenRestClient
) -> None:
    reports: list[Report] = []
    async with KrakenWsTrading(
        sim.ws_auth_url, rest.get_websockets_token, on_call=reports.append, seed=1
    ) as ws:
        reply = await ws.ping(probe=True)
    assert reply.ok, reply
    connect, ping = reports
    assert isinstance(connect, KrakenCallSucceeded)
    assert (connect.scope, connect.endpoint) == (WS_TRADING_SCOPE, "ws.connect")
    assert isinstance(ping, KrakenCallSucceeded)
    assert (ping.scope, ping.endpoint, ping.probe) == (WS_TRADING_SCOPE, "ws.ping", True)
