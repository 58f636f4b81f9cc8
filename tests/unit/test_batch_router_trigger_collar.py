"""Trigger orders cannot slip past the fat-finger checks (issue 12, point 3)."""

from __future__ import annotations

from decimal import Decimal

from actors.batch_router.risk import assess_order
from schemas.config import ExecutionConfig
from schemas.orders import OrderRequest, OrderSide, OrderType
from tests.support.batch_router_doubles import FakeClock, MarketDouble

MARKET = Decimal(100_000)


def _market() -> MarketDouble:
    market = MarketDouble(FakeClock())
    market.prices["BTC/USD"] = MARKET
    return market


def _order(kind: OrderType, side: OrderSide, price: str, price2: str | None = None) -> OrderRequest:
    return OrderRequest(
        pair="BTC/USD",
        side=side,
        order_type=kind,
        volume=Decimal(5),
        price=Decimal(price),
        price2=None if price2 is None else Decimal(price2),
    )


def test_take_profit_limit_sell_far_below_the_market_is_rejected() -> None:
    """Trigger 10 000 at market 100 000: it triggers at once and sells 90 % under the market."""
    order = _order(OrderType.TAKE_PROFIT_LIMIT, OrderSide.SELL, "10000", "9900")
    assessment = assess_order(order, _market(), ExecutionConfig(max_order_notional=Decimal(10**9)))
    assert assessment.problem is not None
    assert assessment.problem.startswith("risk_price_collar")


def test_sell_notional_is_never_below_the_reference() -> None:
    order = _order(OrderType.STOP_LOSS_LIMIT, OrderSide.SELL, "90000", "89000")
    assessment = assess_order(order, _market(), ExecutionConfig(max_order_notional=Decimal(10**9)))
    assert assessment.notional == 5 * MARKET


def test_a_stop_loss_far_from_the_market_that_has_not_triggered_is_normal() -> None:
    order = _order(OrderType.STOP_LOSS_LIMIT, OrderSide.SELL, "80000", "79500")
    assessment = assess_order(order, _market(), ExecutionConfig(max_order_notional=Decimal(10**9)))
    assert assessment.problem is None


def test_already_triggered_stop_far_from_the_market_is_rejected() -> None:
    """A buy stop at half the market triggers at once: its price is collared like a limit."""
    order = _order(OrderType.STOP_LOSS, OrderSide.BUY, "50000")
    assessment = assess_order(order, _market(), ExecutionConfig(max_order_notional=Decimal(10**9)))
    assert assessment.problem is not None
    assert assessment.problem.startswith("risk_price_collar")
