"""A market order is priced by walking the L2 book: collar, depth and notional (issue 15, 6)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from actors.batch_router.bus_ports import BusMarketView
from actors.batch_router.risk import assess_order
from schemas.config import ExecutionConfig
from schemas.events import BookLevel, BookUpdated, OrderOutcome
from schemas.orders import BatchStrategy, OrderSide
from tests.support.batch_router_doubles import (
    FakeClock,
    MarketDouble,
    limit_order,
    make_router,
    market_order,
    price_event,
)

REFERENCE = Decimal(100_000)
CONFIG = ExecutionConfig(max_order_notional=Decimal(10**9), price_collar_ratio=Decimal("0.05"))


def thin_book() -> BookUpdated:
    """13 BTC visible on each side; the third level of each is 10 % from the reference."""
    return BookUpdated(
        ts_event=1,
        ts_init=1,
        pair="BTC/USD",
        bids=(
            BookLevel(Decimal(99_990), Decimal(1)),
            BookLevel(Decimal(99_000), Decimal(2)),
            BookLevel(Decimal(90_000), Decimal(10)),
        ),
        asks=(
            BookLevel(Decimal(100_010), Decimal(1)),
            BookLevel(Decimal(100_500), Decimal(2)),
            BookLevel(Decimal(110_000), Decimal(10)),
        ),
        mid=REFERENCE,
        spread=Decimal(20),
        checksum=0,
    )


def market_with_book() -> MarketDouble:
    market = MarketDouble(FakeClock())
    market.prices["BTC/USD"] = REFERENCE
    market.books["BTC/USD"] = thin_book()
    return market


def test_a_market_buy_within_the_collar_is_valued_at_its_walked_average() -> None:
    """1 @ 100 010 + 1 @ 100 500: average 100 255, not the reference 100 000."""
    order = market_order(volume="2")
    assessment = assess_order(order, market_with_book(), CONFIG)
    assert assessment.problem is None
    assert assessment.notional == Decimal(200_510)


def test_a_market_buy_whose_walked_average_is_beyond_the_collar_is_rejected() -> None:
    """1 @ 100 010 + 2 @ 100 500 + 7 @ 110 000 = 1 071 010 for 10: 7.101 % above the mid."""
    order = market_order(volume="10")
    assessment = assess_order(order, market_with_book(), CONFIG)
    assert assessment.problem == (
        "risk_price_collar: a market buy of 10 BTC/USD walks the book to an average 107101 "
        "(worst level 110000), 7.1010% from the reference price 100000, beyond "
        "execution.price_collar_ratio 0.05"
    )
    assert assessment.notional == Decimal(1_071_010)


def test_a_market_sell_whose_walked_average_is_beyond_the_collar_is_rejected() -> None:
    """1 @ 99 990 + 2 @ 99 000 + 7 @ 90 000 = 927 990 for 10: 7.201 % below the mid."""
    order = market_order(side=OrderSide.SELL, volume="10")
    assessment = assess_order(order, market_with_book(), CONFIG)
    assert assessment.problem is not None
    assert assessment.problem.startswith(
        "risk_price_collar: a market sell of 10 BTC/USD walks the book to an average 92799 "
        "(worst level 90000), 7.2010% from the reference price 100000"
    )


def test_a_market_sell_is_valued_at_no_less_than_the_reference() -> None:
    """Walked average 99 330; selling cheap does not make the exposure small."""
    order = market_order(side=OrderSide.SELL, volume="3")
    assessment = assess_order(order, market_with_book(), CONFIG)
    assert assessment.problem is None
    assert assessment.notional == 3 * REFERENCE


def test_the_walked_notional_counts_against_the_order_notional_limit() -> None:
    """At the reference 2 BTC are worth 200 000 (within the limit); walked, 200 510 (beyond)."""
    config = ExecutionConfig(max_order_notional=Decimal(200_100))
    assessment = assess_order(market_order(volume="2"), market_with_book(), config)
    assert assessment.problem is not None
    assert assessment.problem.startswith("risk_order_notional: notional 200510")


@pytest.mark.parametrize(
    ("side", "visible_on"), [(OrderSide.BUY, "asks"), (OrderSide.SELL, "bids")]
)
def test_a_market_order_larger_than_the_visible_book_is_rejected(
    side: OrderSide, visible_on: str
) -> None:
    order = market_order(side=side, volume="1000")
    assessment = assess_order(order, market_with_book(), CONFIG)
    assert assessment.problem == (
        f"risk_book_depth: a market {side} of 1000 BTC/USD is more than the visible book "
        f"holds: 13 on its {visible_on} (3 levels)"
    )


def test_a_limit_order_is_not_priced_by_the_book() -> None:
    order = limit_order(volume="1000", price="100000")
    assessment = assess_order(order, market_with_book(), CONFIG)
    assert assessment.problem is None
    assert assessment.notional == 1000 * REFERENCE


def test_without_a_book_a_market_order_is_priced_at_the_reference() -> None:
    market = market_with_book()
    del market.books["BTC/USD"]
    assessment = assess_order(market_order(volume="1000"), market, CONFIG)
    assert assessment.problem is None
    assert assessment.notional == 1000 * REFERENCE


def test_with_a_stale_book_a_market_order_is_priced_at_the_reference() -> None:
    """The book is older than the staleness threshold; the price was just refreshed."""
    clock = FakeClock()
    market = BusMarketView(clock, staleness_threshold_ns=30 * 10**9)
    market.on_price(price_event("BTC/USD", REFERENCE))
    market.on_book(thin_book())
    fresh = assess_order(market_order(volume="1000"), market, CONFIG)
    assert (fresh.problem or "").startswith("risk_book_depth")
    clock.now_ns += 31 * 10**9
    market.on_price(price_event("BTC/USD", REFERENCE))
    assessment = assess_order(market_order(volume="1000"), market, CONFIG)
    assert assessment.problem is None
    assert assessment.notional == 1000 * REFERENCE


@pytest.mark.parametrize("strategy", list(BatchStrategy))
async def test_every_strategy_rejects_a_market_order_walking_beyond_the_collar(
    strategy: BatchStrategy,
) -> None:
    router = make_router(
        ExecutionConfig(max_order_notional=Decimal(10**9), max_batch_exposure=Decimal(10**9))
    )
    router.market.prices["BTC/USD"] = REFERENCE
    router.market.books["BTC/USD"] = thin_book()

    completed = await router.processor.process_batch_orders(
        [market_order(volume="10"), market_order(volume="0.5")], strategy, batch_id="walk"
    )

    outcomes = [r.outcome for r in completed.results]
    assert outcomes == [OrderOutcome.REJECTED, OrderOutcome.PLACED]
    assert (completed.results[0].reason or "").startswith("risk_price_collar: a market buy")
    assert len(router.exchange.placement_calls) == 1
