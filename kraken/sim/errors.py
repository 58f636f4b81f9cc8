"""Kraken error strings the simulator answers with, and the exception that carries one.

All strings are Kraken's documented ones (KRAKEN.md §2.2) except where a comment says otherwise.
"""

from __future__ import annotations

__all__ = [
    "COST_MINIMUM_NOT_MET",
    "DEADLINE_ELAPSED",
    "DUPLICATE_CL_ORD_ID",
    "INSUFFICIENT_FUNDS",
    "INVALID_KEY",
    "INVALID_NONCE",
    "INVALID_SIGNATURE",
    "MARKET_CANCEL_ONLY",
    "MARKET_LIMIT_ONLY",
    "MARKET_POST_ONLY",
    "ORDERS_LIMIT_EXCEEDED",
    "ORDER_MINIMUM_NOT_MET",
    "ORDER_RATE_LIMIT_EXCEEDED",
    "POST_ONLY_ORDER",
    "REST_RATE_LIMIT_EXCEEDED",
    "SERVICE_BUSY",
    "SERVICE_UNAVAILABLE",
    "TEMPORARY_LOCKOUT",
    "TICK_SIZE_CHECK_FAILED",
    "UNKNOWN_ASSET_PAIR",
    "UNKNOWN_METHOD",
    "UNKNOWN_ORDER",
    "UNSUPPORTED_SETTLE_POSITION",
    "SimError",
    "invalid_arguments",
]

INVALID_KEY = "EAPI:Invalid key"
INVALID_SIGNATURE = "EAPI:Invalid signature"
INVALID_NONCE = "EAPI:Invalid nonce"
REST_RATE_LIMIT_EXCEEDED = "EAPI:Rate limit exceeded"
TEMPORARY_LOCKOUT = "EGeneral:Temporary lockout"
UNKNOWN_METHOD = "EGeneral:Unknown method"
SERVICE_UNAVAILABLE = "EService:Unavailable"
SERVICE_BUSY = "EService:Busy"
MARKET_CANCEL_ONLY = "EService:Market in cancel_only mode"
MARKET_POST_ONLY = "EService:Market in post_only mode"
# Not documented: follows the pattern of the two documented mode errors above, for a pair whose
# AssetPairs status is ``limit_only`` receiving a market order.
MARKET_LIMIT_ONLY = "EService:Market in limit_only mode"
DEADLINE_ELAPSED = "EService:Deadline elapsed"
UNKNOWN_ASSET_PAIR = "EQuery:Unknown asset pair"
ORDER_MINIMUM_NOT_MET = "EOrder:Order minimum not met"
COST_MINIMUM_NOT_MET = "EOrder:Cost minimum not met"
TICK_SIZE_CHECK_FAILED = "EOrder:Tick size check failed"
INSUFFICIENT_FUNDS = "EOrder:Insufficient funds"
POST_ONLY_ORDER = "EOrder:Post only order"
ORDER_RATE_LIMIT_EXCEEDED = "EOrder:Rate limit exceeded"
ORDERS_LIMIT_EXCEEDED = "EOrder:Orders limit exceeded"
UNKNOWN_ORDER = "EOrder:Unknown order"
# ``settle-position`` closes a margin position; simulated accounts trade spot only and hold none,
# so the order names a position that does not exist (Kraken's documented ``EOrder:Unknown
# position``), not bad input.
UNSUPPORTED_SETTLE_POSITION = "EOrder:Unknown position"
# Kraken documents no error for a cl_ord_id already used by an open order. The simulator answers
# with the documented invalid-arguments family, naming the field, so prefix-matching clients see a
# non-retryable input error; a client that retried an order it had in fact placed should reconcile
# by cl_ord_id (OpenOrders/ClosedOrders) rather than rely on this string.
DUPLICATE_CL_ORD_ID = "EGeneral:Invalid arguments:cl_ord_id"


def invalid_arguments(field: str | None = None) -> str:
    """``EGeneral:Invalid arguments`` with Kraken's optional ``:<field>`` suffix."""
    return "EGeneral:Invalid arguments" if field is None else f"EGeneral:Invalid arguments:{field}"


class SimError(Exception):
    """A request the simulated exchange refuses; ``error`` is the Kraken wire string."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error
