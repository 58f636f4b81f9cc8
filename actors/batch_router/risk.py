"""Pre-trade risk, failing closed: no trustworthy reference price means no order."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from actors.batch_router.ports import MarketView
from actors.batch_router.pricing import PRICE2_TYPES, notional
from schemas.config import ExecutionConfig
from schemas.orders import OrderRequest, OrderType

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
    normal, a limit far from its trigger is a typo.
    """
    reference = market.reference_price(order.pair)
    if reference is None or not reference.is_finite() or reference <= 0:
        return RiskAssessment(None, f"risk_reference_missing: no reference price for {order.pair}")
    if market.is_stale(order.pair):
        return RiskAssessment(None, f"risk_reference_stale: the price of {order.pair} is stale")
    value = notional(order, reference)
    if value is None:
        return RiskAssessment(None, "risk_notional_unknown: cannot price the order")
    collar = _collar_problem(order, reference, config.price_collar_ratio)
    if collar is not None:
        return RiskAssessment(value, collar)
    if value > config.max_order_notional:
        return RiskAssessment(
            value,
            f"risk_order_notional: notional {value} exceeds execution.max_order_notional "
            f"{config.max_order_notional}",
        )
    return RiskAssessment(value)


def _collar_problem(order: OrderRequest, reference: Decimal, ratio: Decimal) -> str | None:
    if order.order_type is OrderType.LIMIT and order.price is not None:
        price, base, against = order.price, reference, "reference price"
    elif order.order_type in PRICE2_TYPES and order.price is not None and order.price2 is not None:
        price, base, against = order.price2, order.price, "trigger price"
    else:
        return None
    deviation = abs(price - base) / base
    if deviation <= ratio:
        return None
    return (
        f"risk_price_collar: limit price {price} is {deviation:.4%} from the {against} {base}, "
        f"beyond execution.price_collar_ratio {ratio}"
    )


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
