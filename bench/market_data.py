"""Market data: PriceUpdated events/s the actor sustains from a fast sim feed, and the REST-call
reduction of the price cache for 10 askers x 5 pairs x 10 Hz at TTL 1 s, measured in one run."""

from __future__ import annotations

import asyncio
import sys
import time
from decimal import Decimal

import msgspec
import nats

from actors.market_data.shell import MarketDataActor
from bus import ActorRunner, Subjects, encode
from bus.codec import MESSAGES
from kraken.sim import SimOptions, running_sim
from kraken.ws import TickerUpdate
from schemas import (
    GalFridayConfig,
    KrakenConfig,
    MarketDataConfig,
    NatsConfig,
    PriceQuery,
    PriceQueryReply,
)
from tests.support.nats_server import running_nats_server

PAIRS = ("BTC/USD", "ETH/USD", "SOL/USD", "BTC/USDT", "ETH/BTC")
FEED_SECONDS = 5.0
ASKERS = 10
QUERY_HZ = 10
QUERY_SECONDS = 10.0
TTL_S = 1.0
PIPELINE_UPDATES = 20_000


def _config(nats_url: str, root: str, rest_url: str, ws_url: str) -> GalFridayConfig:
    market_data = MarketDataConfig(
        pairs=PAIRS, cache_ttl_seconds=TTL_S, holiday_calendars=(), rest_poll_interval_s=1.0
    )
    return msgspec.structs.replace(
        GalFridayConfig(),
        nats=NatsConfig(url=nats_url, subject_root=root),
        kraken=KrakenConfig(rest_url=rest_url, ws_url=ws_url),
        market_data=market_data,
    )


async def _feed_rate(nats_url: str) -> tuple[float, float]:
    """Published PriceUpdated/s with the sim ticking every millisecond, and the share of the
    sim's updates that came out of the actor."""
    async with running_sim(SimOptions(seed=5, tick_interval_s=0.001)) as sim:
        config = _config(nats_url, "benchmdfeed", sim.rest_url, sim.ws_url)
        client = await nats.connect(nats_url)
        received = 0

        async def count(msg: object) -> None:
            nonlocal received
            received += 1

        await client.subscribe(Subjects("benchmdfeed").price_all(), cb=count)
        actor = MarketDataActor(preload_holidays=False)
        async with ActorRunner(actor, config):
            await asyncio.sleep(2.0)  # connect, subscribe, snapshot
            start_count, start_messages = received, actor.health()["ws"]["messages"]
            started = time.perf_counter()
            await asyncio.sleep(FEED_SECONDS)
            elapsed = time.perf_counter() - started
            published = received - start_count
            messages = actor.health()["ws"]["messages"] - start_messages
        await client.close()
    return published / elapsed, published / max(messages, 1)


async def _pipeline_capacity(nats_url: str) -> float:
    """Ticker updates/s through the actor itself (validation, cache, volatility, publish),
    handed in directly so the sim's own push rate is not the limit."""
    async with running_sim(SimOptions(seed=5)) as sim:
        config = _config(nats_url, "benchmdpipe", sim.rest_url, sim.ws_url)
        actor = MarketDataActor(feed_pairs=(), preload_holidays=False)
        async with ActorRunner(actor, config):
            updates = []
            for index in range(PIPELINE_UPDATES):
                price = Decimal(100_000) + Decimal(index % 500) / 10
                second, nanos = divmod(index * 1_000_000, 1_000_000_000)
                updates.append(
                    TickerUpdate(
                        symbol=PAIRS[index % len(PAIRS)], bid=price, bid_qty=Decimal(1),
                        ask=price + 1, ask_qty=Decimal(1), last=price, volume=Decimal(10),
                        vwap=price, low=price, high=price, change=Decimal(0),
                        change_pct=Decimal(0),
                        timestamp=f"2026-11-25T10:{second // 60:02d}:{second % 60:02d}."
                        f"{nanos // 1000:06d}Z",
                    )
                )  # fmt: skip
            started = time.perf_counter()
            for update in updates:
                await actor.handle_ws_update(update)
            elapsed = time.perf_counter() - started
            published = actor.stats().get("published_PriceUpdated", 0)
        if published < PIPELINE_UPDATES:
            raise RuntimeError(f"only {published} of {PIPELINE_UPDATES} updates were published")
    return PIPELINE_UPDATES / elapsed


async def _cache_reduction(nats_url: str) -> tuple[int, int, int, float]:
    """Queries answered, REST Ticker calls that reached the sim, stale-flagged answers, and the
    oldest unflagged answer's age in seconds (no WebSocket: every refresh is a REST fetch)."""
    async with running_sim(SimOptions(seed=5)) as sim:
        config = _config(nats_url, "benchmdcache", sim.rest_url, sim.ws_url)
        client = await nats.connect(nats_url)
        subject = Subjects("benchmdcache").price_query()
        actor = MarketDataActor(feed_pairs=(), preload_holidays=False)
        answered = stale = 0
        oldest_fresh_ns = 0
        async with ActorRunner(actor, config):
            before = sim.exchange.request_counts().get("Ticker", 0)

            async def asker(pair: str, phase: float) -> None:
                nonlocal answered, stale, oldest_fresh_ns
                await asyncio.sleep(phase)
                deadline = time.perf_counter() + QUERY_SECONDS
                while time.perf_counter() < deadline:
                    tick = time.perf_counter()
                    reply = await client.request(subject, encode(PriceQuery(pair=pair)), timeout=5)
                    decoded = MESSAGES.decode(reply.data)
                    if not isinstance(decoded, PriceQueryReply) or decoded.quote is None:
                        raise RuntimeError(f"no quote for {pair}: {decoded}")
                    answered += 1
                    if decoded.stale:
                        stale += 1
                    else:
                        oldest_fresh_ns = max(oldest_fresh_ns, decoded.age_ns or 0)
                    await asyncio.sleep(max(0.0, 1 / QUERY_HZ - (time.perf_counter() - tick)))

            await asyncio.gather(
                *(
                    asker(pair, (index * len(PAIRS) + offset) / (ASKERS * len(PAIRS) * QUERY_HZ))
                    for index in range(ASKERS)
                    for offset, pair in enumerate(PAIRS)
                )
            )
            rest_calls = sim.exchange.request_counts().get("Ticker", 0) - before
        await client.close()
    return answered, rest_calls, stale, oldest_fresh_ns / 1e9


async def main_async(nats_url: str) -> dict[str, float]:
    rate, share = await _feed_rate(nats_url)
    capacity = await _pipeline_capacity(nats_url)
    answered, rest_calls, stale, oldest = await _cache_reduction(nats_url)
    print("market data")
    print(f"  PriceUpdated published from the sim feed : {rate:10,.0f} /s "
          f"({share:.1%} of the sim's WS messages)")  # fmt: skip
    print(f"  actor pipeline capacity (updates handed in directly): {capacity:10,.0f} /s")
    print(f"  price queries ({ASKERS} askers x {len(PAIRS)} pairs x {QUERY_HZ} Hz, "
          f"{QUERY_SECONDS:.0f} s, TTL {TTL_S:.0f} s): {answered} answered, "
          f"{rest_calls} REST Ticker calls")  # fmt: skip
    print(f"  REST-call reduction by the cache       : {1 - rest_calls / answered:10.1%} "
          f"(goal >= 95%)")  # fmt: skip
    print(f"  answers flagged stale: {stale}; oldest unflagged answer: {oldest:.3f} s "
          f"(must be <= TTL {TTL_S:.0f} s)")  # fmt: skip
    return {
        "feed_price_updates_per_s": round(rate),
        "pipeline_updates_per_s": round(capacity),
        "cache_rest_call_reduction_pct": round(100 * (1 - rest_calls / answered), 2),
        "answers_flagged_stale": stale,
        "oldest_unflagged_answer_s": round(oldest, 3),
    }


def figures() -> dict[str, float]:
    """This bench's figures (printed as it always did) for ``bench.run_all``."""
    with running_nats_server() as server:
        return asyncio.run(main_async(server.url))


def main() -> int:
    figures()
    return 0


if __name__ == "__main__":
    sys.exit(main())
