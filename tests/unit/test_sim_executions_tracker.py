"""The sim's ``executions`` diff looks only at open orders and those closed since the last diff;
it must report exactly what a diff of every order ever placed reports."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kraken.sim import ManualClock, SimError, SimExchange
from kraken.sim.auth import ApiCredential
from kraken.sim.book import BookProfile
from kraken.sim.executions import ExecutionTracker, execution_entry
from kraken.sim.orders import SimOrder, parse_order
from kraken.sim.pairs import find_pair
from schemas.config import KrakenTier
from tests.support.sim_orders import order_params

SPEC = find_pair("XBTUSD")
assert SPEC is not None
KEY = "key"

placements = st.tuples(
    st.just("place"),
    st.sampled_from(["buy", "sell"]),
    st.sampled_from(["market", "limit", "ioc"]),
    st.integers(min_value=1, max_value=20_000).map(lambda n: Decimal(n) * Decimal("0.00001")),
    st.integers(min_value=-20, max_value=20),  # limit offset from the touch, in ticks
)
moves = st.tuples(st.just("move"), st.integers(min_value=-30, max_value=30))
cancels = st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=50))
diffs = st.tuples(st.just("diff"))
steps = st.lists(st.one_of(placements, moves, cancels, diffs), min_size=1, max_size=40)


class _EveryOrderDiff:
    """The reference: diff every order ever placed (what the tracker did before)."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, Decimal, object]] = {}

    def changes(self, orders: list[SimOrder], now_ns: int) -> list[dict[str, Any]]:
        updates: list[dict[str, Any]] = []
        for order in orders:
            status, vol_exec, intent = self._seen.get(order.txid, ("", Decimal(0), None))
            if not status:
                updates.append(execution_entry(order, "new", now_ns))
                status, intent = "open", order.intent
            elif intent is not order.intent and order.is_open:
                updates.append(execution_entry(order, "amended", now_ns))
            if order.vol_exec > vol_exec:
                last_qty = order.vol_exec - vol_exec
                updates.append(execution_entry(order, "trade", now_ns, last_qty=last_qty))
            final = {"closed": "filled", "canceled": "canceled", "expired": "expired"}
            if order.status != status and order.status in final:
                updates.append(execution_entry(order, final[order.status], now_ns))
            self._seen[order.txid] = (order.status, order.vol_exec, order.intent)
        return updates


def _exchange(seed: int) -> SimExchange:
    exchange = SimExchange(
        seed=seed,
        clock=ManualClock(),
        tier=KrakenTier.STARTER,
        credentials=[ApiCredential(KEY, "c2VjcmV0")],
        balances={"ZUSD": Decimal(60_000), "XXBT": Decimal(1)},
        book_profile=BookProfile(levels=6, size_min=500, size_max=3000),
    )
    exchange.set_price("XBTUSD", Decimal("50000.0"))
    return exchange


def _place(exchange: SimExchange, step: tuple[Any, ...]) -> None:
    assert SPEC is not None
    _, side, kind, volume, offset = step
    params = order_params(exchange, SPEC, side, kind, volume, offset)
    quote = exchange.quote("XBTUSD")
    with contextlib.suppress(SimError):  # refused orders change nothing
        exchange.place(exchange.account(), parse_order(params, SPEC, quote.ask, exchange.clock()))


@settings(max_examples=60, deadline=None)
@given(steps=steps, seed=st.integers(min_value=0, max_value=20), early=st.integers(0, 10))
def test_the_diff_of_open_and_recently_closed_orders_equals_a_diff_of_every_order(
    steps: list[tuple[Any, ...]], seed: int, early: int
) -> None:
    assert SPEC is not None
    exchange = _exchange(seed)
    tracker, reference = ExecutionTracker(), _EveryOrderDiff()
    exchange.order_closed_listeners.append(tracker.closed)
    for index, step in enumerate(steps):
        if index == early:  # a subscriber arriving late takes the state as reported
            tracker.prime(exchange.open_orders_of(KEY))
            reference.changes(list(exchange.orders.values()), exchange.clock())
        if step[0] == "place":
            _place(exchange, step)
        elif step[0] == "move":
            bid = exchange.quote("XBTUSD").bid + step[1] * SPEC.tick_size
            exchange.set_price("XBTUSD", max(bid, SPEC.tick_size))
        elif step[0] == "cancel":
            open_orders = exchange.open_orders_of(KEY)
            if open_orders:
                exchange.cancel(open_orders[step[1] % len(open_orders)])
        elif index >= early:
            now = exchange.clock()
            expected = reference.changes(list(exchange.orders.values()), now)
            assert tracker.changes(exchange.open_orders_of(KEY), now) == expected
    if len(steps) > early:
        now = exchange.clock()
        expected = reference.changes(list(exchange.orders.values()), now)
        assert tracker.changes(exchange.open_orders_of(KEY), now) == expected


def test_an_order_placed_and_filled_between_two_diffs_is_reported_new_traded_filled() -> None:
    exchange = _exchange(seed=1)
    tracker = ExecutionTracker()
    exchange.order_closed_listeners.append(tracker.closed)
    tracker.prime(exchange.open_orders_of(KEY))
    _place(exchange, ("place", "buy", "market", Decimal("0.01"), 0))
    updates = tracker.changes(exchange.open_orders_of(KEY), exchange.clock())
    assert [entry["exec_type"] for entry in updates] == ["new", "trade", "filled"]
    assert tracker.changes(exchange.open_orders_of(KEY), exchange.clock()) == []
