"""A 200-order batch over WS on a Starter key never trips ``EOrder:Rate limit exceeded``: the
chunks are planned from the live trading-rate budget and the client waits on the same counter.
Time is the sim's manual clock, advanced by the client's sleeper."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from actors.batch_router.batch_sizing import plan_chunks
from kraken.credentials import Credentials
from kraken.ratelimit import TRADING_LIMITS, TradingRateLimiter
from kraken.rest import KrakenRestClient
from kraken.sim import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    ManualClock,
    RunningSim,
    SimOptions,
    running_sim,
)
from kraken.ws_trading import KrakenWsTrading, WsReply
from schemas.config import KrakenConfig, KrakenTier
from schemas.orders import OrderRequest, OrderSide, OrderType

pytestmark = pytest.mark.sim

ORDERS = 200
RATE_LIMITED = "EOrder:Rate limit exceeded"
FILLING_BUY = OrderRequest(
    pair="BTC/USD",
    side=OrderSide.BUY,
    order_type=OrderType.LIMIT,
    volume=Decimal("0.001"),
    price=Decimal(100_500),
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def sim(clock: ManualClock) -> AsyncIterator[RunningSim]:
    async with running_sim(SimOptions(auto_tick=False, seed=3, clock=clock)) as running:
        running.exchange.set_price("XBTUSD", Decimal(100_000))
        yield running


@pytest.fixture
async def rest(sim: RunningSim) -> AsyncIterator[KrakenRestClient]:
    config = KrakenConfig(rest_url=sim.rest_url, tier=KrakenTier.STARTER)
    credentials = Credentials(api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET)
    async with KrakenRestClient(config, credentials=credentials) as client:
        yield client


def ws_client(
    sim: RunningSim, rest: KrakenRestClient, clock: ManualClock, limiter: TradingRateLimiter | None
) -> KrakenWsTrading:
    async def sleep_on_sim_time(seconds: float) -> None:
        clock.advance(seconds)
        await asyncio.sleep(0)

    return KrakenWsTrading(
        sim.ws_auth_url,
        rest.get_websockets_token,
        clock=clock,
        sleeper=sleep_on_sim_time,
        trading_limiter=limiter,
        seed=1,
    )


def errors(replies: list[WsReply]) -> list[str]:
    found = [reply.error for reply in replies if reply.error]
    for reply in replies:
        if reply.ok and isinstance(reply.result, list):
            found += [row["error"] for row in reply.result if row.get("success") is False]
    return found


async def test_planned_200_order_batch_never_trips_the_rate_limit(
    sim: RunningSim, rest: KrakenRestClient, clock: ManualClock
) -> None:
    limiter = TradingRateLimiter(KrakenTier.STARTER, clock)
    replies: list[WsReply] = []
    async with ws_client(sim, rest, clock, limiter) as ws:
        left = ORDERS
        while left:
            plan = plan_chunks(left, limiter.level("BTC/USD"), TRADING_LIMITS[KrakenTier.STARTER])
            sizes: list[int] = []
            for _ in range(plan.parallel):
                size = min(plan.chunk_size, left - sum(sizes))
                if size:
                    sizes.append(size)
            calls = [
                ws.batch_add("BTC/USD", [(FILLING_BUY, None)] * size)
                if size >= 2
                else ws.add_order(FILLING_BUY, symbol="BTC/USD")
                for size in sizes
            ]
            replies += await asyncio.gather(*calls)
            left -= sum(sizes)
    assert RATE_LIMITED not in errors(replies)
    assert errors(replies) == []
    assert len(sim.exchange.ledger()) == ORDERS


async def test_unplanned_200_orders_do_trip_it(
    sim: RunningSim, rest: KrakenRestClient, clock: ManualClock
) -> None:
    """The control: the same orders fired at once as singles, with no budget, are refused."""
    async with ws_client(sim, rest, clock, None) as ws:
        replies = await asyncio.gather(
            *(ws.add_order(FILLING_BUY, symbol="BTC/USD") for _ in range(ORDERS))
        )
    assert RATE_LIMITED in errors(list(replies))
