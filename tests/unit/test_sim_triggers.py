"""Trigger orders in the simulator: each type triggering and not, relative prices, references."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from kraken.sim import ManualClock, SimError, SimExchange
from kraken.sim.auth import ApiCredential
from kraken.sim.orders import SimOrder, parse_order
from kraken.sim.pairs import find_pair
from schemas.config import KrakenTier


@pytest.fixture
def exchange() -> SimExchange:
    made = SimExchange(
        seed=5,
        clock=ManualClock(),
        tier=KrakenTier.STARTER,
        credentials=[ApiCredential("key", "c2VjcmV0")],
    )
    made.set_price("XBTUSD", Decimal("50000.0"))  # last 50000.0, bid 50000.0, ask 50000.1
    return made


def place(exchange: SimExchange, pair: str = "XBTUSD", **params: Any) -> SimOrder:
    spec = find_pair(pair)
    assert spec is not None
    quote = exchange.quote(pair)
    intent = parse_order(
        {"volume": "0.01", **params}, spec, quote.ask, exchange.clock(), last_price=quote.last
    )
    return exchange.place(exchange.account(), intent)


def move(exchange: SimExchange, price: str) -> None:
    exchange.set_price("XBTUSD", Decimal(price))


@pytest.mark.parametrize(
    ("side", "ordertype", "price", "quiet", "fires"),
    [
        ("sell", "stop-loss", "49000.0", "49500", "48900"),
        ("buy", "stop-loss", "51000.0", "50500", "51000"),
        ("sell", "take-profit", "51000.0", "50500", "51100"),
        ("buy", "take-profit", "49000.0", "49500", "48900"),
    ],
)
def test_market_on_trigger_types_wait_then_fire(
    exchange: SimExchange, side: str, ordertype: str, price: str, quiet: str, fires: str
) -> None:
    order = place(exchange, type=side, ordertype=ordertype, price=price)
    move(exchange, quiet)
    assert order.status == "open"
    assert order.vol_exec == 0
    assert not order.triggered
    assert order.to_json()["stopprice"] == price
    move(exchange, fires)
    assert order.triggered
    assert order.status == "closed"
    assert order.vol_exec == Decimal("0.01")
    assert order.to_json()["misc"] == "touched"
    trades = [exchange.matcher.trades[t] for t in order.trade_ids]
    assert all(not t.maker for t in trades)  # it traded as a market order


def test_stop_loss_limit_fires_then_rests_at_its_limit_until_the_book_reaches_it(
    exchange: SimExchange,
) -> None:
    order = place(exchange, type="sell", ordertype="stop-loss-limit", price="49000", price2="48950")
    move(exchange, "49100")
    assert not order.triggered
    move(exchange, "48900")  # fires; the bids (<= 48900) do not reach a 48950 sell limit
    assert order.triggered
    assert order.status == "open"
    assert order.vol_exec == 0
    assert order.to_json()["limitprice"] == "48950.0"
    move(exchange, "49000")
    assert order.status == "closed"
    assert order.average_price() == Decimal("48950")


def test_take_profit_limit_fires_and_crosses(exchange: SimExchange) -> None:
    order = place(
        exchange, type="buy", ordertype="take-profit-limit", price="49000", price2="49010"
    )
    move(exchange, "49001")
    assert not order.triggered
    move(exchange, "48900")
    assert order.status == "closed"
    assert order.average_price() == Decimal("48900.1")


def test_trailing_stop_sell_trails_the_high_and_fires_on_the_offset(exchange: SimExchange) -> None:
    order = place(exchange, type="sell", ordertype="trailing-stop", price="+1000")
    assert order.stopprice == Decimal("49000.0")
    move(exchange, "52000")
    assert order.stopprice == Decimal("51000.0")
    move(exchange, "51500")
    assert not order.triggered
    move(exchange, "50900")
    assert order.status == "closed"


def test_trailing_stop_buy_with_percent_offset(exchange: SimExchange) -> None:
    order = place(exchange, type="buy", ordertype="trailing-stop", price="+2%")
    assert order.stopprice == Decimal("51000.0")
    move(exchange, "48000")
    assert order.stopprice == Decimal("48960.0")
    move(exchange, "48900")
    assert not order.triggered
    move(exchange, "49000")
    assert order.status == "closed"


def test_trailing_stop_limit_sets_its_limit_from_the_trigger_price(exchange: SimExchange) -> None:
    order = place(
        exchange, type="sell", ordertype="trailing-stop-limit", price="+1000", price2="-100"
    )
    move(exchange, "50500")  # stop trails to 49500
    move(exchange, "49400")
    assert order.triggered
    assert order.limitprice == Decimal("49400.0")
    assert order.status == "closed"


def test_trigger_index_reads_the_mid_and_last_reads_the_last_trade(exchange: SimExchange) -> None:
    on_index = place(exchange, type="sell", ordertype="stop-loss", price="50000.0", trigger="index")
    on_last = place(exchange, type="sell", ordertype="stop-loss", price="50000.0")
    move(exchange, "50000.0")  # last 50000.0 (<= stop), mid 50000.05 (> stop)
    assert on_last.triggered
    assert not on_index.triggered
    assert on_index.to_json()["trigger"] == "index"


@pytest.mark.parametrize(
    ("params", "price", "price2"),
    [
        ({"type": "sell", "ordertype": "stop-loss", "price": "-5%"}, "47500.0", None),
        ({"type": "buy", "ordertype": "stop-loss", "price": "#100"}, "50100.0", None),
        ({"type": "sell", "ordertype": "take-profit", "price": "#1000"}, "51000.0", None),
        ({"type": "buy", "ordertype": "limit", "price": "#100"}, "49900.0", None),
        ({"type": "sell", "ordertype": "limit", "price": "+0.5%"}, "50250.0", None),
        (
            {"type": "buy", "ordertype": "stop-loss-limit", "price": "+100", "price2": "#50"},
            "50100.0",
            "50050.0",
        ),
    ],
)
def test_relative_prices_resolve_against_the_last_trade(
    exchange: SimExchange, params: dict[str, str], price: str, price2: str | None
) -> None:
    order = place(exchange, **params)
    assert order.intent.price == Decimal(price)
    assert order.intent.price2 == (None if price2 is None else Decimal(price2))


@pytest.mark.parametrize(
    ("pair", "params", "error"),
    [
        ("XBTUSD", {"type": "sell", "ordertype": "settle-position"}, "EOrder:Unknown position"),
        (
            "ETHXBT",
            {"type": "sell", "ordertype": "stop-loss", "price": "0.030000", "trigger": "index"},
            "EGeneral:Invalid arguments:Index unavailable",
        ),
        (
            "XBTUSD",
            {"type": "sell", "ordertype": "trailing-stop", "price": "-100"},
            "EGeneral:Invalid arguments:price",
        ),
        (
            "XBTUSD",
            {"type": "sell", "ordertype": "stop-loss-limit", "price": "49000"},
            "EGeneral:Invalid arguments:price2",
        ),
        (
            "XBTUSD",
            {"type": "sell", "ordertype": "stop-loss", "price": "49000", "trigger": "mark"},
            "EGeneral:Invalid arguments:trigger",
        ),
    ],
)
def test_trigger_orders_refused_with_kraken_strings(
    exchange: SimExchange, pair: str, params: dict[str, str], error: str
) -> None:
    with pytest.raises(SimError) as raised:
        place(exchange, pair=pair, **params)
    assert raised.value.error == error


def test_iceberg_rests_like_a_limit_and_checks_displayvol(exchange: SimExchange) -> None:
    order = place(exchange, type="buy", ordertype="iceberg", price="49000", displayvol="0.001")
    assert order.status == "open"
    with pytest.raises(SimError) as raised:
        place(exchange, type="buy", ordertype="iceberg", price="49000", displayvol="0.0001")
    assert raised.value.error == "EGeneral:Invalid arguments:displayvol"
