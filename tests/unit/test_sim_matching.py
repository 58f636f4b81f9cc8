"""The simulator matching engine: orders walk the synthetic book; partial and resting fills."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from kraken.sim import ManualClock, SimExchange
from kraken.sim.auth import ApiCredential
from kraken.sim.book import BookProfile
from kraken.sim.exchange import Account
from kraken.sim.orders import SimOrder, parse_order
from kraken.sim.pairs import find_pair
from schemas.config import KrakenTier

# XBTUSD: ordermin 0.00005, so level sizes are 0.05..0.1 BTC.
SMALL_BOOK = BookProfile(levels=5, size_min=1000, size_max=2000)
SPEC = find_pair("XBTUSD")
assert SPEC is not None


def make_exchange(profile: BookProfile = SMALL_BOOK, seed: int = 3) -> SimExchange:
    exchange = SimExchange(
        seed=seed,
        clock=ManualClock(),
        tier=KrakenTier.STARTER,
        credentials=[ApiCredential("key", "c2VjcmV0")],
        book_profile=profile,
    )
    exchange.set_price("XBTUSD", Decimal("50000.0"))
    return exchange


def place(exchange: SimExchange, **params: Any) -> SimOrder:
    assert SPEC is not None
    quote = exchange.quote("XBTUSD")
    intent = parse_order(
        {"type": "buy", "ordertype": "limit", **params},
        SPEC,
        quote.ask,
        exchange.clock(),
        last_price=quote.last,
    )
    return exchange.place(account(exchange), intent)


def account(exchange: SimExchange) -> Account:
    return exchange.account()


def trades_of(exchange: SimExchange, order: SimOrder) -> list[Any]:
    return [exchange.matcher.trades[trade_id] for trade_id in order.trade_ids]


def test_market_buy_walks_levels_with_one_trade_and_one_fee_per_level() -> None:
    exchange = make_exchange()
    asks = [(level.price, level.qty) for level in exchange.books["XXBTZUSD"].asks]
    volume = asks[0][1] + asks[1][1] + asks[2][1] / 2
    order = place(exchange, ordertype="market", volume=str(volume))
    trades = trades_of(exchange, order)
    assert [(t.price, t.volume) for t in trades] == [asks[0], asks[1], (asks[2][0], asks[2][1] / 2)]
    assert order.status == "closed"
    assert order.vol_exec == volume
    assert order.average_price() == sum(t.price * t.volume for t in trades) / volume
    assert order.average_price() > asks[0][0]  # slippage beyond the touch
    assert [t.fee for t in trades] == [t.price * t.volume * Decimal("0.004") for t in trades]
    assert order.fee == sum(t.fee for t in trades)
    # What was taken is gone from the book until the next move.
    assert exchange.books["XXBTZUSD"].asks[0].price == asks[2][0]


def test_crossing_limit_fills_partly_then_rests_with_vol_exec_below_vol() -> None:
    exchange = make_exchange()
    asks = [(level.price, level.qty) for level in exchange.books["XXBTZUSD"].asks]
    limit = asks[1][0]
    volume = asks[0][1] + asks[1][1] + Decimal("0.5")
    order = place(exchange, volume=str(volume), price=str(limit))
    assert order.status == "open"
    assert order.vol_exec == asks[0][1] + asks[1][1] < order.intent.volume
    json = order.to_json(with_trades=True)
    assert json["reason"] is None
    assert json["misc"] == "partial"
    assert len(json["trades"]) == 2
    held = exchange.held("key", "ZUSD")
    assert held == Decimal("0.5") * limit * Decimal("1.004")
    # The market comes down through the order: the rest fills at its own price, as a maker.
    exchange.set_price("XBTUSD", limit - 100)
    maker = trades_of(exchange, order)[2:]
    assert all(t.maker and t.price == limit for t in maker)
    assert maker
    assert order.vol_exec > asks[0][1] + asks[1][1]
    assert order.vol_exec == sum(t.volume for t in trades_of(exchange, order))


def test_resting_order_fills_over_several_moves_when_little_crosses_it() -> None:
    exchange = make_exchange(BookProfile(levels=1, size_min=1000, size_max=1000))  # 0.05 BTC
    order = place(exchange, volume="0.12", price="49000.0")
    assert order.vol_exec == 0
    for _ in range(3):
        exchange.set_price("XBTUSD", Decimal("48000.0"))
    assert [t.volume for t in trades_of(exchange, order)] == [
        Decimal("0.05"),
        Decimal("0.05"),
        Decimal("0.02"),
    ]
    assert order.status == "closed"
    assert order.average_price() == Decimal("49000.0")


def test_ioc_remainder_is_cancelled_after_partial_fill() -> None:
    exchange = make_exchange()
    asks = exchange.books["XXBTZUSD"].asks
    top_price, top_qty = asks[0].price, asks[0].qty
    order = place(exchange, volume=str(top_qty + 1), price=str(top_price), timeinforce="IOC")
    assert (order.status, order.reason, order.vol_exec) == ("canceled", "Unfilled IOC", top_qty)
    assert order.to_json()["misc"] == "partial"
    assert exchange.held("key", "ZUSD") == 0


def test_market_order_larger_than_the_book_fills_what_there_is_and_cancels_the_rest() -> None:
    exchange = make_exchange()
    depth = sum((level.qty for level in exchange.books["XXBTZUSD"].bids), Decimal(0))
    order = place(exchange, type="sell", ordertype="market", volume="2")
    assert order.vol_exec == depth
    assert order.status == "canceled"
    assert exchange.books["XXBTZUSD"].bids == []


def test_infinite_profile_keeps_the_old_fill_at_the_touch() -> None:
    exchange = make_exchange(BookProfile.infinite())
    order = place(exchange, ordertype="market", volume="5")
    assert [t.price for t in trades_of(exchange, order)] == [Decimal("50000.1")]


def test_next_price_move_rebuilds_the_book_from_the_path() -> None:
    exchange = make_exchange()
    place(exchange, ordertype="market", volume="0.2")
    exchange.set_price("XBTUSD", Decimal("50100.0"))
    book = exchange.books["XXBTZUSD"]
    assert len(book.asks) == 5
    assert book.asks[0].price == Decimal("50100.1")
    quote = exchange.quote("XBTUSD")
    assert quote.ask_qty == book.asks[0].qty


@pytest.mark.parametrize("seed", [1, 2])
def test_same_seed_same_book(seed: int) -> None:
    first, second = make_exchange(seed=seed), make_exchange(seed=seed)
    assert [lv.qty for lv in first.books["XXBTZUSD"].asks] == [
        lv.qty for lv in second.books["XXBTZUSD"].asks
    ]
