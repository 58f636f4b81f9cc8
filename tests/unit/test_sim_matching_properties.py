"""Property tests of the matching engine: conservation, no trade outside the book, fills add up."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from kraken.sim import ManualClock, SimError, SimExchange
from kraken.sim.auth import ApiCredential
from kraken.sim.book import BookProfile
from kraken.sim.orders import parse_order
from kraken.sim.pairs import find_pair
from schemas.config import KrakenTier
from tests.support.sim_orders import order_params

SPEC = find_pair("XBTUSD")
assert SPEC is not None
START = {"ZUSD": Decimal(60_000), "XXBT": Decimal(1)}

order_steps = st.tuples(
    st.sampled_from(["buy", "sell"]),
    st.sampled_from(["market", "limit", "ioc"]),
    st.integers(min_value=1, max_value=40_000).map(lambda n: Decimal(n) * Decimal("0.00001")),
    st.integers(min_value=-30, max_value=30),  # limit price offset from the touch, in ticks
)
moves = st.integers(min_value=-40, max_value=40).map(lambda n: ("move", n))
steps = st.lists(st.one_of(order_steps, moves), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(steps=steps, seed=st.integers(min_value=0, max_value=50))
def test_matching_conserves_funds_and_never_trades_outside_the_book(
    steps: list[tuple[object, ...]], seed: int
) -> None:
    assert SPEC is not None
    exchange = SimExchange(
        seed=seed,
        clock=ManualClock(),
        tier=KrakenTier.STARTER,
        credentials=[ApiCredential("key", "c2VjcmV0")],
        balances=START,
        book_profile=BookProfile(levels=8, size_min=500, size_max=3000),
    )
    exchange.set_price("XBTUSD", Decimal("50000.0"))
    book = exchange.books["XXBTZUSD"]
    for step in steps:
        if step[0] == "move":
            ticks = step[1]
            assert isinstance(ticks, int)
            exchange.set_price("XBTUSD", exchange.quote("XBTUSD").bid + ticks * SPEC.tick_size)
            continue
        side, kind, volume, offset = step
        assert isinstance(side, str)
        assert isinstance(kind, str)
        assert isinstance(volume, Decimal)
        assert isinstance(offset, int)
        quote = exchange.quote("XBTUSD")
        params = order_params(exchange, SPEC, side, kind, volume, offset)
        before = {lv.price: lv.qty for lv in book.opposite(side)}
        try:
            intent = parse_order(params, SPEC, quote.ask, exchange.clock())
            order = exchange.place(exchange.account(), intent)
        except SimError:
            continue
        # No trade outside the book: each taker trade is at a level that was there, within the
        # limit, and takes no more than the level held.
        taken: dict[Decimal, Decimal] = defaultdict(Decimal)
        for trade_id in order.trade_ids:
            trade = exchange.matcher.trades[trade_id]
            assert not trade.maker
            assert trade.price in before
            if intent.price is not None:
                assert trade.price <= intent.price if side == "buy" else trade.price >= intent.price
            taken[trade.price] += trade.volume
        assert all(qty <= before[price] for price, qty in taken.items())

    trades = exchange.matcher.trades.values()
    # Partial fills add up: every order's totals are the sum of its trades.
    for order in exchange.orders.values():
        mine = [exchange.matcher.trades[t] for t in order.trade_ids]
        assert order.vol_exec == sum((t.volume for t in mine), Decimal(0)) <= order.intent.volume
        assert order.cost == sum((t.cost for t in mine), Decimal(0))
        assert order.fee == sum((t.fee for t in mine), Decimal(0))
        if order.is_open:
            assert order.vol_exec < order.intent.volume
        for t in mine:
            if t.maker:
                assert t.price == order.intent.price
    # Conservation: balances are the start plus signed trade flows minus fees, the ledger agrees,
    # and open orders never hold more than there is.
    balances = exchange.balances("key")
    base_flow = sum((t.volume if t.side == "buy" else -t.volume for t in trades), Decimal(0))
    quote_flow = sum((-t.cost if t.side == "buy" else t.cost for t in trades), Decimal(0))
    fees = sum((t.fee for t in trades), Decimal(0))
    assert balances["XXBT"] == START["XXBT"] + base_flow
    assert balances["ZUSD"] == START["ZUSD"] + quote_flow - fees
    for asset in ("XXBT", "ZUSD"):
        entries = [e for e in exchange.matcher.ledger.values() if e.asset == asset]
        assert (
            START[asset] + sum((e.amount - e.fee for e in entries), Decimal(0)) == balances[asset]
        )
        assert exchange.available("key", asset) >= 0
        assert balances[asset] >= 0
