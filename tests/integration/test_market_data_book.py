"""The market-data actor's L2 book against the simulated exchange and a real nats-server:
``BookUpdated`` on ``md.book.<PAIR>``, and a resubscribe-and-rebuild after one corrupted update."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import msgspec
import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client
from nats.aio.msg import Msg

from actors.market_data.shell import MarketDataActor
from bus import ActorRunner, Subjects
from bus.codec import EVENTS
from kraken.sim import RunningSim, SimOptions, running_sim
from schemas import GalFridayConfig
from schemas.base import Event
from schemas.config import BookConfig
from schemas.events import BookUpdated
from tests.support.waiting import eventually

pytestmark = [pytest.mark.nats, pytest.mark.sim]


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    options = SimOptions(auto_tick=False, heartbeat_interval_s=0.2)
    async with running_sim(options) as running:
        running.exchange.set_price("XBTUSD", Decimal("50000.0"))
        yield running


@pytest_asyncio.fixture
async def client(bus_config: GalFridayConfig) -> AsyncIterator[Client]:
    connection = await nats.connect(bus_config.nats.url)
    yield connection
    await connection.drain()


@pytest.fixture
def config(bus_config: GalFridayConfig, sim: RunningSim) -> GalFridayConfig:
    kraken = msgspec.structs.replace(
        bus_config.kraken, rest_url=sim.rest_url, ws_url=sim.ws_url, ws_silence_timeout_s=2.0
    )
    market_data = msgspec.structs.replace(
        bus_config.market_data,
        pairs=("BTC/USD",),
        holiday_calendars=(),
        book=BookConfig(depth=25, top_n=5, min_interval_s=0),
    )
    return msgspec.structs.replace(bus_config, kraken=kraken, market_data=market_data)


async def collect(client: Client, subject: str) -> list[Event]:
    received: list[Event] = []

    async def on_message(msg: Msg) -> None:
        received.append(EVENTS.decode(msg.data))

    await client.subscribe(subject, cb=on_message)
    await client.flush()
    return received


def books(events: list[Event]) -> list[BookUpdated]:
    return [e for e in events if isinstance(e, BookUpdated)]


async def test_book_updates_reach_nats_and_a_corrupted_update_triggers_a_rebuild(
    config: GalFridayConfig, sim: RunningSim, client: Client, subject_root: str
) -> None:
    subjects = Subjects(subject_root)
    received = await collect(client, subjects.book("BTC/USD"))
    actor = MarketDataActor(feed_pairs=("BTC/USD",), preload_holidays=False)
    async with ActorRunner(actor, config):
        await eventually(lambda: len(books(received)) >= 1, timeout=10)
        first = books(received)[-1]
        assert first.pair == "BTC/USD"
        assert len(first.asks) == len(first.bids) == 5
        assert first.asks[0].price == Decimal("50000.1")
        assert first.mid == Decimal("50000.05")

        sim.exchange.book_checksum_faults = 1
        sim.exchange.set_price("XBTUSD", Decimal("50100.0"))  # this update arrives corrupted
        await eventually(lambda: actor.health()["book"]["resyncs"]["BTC/USD"] == 1, timeout=10)
        # The resubscription's snapshot rebuilds the book at the new price.
        await eventually(
            lambda: (
                books(received)[-1].resyncs == 1
                and books(received)[-1].asks[0].price == Decimal("50100.1")
            ),
            timeout=10,
        )
        sim.exchange.set_price("XBTUSD", Decimal("50200.0"))
        await eventually(lambda: books(received)[-1].bids[0].price == Decimal("50200.0"))
        top = sim.exchange.books["XXBTZUSD"].bids[0]
        assert books(received)[-1].bids[0].qty == top.qty
        health = actor.health()["book"]
        assert health["checksum_failures"] == 1
        assert health["synced"] == {"BTC/USD": True}
        cached = actor.service.cache.books["BTC/USD"]
        assert cached.mid == Decimal("50200.05")
        assert cached.spread == Decimal("0.1")
