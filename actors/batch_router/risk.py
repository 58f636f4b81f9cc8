"""Pre-trade risk, failing closed: no trustworthy reference price means no order."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from actors.batch_router.book_walk import BookWalk, walk_book
from actors.batch_router.ports import MarketView
from actors.batch_router.pricing import PRICE2_TYPES, TRIGGER_TYPES, notional
from schemas.config import ExecutionConfig
from schemas.orders import OrderRequest, OrderSide, OrderType

__all__ = ["KILL_SWITCH_REASON", "ExposureBudget", "RiskAssessment", "assess_order"]

KILL_SWITCH_REASON = "kill_switch: trading is halted, no new orders are sent"


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    """``notional`` is known whenever a price was; ``problem`` is the rejection reason."""

    notional: Decimal | None
    problem: str | None = None


def assess_order(
    order: OrderRequest, market: MarketView, config: ExecutionConfig
) -> RiskAssessment:
    """Reference price, fat-finger collar and per-order notional limit for one order.

    The collar compares a ``limit`` order's price with the reference, and a ``*-limit``
    order's limit price (``price2``) with its own trigger price: a stop far from the market is
    normal, a limit far from its trigger is a typo. A trigger the market has already crossed
    trades at once, so then its trigger and limit prices are collared against the reference.
    A market order is priced by walking the pair's fresh L2 book when there is one (see
    ``_market_order_by_book``); without one, at the reference price.
    """
    reference = market.reference_price(order.pair)
    if reference is None or not reference.is_finite() or reference <= 0:
        return RiskAssessment(None, f"risk_reference_missing: no reference price for {order.pair}")
    if market.is_stale(order.pair):
        return RiskAssessment(None, f"risk_reference_stale: the price of {order.pair} is stale")
    if order.order_type is OrderType.MARKET:
        by_book = _market_order_by_book(order, market, reference, config.price_collar_ratio)
        if by_book is not None:
            if by_book.problem is not None:
                return by_book
            return _within_order_limit(by_book.notional, config)
    value = notional(order, reference)
    if value is None:
        return RiskAssessment(None, "risk_notional_unknown: cannot price the order")
    collar = _collar_problem(order, reference, config.price_collar_ratio)
    if collar is not None:
        return RiskAssessment(value, collar)
    return _within_order_limit(value, config)


def _within_order_limit(value: Decimal | None, config: ExecutionConfig) -> RiskAssessment:
    if value is not None and value > config.max_order_notional:
        return RiskAssessment(
            value,
            f"risk_order_notional: notional {value} exceeds execution.max_order_notional "
            f"{config.max_order_notional}",
        )
    return RiskAssessment(value)


def _market_order_by_book(
    order: OrderRequest, market: MarketView, reference: Decimal, ratio: Decimal
) -> RiskAssessment | None:
    """Walk the fresh book (``None``: there is none). Whatever the visible book cannot fill is
    refused: its price is unknown, and a thin book is where a market order slips furthest."""
    book = market.book(order.pair)
    if book is None or not order.volume.is_finite() or order.volume <= 0:
        return None
    walk = walk_book(book, order.side, order.volume)
    what = f"a market {order.side} of {order.volume} {order.pair}"
    if not isinstance(walk, BookWalk):
        side = "asks" if order.side is OrderSide.BUY else "bids"
        levels = len(book.asks if order.side is OrderSide.BUY else book.bids)
        return RiskAssessment(
            notional(order, reference),
            f"risk_book_depth: {what} is more than the visible book holds: {_shown(walk.visible)} "
            f"on its {side} ({levels} levels)",
        )
    average = walk.average_price
    # As for limit orders, a sell counts at no less than the reference.
    priced = average if order.side is OrderSide.BUY else max(average, reference)
    value = abs(order.volume * priced)
    deviation = abs(average - reference) / reference
    if deviation > ratio:
        return RiskAssessment(
            value,
            f"risk_price_collar: {what} walks the book to an average {_shown(average)} "
            f"(worst level {_shown(walk.worst_price)}), {deviation:.4%} from the reference "
            f"price {reference}, beyond execution.price_collar_ratio {ratio}",
        )
    return RiskAssessment(value)


def _shown(value: Decimal) -> str:
    """At most 8 decimal places and no exponent: an average of a third would print 28 digits."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -8:
        value = value.quantize(Decimal("1e-8"))
    return f"{value.normalize():f}"


def _collar_problem(order: OrderRequest, reference: Decimal, ratio: Decimal) -> str | None:
    checks: list[tuple[str, Decimal, Decimal, str]] = []
    if order.order_type is OrderType.LIMIT and order.price is not None:
        checks.append(("limit price", order.price, reference, "reference price"))
    elif order.order_type in TRIGGER_TYPES and order.price is not None:
        if order.order_type in PRICE2_TYPES and order.price2 is not None:
            checks.append(("limit price", order.price2, order.price, "trigger price"))
        if _triggers_at_once(order, order.price, reference):
            # Already crossed: it trades now, so every price it carries meets the market.
            checks.append(("trigger price", order.price, reference, "reference price"))
            if order.price2 is not None:
                checks.append(("limit price", order.price2, reference, "reference price"))
    for what, price, base, against in checks:
        deviation = abs(price - base) / base
        if deviation > ratio:
            return (
                f"risk_price_collar: {what} {price} is {deviation:.4%} from the {against} "
                f"{base}, beyond execution.price_collar_ratio {ratio}"
            )
    return None


def _triggers_at_once(order: OrderRequest, trigger: Decimal, reference: Decimal) -> bool:
    """A stop triggers when the market reaches it from the side it protects: a sell stop-loss
    at or above the market (a buy one at or below), a take-profit the other way round."""
    buy = order.side is OrderSide.BUY
    if order.order_type in (OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT):
        return reference >= trigger if buy else reference <= trigger
    return reference <= trigger if buy else reference >= trigger


class ExposureBudget:
    """The batch's total absolute notional, bounded by ``execution.max_batch_exposure``."""

    def __init__(self, limit: Decimal) -> None:
        self.limit = limit
        self.used = Decimal(0)

    def try_reserve(self, amount: Decimal) -> str | None:
        """Reserve ``amount``; return the rejection reason instead if it would not fit."""
        if self.used + amount > self.limit:
            return (
                f"risk_exposure_limit: notional {amount} on top of {self.used} already in this "
                f"batch exceeds execution.max_batch_exposure {self.limit}"
            )
        self.used += amount
        return None

    def release(self, amount: Decimal) -> None:
        self.used -= amount
