"""Walking one side of an L2 book for a market order's volume (issue 15, point 6)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from actors.batch_router.book_walk import BookWalk, DepthShortfall, walk_book
from schemas.events import BookLevel, BookUpdated
from schemas.orders import OrderSide


def _book(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> BookUpdated:
    return BookUpdated(
        ts_event=1,
        ts_init=1,
        pair="BTC/USD",
        bids=tuple(BookLevel(Decimal(p), Decimal(q)) for p, q in bids),
        asks=tuple(BookLevel(Decimal(p), Decimal(q)) for p, q in asks),
        mid=Decimal(100),
        spread=Decimal(2),
        checksum=0,
    )


BOOK = _book(
    bids=[("99", "1"), ("98", "2"), ("95", "3")],
    asks=[("101", "1"), ("102", "2"), ("105", "3")],
)


def test_a_buy_inside_the_best_ask_fills_at_the_best_ask() -> None:
    assert walk_book(BOOK, OrderSide.BUY, Decimal("0.5")) == BookWalk(
        average_price=Decimal(101), worst_price=Decimal(101)
    )


def test_a_buy_walks_the_asks_best_first_and_takes_part_of_the_last_level() -> None:
    """1 @ 101 + 2 @ 102 + 1 @ 105 = 410 for 4: average 102.5, worst level 105."""
    walk = walk_book(BOOK, OrderSide.BUY, Decimal(4))
    assert walk == BookWalk(average_price=Decimal("102.5"), worst_price=Decimal(105))


def test_a_sell_walks_the_bids_best_first() -> None:
    """1 @ 99 + 2 @ 98 + 1 @ 95 = 390 for 4: average 97.5, worst level 95."""
    walk = walk_book(BOOK, OrderSide.SELL, Decimal(4))
    assert walk == BookWalk(average_price=Decimal("97.5"), worst_price=Decimal(95))


def test_the_whole_visible_side_fills_exactly() -> None:
    """1 @ 101 + 2 @ 102 + 3 @ 105 = 620 for 6."""
    walk = walk_book(BOOK, OrderSide.BUY, Decimal(6))
    assert walk == BookWalk(average_price=Decimal(620) / 6, worst_price=Decimal(105))


def test_levels_out_of_order_are_still_walked_best_first() -> None:
    shuffled = _book(bids=[("95", "3"), ("99", "1")], asks=[("105", "3"), ("101", "1")])
    assert walk_book(shuffled, OrderSide.BUY, Decimal(2)) == BookWalk(
        average_price=Decimal(103), worst_price=Decimal(105)
    )
    assert walk_book(shuffled, OrderSide.SELL, Decimal(2)) == BookWalk(
        average_price=Decimal(97), worst_price=Decimal(95)
    )


def test_more_than_the_visible_side_is_a_shortfall_naming_the_visible_volume() -> None:
    assert walk_book(BOOK, OrderSide.BUY, Decimal("6.00000001")) == DepthShortfall(
        visible=Decimal(6)
    )
    assert walk_book(BOOK, OrderSide.SELL, Decimal(1000)) == DepthShortfall(visible=Decimal(6))


def test_an_empty_side_cannot_fill_anything() -> None:
    one_sided = _book(bids=[("99", "1")], asks=[])
    assert walk_book(one_sided, OrderSide.BUY, Decimal("0.001")) == DepthShortfall(
        visible=Decimal(0)
    )


@pytest.mark.parametrize("volume", ["0", "-1"])
def test_a_volume_that_is_not_positive_is_a_clear_error(volume: str) -> None:
    with pytest.raises(ValueError, match="volume"):
        walk_book(BOOK, OrderSide.BUY, Decimal(volume))
