"""Request/reply messages (commands to one owner, answered directly)."""

from __future__ import annotations

from schemas.base import Message
from schemas.events import (
    BreakerState,
    ExchangeStatus,
    KrakenCallFailed,
    OperationKind,
    PriceUpdated,
)

__all__ = [
    "ExchangeStatusQuery",
    "ExchangeStatusReply",
    "PriceQuery",
    "PriceQueryReply",
    "RetryVerdict",
    "VerdictRequest",
]


class PriceQuery(Message, frozen=True, kw_only=True, tag="md.query.price"):
    pair: str


class PriceQueryReply(Message, frozen=True, kw_only=True, tag="md.query.price.reply"):
    pair: str
    quote: PriceUpdated | None
    age_ns: int | None
    stale: bool
    error: str | None = None
    """Set when no quote can be given (unknown pair, public breaker open with an empty cache)."""


class ExchangeStatusQuery(Message, frozen=True, kw_only=True, tag="md.query.status"):
    exchange: str | None = None


class ExchangeStatusReply(Message, frozen=True, kw_only=True, tag="md.query.status.reply"):
    exchange: str
    status: ExchangeStatus
    can_place: bool
    can_cancel: bool
    in_scheduled_maintenance: bool
    low_liquidity_reasons: tuple[str, ...] = ()
    error: str | None = None


class VerdictRequest(Message, frozen=True, kw_only=True, tag="errors.verdict.request"):
    call: KrakenCallFailed
    attempt: int
    """1 for the first failure of this operation, 2 after the first retry …"""
    operation: OperationKind


class RetryVerdict(Message, frozen=True, kw_only=True, tag="errors.verdict.reply"):
    category: str
    severity: str
    retry: bool
    delay_s: float
    strategy: str
    """``fixed``, ``linear``, ``exponential`` or ``none``."""
    max_retries: int
    reconcile_first: bool
    breaker_scope: str
    breaker_state: BreakerState
    detail: str = ""
    retry_not_before_ns: int | None = None
    reason: str = ""
    error: str | None = None
    """Set (and ``retry`` false) when the request itself could not be understood."""
