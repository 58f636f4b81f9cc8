"""The router keeps each pair's latest L2 book, usable only while fresh (issue 15, point 6)."""

from __future__ import annotations

from decimal import Decimal

from actors.batch_router.bus_ports import BusMarketView
from actors.batch_router.shell import BatchRouterActor
from bus.subjects import Subjects
from schemas import GalFridayConfig
from schemas.events import BookLevel, BookUpdated
from tests.support.batch_router_doubles import FakeClock

THRESHOLD_NS = 30 * 10**9


def book(pair: str = "BTC/USD", ask: str = "101") -> BookUpdated:
    return BookUpdated(
        ts_event=1,
        ts_init=1,
        pair=pair,
        bids=(BookLevel(Decimal(99), Decimal(1)),),
        asks=(BookLevel(Decimal(ask), Decimal(1)),),
        mid=Decimal(100),
        spread=Decimal(2),
        checksum=0,
    )


def test_the_latest_book_of_a_pair_is_read_while_fresh() -> None:
    clock = FakeClock()
    market = BusMarketView(clock, THRESHOLD_NS)
    assert market.book("BTC/USD") is None
    market.on_book(book(ask="101"))
    market.on_book(book(ask="102"))
    assert market.book("BTC/USD") == book(ask="102")
    assert market.book("ETH/USD") is None


def test_a_book_older_than_the_staleness_threshold_is_not_used_until_a_new_one_arrives() -> None:
    clock = FakeClock()
    market = BusMarketView(clock, THRESHOLD_NS)
    market.on_book(book())
    clock.now_ns += THRESHOLD_NS
    assert market.book("BTC/USD") == book()
    clock.now_ns += 1
    assert market.book("BTC/USD") is None
    assert market.book("BTC/USD") is None  # freshness is state: reading twice says the same
    market.on_book(book(ask="103"))
    assert market.book("BTC/USD") == book(ask="103")


def test_the_router_subscribes_to_every_pair_s_book_declaring_book_updated() -> None:
    subjects = Subjects("gf")
    actor = BatchRouterActor(config=GalFridayConfig())
    declared = {s.subject: s.accepts for s in actor.subscriptions(subjects)}
    assert declared.get(subjects.book_all()) == (BookUpdated,)
