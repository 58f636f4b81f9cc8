"""The market-data actor against a real nats-server and the simulated Kraken exchange:
WS quotes to NATS, REST fallback, staleness, query coalescing, breakers and exchange status."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal

import msgspec
import pytest
import pytest_asyncio
from nats.aio.client import Client
from nats.aio.msg import Msg

from actors.market_data.shell import MarketDataActor, build_actor
from bus import ActorRunner, Subjects, encode
from bus.codec import EVENTS, MESSAGES
from bus.jetstream import BREAKERS_BUCKET, ensure_key_value
from kraken.sim import RunningSim, SimOptions, running_sim
from kraken.ws import TickerUpdate
from schemas import GalFridayConfig
from schemas.base import Event, Message
from schemas.events import (
    BreakerState,
    CircuitBreakerStateChanged,
    ExchangeStatus,
    ExchangeStatusChanged,
    KrakenCallSucceeded,
    PriceSource,
    PriceStale,
    PriceUpdated,
)
from schemas.queries import PriceQuery, PriceQueryReply
from tests.support.waiting import eventually

pytestmark = [pytest.mark.nats, pytest.mark.sim]

STREAMED = ("BTC/USD", "ETH/USD")
ON_DEMAND = "SOL/USD"
"""Configured but not streamed: its cache is cold until a query fetches it."""
STALENESS_S = 0.4


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with running_sim(SimOptions(tick_interval_s=0.05, heartbeat_interval_s=0.2)) as running:
        yield running


@pytest.fixture
def config(bus_config: GalFridayConfig, sim: RunningSim) -> GalFridayConfig:
    kraken = msgspec.structs.replace(
        bus_config.kraken,
        rest_url=sim.rest_url,
        ws_url=sim.ws_url,
        ws_silence_timeout_s=0.5,
        request_timeout_s=3.0,
    )
    market_data = msgspec.structs.replace(
        bus_config.market_data,
        pairs=(*STREAMED, ON_DEMAND),
        cache_ttl_seconds=30.0,
        staleness_threshold_seconds=STALENESS_S,
        rest_poll_interval_s=0.3,
        status_poll_interval_s=5.0,
        holiday_calendars=(),
    )
    return msgspec.structs.replace(bus_config, kraken=kraken, market_data=market_data)


def new_actor() -> MarketDataActor:
    return MarketDataActor(
        feed_pairs=STREAMED,
        tick_interval_s=0.05,
        ws_backoff_base_s=0.1,
        ws_backoff_cap_s=0.5,
        preload_holidays=False,
    )


@asynccontextmanager
async def running(config: GalFridayConfig) -> AsyncIterator[MarketDataActor]:
    actor = new_actor()
    async with ActorRunner(actor, config):
        yield actor


async def collect(client: Client, subject: str) -> list[Event]:
    """Every event published on ``subject`` from now on, decoded, in arrival order."""
    received: list[Event] = []

    async def on_message(msg: Msg) -> None:
        received.append(EVENTS.decode(msg.data))

    await client.subscribe(subject, cb=on_message)
    await client.flush()
    return received


async def ask(client: Client, subject: str, query: Message) -> Message:
    reply = await client.request(subject, encode(query), timeout=10)
    return MESSAGES.decode(reply.data)


async def ask_price(client: Client, subjects: Subjects, pair: str) -> PriceQueryReply:
    reply = await ask(client, subjects.price_query(), PriceQuery(pair=pair))
    assert isinstance(reply, PriceQueryReply)
    return reply


def quotes(events: list[Event], source: PriceSource | None = None) -> list[PriceUpdated]:
    return [
        e for e in events if isinstance(e, PriceUpdated) and (source is None or e.source is source)
    ]


def ws_live(actor: MarketDataActor) -> Callable[[], bool]:
    return lambda: actor.service.ws_connected and not actor.stats()["rest_polling"]


async def test_sim_price_move_reaches_a_nats_subscriber_as_a_ws_quote(
    config: GalFridayConfig, sim: RunningSim, client: Client, subject_root: str
) -> None:
    subjects = Subjects(subject_root)
    received = await collect(client, subjects.price("BTC/USD"))
    async with running(config) as actor:
        await eventually(ws_live(actor))
        target = Decimal(50_000)
        sim.exchange.set_price("BTC/USD", target)

        def moved() -> bool:
            return any(abs(q.bid - target) < target / 100 for q in quotes(received, PriceSource.WS))

        await eventually(moved)
    quote = next(q for q in quotes(received, PriceSource.WS) if abs(q.bid - target) < 500)
    assert quote.pair == "BTC/USD"
    assert quote.bid <= quote.ask
    assert quote.exchange_ts_ns is not None


async def test_ws_silence_switches_to_rest_polling_and_back_to_ws_when_it_recovers(
    config: GalFridayConfig, sim: RunningSim, client: Client, subject_root: str
) -> None:
    subjects = Subjects(subject_root)
    received = await collect(client, subjects.price("ETH/USD"))
    async with running(config) as actor:
        await eventually(ws_live(actor))
        sim.exchange.silence_websockets(30)
        await eventually(lambda: not actor.service.ws_connected)
        mark = len(received)
        await eventually(lambda: len(quotes(received[mark:], PriceSource.REST)) >= 2)
        sim.exchange.silence_websockets(0)
        await eventually(lambda: actor.service.ws_connected)
        back = len(received)
        await eventually(lambda: len(quotes(received[back:], PriceSource.WS)) >= 1)
        assert actor.health()["reconnects"] >= 1


async def test_pair_without_quotes_produces_exactly_one_price_stale(
    config: GalFridayConfig, client: Client, subject_root: str
) -> None:
    subjects = Subjects(subject_root)
    received = await collect(client, subjects.stale_all())
    async with running(config) as actor:
        await eventually(lambda: any(isinstance(e, PriceStale) for e in received))
        # Several more staleness periods pass: the pair must not be reported again.
        await asyncio.sleep(STALENESS_S * 4)
        assert actor.service.is_stale(ON_DEMAND)
    stale = [e for e in received if isinstance(e, PriceStale)]
    assert [e.pair for e in stale] == [ON_DEMAND]


async def test_fifty_concurrent_queries_for_a_cold_pair_make_one_rest_ticker_call(
    config: GalFridayConfig, sim: RunningSim, client: Client, subject_root: str
) -> None:
    subjects = Subjects(subject_root)
    async with running(config) as actor:
        await eventually(ws_live(actor))
        before = sim.exchange.request_counts().get("Ticker", 0)
        replies = await asyncio.gather(*(ask_price(client, subjects, ON_DEMAND) for _ in range(50)))
        after = sim.exchange.request_counts().get("Ticker", 0)
    assert after - before == 1
    assert all(r.quote is not None and r.quote.pair == ON_DEMAND for r in replies)
    assert all(r.quote is not None and r.quote.source is PriceSource.REST for r in replies)
    assert not any(r.stale for r in replies)


async def test_public_breaker_open_in_kv_means_no_rest_call_and_stale_replies(
    config: GalFridayConfig, sim: RunningSim, client: Client, subject_root: str
) -> None:
    subjects = Subjects(subject_root)
    store = await ensure_key_value(client.jetstream(), subjects.bucket_name(BREAKERS_BUCKET))
    await store.put("kraken.public", encode(_public_breaker(BreakerState.OPEN)))
    async with running(config) as actor:
        await eventually(ws_live(actor))
        sim.exchange.silence_websockets(30)
        await eventually(lambda: not actor.service.ws_connected)
        reply = await ask_price(client, subjects, ON_DEMAND)
        # A few REST poll periods pass with the WebSocket down.
        await asyncio.sleep(1.0)
        health = actor.health()
    assert reply.stale
    assert reply.quote is None
    assert reply.error is not None
    assert "breaker" in reply.error
    assert health["breakers"] == {"kraken.public": "open"}
    assert set(sim.exchange.request_counts()) <= {"ws"}


async def test_public_breaker_opened_on_the_bus_stops_rest_fetches(
    config: GalFridayConfig, sim: RunningSim, client: Client, subject_root: str
) -> None:
    subjects = Subjects(subject_root)
    async with running(config) as actor:
        await eventually(ws_live(actor))
        await client.publish(
            subjects.breaker("kraken.public"), encode(_public_breaker(BreakerState.OPEN))
        )
        await eventually(lambda: not actor.service.rest_allowed)
        before = sim.exchange.request_counts()
        reply = await ask_price(client, subjects, ON_DEMAND)
        after = sim.exchange.request_counts()
    assert reply.stale
    assert reply.quote is None
    assert after.get("Ticker", 0) == before.get("Ticker", 0)


async def test_maintenance_status_on_the_sim_produces_exchange_status_changed(
    config: GalFridayConfig, sim: RunningSim, client: Client, subject_root: str
) -> None:
    subjects = Subjects(subject_root)
    received = await collect(client, subjects.exchange_status())
    async with running(config) as actor:
        await eventually(ws_live(actor))
        sim.exchange.set_status("maintenance")

        def maintenance() -> list[ExchangeStatusChanged]:
            return [
                e
                for e in received
                if isinstance(e, ExchangeStatusChanged) and e.status is ExchangeStatus.MAINTENANCE
            ]

        await eventually(lambda: bool(maintenance()))
    change = maintenance()[0]
    assert change.exchange == "kraken"
    assert not change.can_place


async def test_malformed_ticker_is_rejected_with_a_reason_and_leaves_the_cache_intact(
    config: GalFridayConfig, client: Client, subject_root: str
) -> None:
    subjects = Subjects(subject_root)
    received = await collect(client, subjects.price("BTC/USD"))
    async with running(config) as actor:
        await eventually(lambda: bool(quotes(received, PriceSource.WS)))
        crossed_bid = Decimal(999_999)
        await actor.handle_ws_update(_crossed_ticker("BTC/USD", crossed_bid))
        reply = await ask_price(client, subjects, "BTC/USD")
        health = actor.health()
    assert health["rejected_quotes"] == {"crossed": 1}
    assert reply.quote is not None
    assert reply.quote.bid < crossed_bid
    assert reply.quote.bid <= reply.quote.ask
    assert all(q.bid != crossed_bid for q in quotes(received))


async def test_query_for_an_unknown_pair_is_refused_without_a_rest_call(
    config: GalFridayConfig, sim: RunningSim, client: Client, subject_root: str
) -> None:
    subjects = Subjects(subject_root)
    async with running(config) as actor:
        await eventually(ws_live(actor))
        before = sim.exchange.request_counts().get("Ticker", 0)
        reply = await ask_price(client, subjects, "DOGE/EUR")
        after = sim.exchange.request_counts().get("Ticker", 0)
        still_answers = await ask_price(client, subjects, "BTC/USD")
    assert reply.quote is None
    assert reply.error is not None
    assert "unknown pair" in reply.error
    assert after == before
    assert still_answers.quote is not None


async def test_ws_breaker_open_in_kv_keeps_the_socket_closed_and_prices_come_from_rest(
    config: GalFridayConfig, sim: RunningSim, client: Client, subject_root: str
) -> None:
    subjects = Subjects(subject_root)
    store = await ensure_key_value(client.jetstream(), subjects.bucket_name(BREAKERS_BUCKET))
    await store.put("kraken.ws", encode(_breaker("kraken.ws", BreakerState.OPEN)))
    received = await collect(client, subjects.price("BTC/USD"))
    async with running(config):
        await eventually(lambda: len(quotes(received, PriceSource.REST)) >= 2)
    assert quotes(received, PriceSource.WS) == []
    assert "ws" not in sim.exchange.request_counts()


async def test_kraken_calls_are_reported_durably_on_the_bus(
    config: GalFridayConfig, client: Client, subject_root: str
) -> None:
    subjects = Subjects(subject_root)
    received = await collect(client, subjects.kraken_calls_all())
    async with running(config) as actor:
        await eventually(ws_live(actor))

        def reported() -> set[str]:
            return {e.endpoint for e in received if isinstance(e, KrakenCallSucceeded)}

        await eventually(lambda: {"SystemStatus", "ws.connect"} <= reported())
    stream = await client.jetstream().stream_info(subjects.stream_name("kraken"))
    assert stream.state.messages >= 2


async def test_health_endpoint_reports_feed_and_ws_counters(
    config: GalFridayConfig, client: Client, subject_root: str
) -> None:
    subjects = Subjects(subject_root)
    async with running(config) as actor:
        await eventually(ws_live(actor))
        answer = await client.request(
            subjects.service_endpoint("market-data", "health"), b"", timeout=10
        )
    health = json.loads(answer.data)
    assert health["ws_connected"] is True
    assert health["ws"]["connects"] >= 1
    assert health["feed"]["feed_pairs"] == list(STREAMED)
    assert set(health["pairs"]) == {*STREAMED, ON_DEMAND}


def test_build_actor_returns_the_market_data_actor() -> None:
    """The CLI factory builds the actor the runner names ``market-data``."""
    actor = build_actor(GalFridayConfig())
    assert isinstance(actor, MarketDataActor)
    assert actor.name == "market-data"


def _public_breaker(state: BreakerState) -> CircuitBreakerStateChanged:
    return _breaker("kraken.public", state)


def _breaker(scope: str, state: BreakerState) -> CircuitBreakerStateChanged:
    return CircuitBreakerStateChanged(
        ts_event=1,
        ts_init=1,
        scope=scope,
        state=state,
        previous=BreakerState.CLOSED,
        reason="test",
        since_ns=1,
    )


def _crossed_ticker(symbol: str, bid: Decimal) -> TickerUpdate:
    return TickerUpdate(
        symbol=symbol,
        bid=bid,
        bid_qty=Decimal(1),
        ask=bid - 1,
        ask_qty=Decimal(1),
        last=bid,
        volume=Decimal(10),
        vwap=bid,
        low=bid,
        high=bid,
        change=Decimal(0),
        change_pct=Decimal(0),
    )


async def test_classifier_snapshots_in_the_breaker_bucket_are_not_warned_about(
    config: GalFridayConfig, sim: RunningSim, client: Client, subject_root: str
) -> None:
    """Issue 11, point 7: a bucket written before snapshots had their own bucket still holds
    ``snapshot.*`` keys; market-data skips them instead of warning at every status poll."""
    subjects = Subjects(subject_root)
    store = await ensure_key_value(client.jetstream(), subjects.bucket_name(BREAKERS_BUCKET))
    await store.put("snapshot.kraken.public", b"\x82\xaawritten_ns\x01\xa8snapshot\xc0")
    await store.put("kraken.public", encode(_public_breaker(BreakerState.CLOSED)))
    async with running(config) as actor:
        await eventually(
            lambda: actor.service.breaker_state("kraken.public") is BreakerState.CLOSED
        )
        stats = actor.stats()
    assert "breaker_kv_undecodable" not in stats
