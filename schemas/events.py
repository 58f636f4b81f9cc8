"""Every event that travels on the bus. Tags are the wire names: never rename one."""

from __future__ import annotations

import enum
from decimal import Decimal

import msgspec

from schemas.base import Event
from schemas.orders import BatchStrategy, OrderRequest

__all__ = [
    "BatchCompleted",
    "BatchRejected",
    "BookLevel",
    "BookUpdated",
    "BreakerState",
    "CircuitBreakerStateChanged",
    "ErrorCount",
    "ErrorStatistics",
    "EventDeadLettered",
    "ExchangeStatus",
    "ExchangeStatusChanged",
    "KillSwitchAcknowledged",
    "KrakenCallFailed",
    "KrakenCallSucceeded",
    "MarketSessionChanged",
    "OperationKind",
    "OrderBatchRequested",
    "OrderFailed",
    "OrderOutcome",
    "OrderPlaced",
    "OrderRejected",
    "OrderResult",
    "PriceRecovered",
    "PriceSource",
    "PriceStale",
    "PriceUpdated",
    "TradingHalted",
    "TradingResumed",
    "VolatilityUpdated",
]


# -- market data -----------------------------------------------------------------------------


class PriceSource(enum.StrEnum):
    WS = "ws"
    REST = "rest"


class PriceUpdated(Event, frozen=True, kw_only=True, tag="md.price.updated"):
    """A top-of-book quote for one pair. ``ts_event`` is the exchange timestamp when known."""

    pair: str
    bid: Decimal
    ask: Decimal
    last: Decimal
    bid_size: Decimal
    ask_size: Decimal
    volume_24h: Decimal
    vwap_24h: Decimal
    source: PriceSource
    exchange_ts_ns: int | None = None


class BookLevel(msgspec.Struct, frozen=True, array_like=True):
    price: Decimal
    qty: Decimal


class BookUpdated(Event, frozen=True, kw_only=True, tag="md.book.updated"):
    """The top of one pair's checksum-verified L2 book (best level first on each side)."""

    pair: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    mid: Decimal
    spread: Decimal
    checksum: int
    resyncs: int = 0
    """Times this pair's book was rebuilt after a checksum mismatch since the actor started."""


class PriceStale(Event, frozen=True, kw_only=True, tag="md.price.stale"):
    pair: str
    last_update_ns: int | None
    threshold_ns: int


class PriceRecovered(Event, frozen=True, kw_only=True, tag="md.price.recovered"):
    pair: str
    stale_for_ns: int


class VolatilityUpdated(Event, frozen=True, kw_only=True, tag="md.volatility.updated"):
    """Annualized volatility estimates at a bar close (statistics, so floats, not money)."""

    pair: str
    timeframe: str
    bar_close_ns: int
    window_bars: int
    realized: float | None
    ewma: float | None
    parkinson: float | None


class MarketSessionChanged(Event, frozen=True, kw_only=True, tag="md.session.changed"):
    active: tuple[str, ...]
    opened: tuple[str, ...]
    closed: tuple[str, ...]
    overlap: bool


class ExchangeStatus(enum.StrEnum):
    ONLINE = "online"
    MAINTENANCE = "maintenance"
    CANCEL_ONLY = "cancel_only"
    POST_ONLY = "post_only"
    LIMIT_ONLY = "limit_only"
    REDUCE_ONLY = "reduce_only"


class ExchangeStatusChanged(Event, frozen=True, kw_only=True, tag="md.status.changed"):
    exchange: str
    status: ExchangeStatus
    previous: ExchangeStatus | None
    source: str
    """Where the status came from: ``rest``, ``ws`` or ``schedule``."""
    can_place: bool
    can_cancel: bool
    reason: str = ""


# -- orders ----------------------------------------------------------------------------------


class OrderBatchRequested(Event, frozen=True, kw_only=True, tag="orders.batch.requested"):
    batch_id: str
    orders: tuple[OrderRequest, ...]
    strategy: BatchStrategy
    deadline_ns: int | None = None
    validate_only: bool = False


class OrderPlaced(Event, frozen=True, kw_only=True, tag="orders.order.placed"):
    batch_id: str
    index: int
    pair: str
    cl_ord_id: str
    txid: str
    """Empty for a ``validate_only`` batch: Kraken returns no txid then."""
    attempts: int = 1
    reconciled: bool = False
    """True when the order was found on the exchange rather than confirmed by the reply."""


class OrderRejected(Event, frozen=True, kw_only=True, tag="orders.order.rejected"):
    batch_id: str
    index: int
    pair: str
    cl_ord_id: str
    reason: str
    category: str
    """``local`` for the router's own checks, else the classifier's category."""
    errors: tuple[str, ...] = ()


class OrderFailed(Event, frozen=True, kw_only=True, tag="orders.order.failed"):
    """The order's fate is not a definitive rejection: retries ran out, time ran out, the
    breaker stayed open, or the outcome is still unknown after reconciliation."""

    batch_id: str
    index: int
    pair: str
    cl_ord_id: str
    reason: str
    """One of ``retries_exhausted``, ``timeout``, ``circuit_open``, ``unknown_outcome``."""
    detail: str = ""
    errors: tuple[str, ...] = ()


class OrderOutcome(enum.StrEnum):
    PLACED = "placed"
    REJECTED = "rejected"
    FAILED = "failed"


class OrderResult(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    pair: str
    cl_ord_id: str
    outcome: OrderOutcome
    txid: str | None = None
    reason: str | None = None
    notional: Decimal | None = None


class BatchCompleted(Event, frozen=True, kw_only=True, tag="orders.batch.completed"):
    batch_id: str
    strategy: BatchStrategy
    results: tuple[OrderResult, ...]
    total: int
    placed: int
    rejected: int
    failed: int
    success_rate: float
    duration_ns: int
    retries: int
    api_calls: int
    exposure_used: Decimal
    validate_only: bool = False


class BatchRejected(Event, frozen=True, kw_only=True, tag="orders.batch.rejected"):
    """A batch refused whole (e.g. over ``execution.max_batch_size``); no order was sent."""

    batch_id: str
    reason: str
    order_count: int


# -- Kraken calls and breakers ---------------------------------------------------------------


class OperationKind(enum.StrEnum):
    READ = "read"
    CANCEL = "cancel"
    PLACE = "place"


class KrakenCallSucceeded(Event, frozen=True, kw_only=True, tag="kraken.call.succeeded"):
    scope: str
    """Breaker scope: ``kraken.public``, ``kraken.private``, ``kraken.trading``, ``kraken.ws``,
    ``kraken.ws_trading``."""
    endpoint: str
    operation: OperationKind
    latency_ns: int
    http_status: int | None = None
    probe: bool = False
    call_id: str = ""
    """Unique per call (set by the REST client); consumers count a call once per id. Empty:
    an older producer, never deduplicated."""


class KrakenCallFailed(Event, frozen=True, kw_only=True, tag="kraken.call.failed"):
    scope: str
    endpoint: str
    operation: OperationKind
    latency_ns: int
    errors: tuple[str, ...]
    """Every Kraken error string of the response, or a transport description."""
    http_status: int | None = None
    outcome_unknown: bool = False
    transport_error: str | None = None
    """A failure that was not Kraken's answer: ``timeout``, ``connection``, ``http_5xx``,
    ``http_status``, ``non_json``, ``bad_shape`` or ``no_credentials``."""
    probe: bool = False
    call_id: str = ""
    """See :attr:`KrakenCallSucceeded.call_id`."""


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreakerStateChanged(Event, frozen=True, kw_only=True, tag="breaker.state.changed"):
    scope: str
    state: BreakerState
    previous: BreakerState
    reason: str
    since_ns: int
    retry_at_ns: int | None = None
    """When the breaker will admit a probe; ``None`` while held open by exchange status."""
    open_count: int = 0
    term: int = 0
    """The error classifier's active term that decided it (the KV revision of its lease when it
    became active). A stored state of a higher term is never replaced by a lower one, whatever
    their hosts' clocks say; within one term, ``ts_event`` orders."""


class TradingHalted(Event, frozen=True, kw_only=True, tag="control.trading.halted"):
    reason: str
    by: str = ""


class TradingResumed(Event, frozen=True, kw_only=True, tag="control.trading.resumed"):
    reason: str = ""
    by: str = ""


class KillSwitchAcknowledged(Event, frozen=True, kw_only=True, tag="control.trading.acknowledged"):
    """A router instance applied the kill switch's stored state (``galfriday halt`` waits for
    these). ``revision`` is the control KV revision that state rests on (-1: unreadable)."""

    instance: str
    halted: bool
    revision: int


# -- errors ----------------------------------------------------------------------------------


class ErrorCount(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    last_minute: int
    last_hour: int
    total: int


class ErrorStatistics(Event, frozen=True, kw_only=True, tag="errors.statistics"):
    by_category: tuple[ErrorCount, ...]
    by_error: tuple[ErrorCount, ...]
    by_scope: tuple[ErrorCount, ...]
    by_operation: tuple[ErrorCount, ...]
    retries_granted: int
    retries_denied: int
    breaker_transitions: int
    breaker_open_ns: dict[str, int]
    top_errors: tuple[str, ...]
    trend: dict[str, str] = msgspec.field(default_factory=dict)
    """Per error: ``rising``, ``falling`` or ``steady`` (last minute against the hour's rate)."""


class EventDeadLettered(Event, frozen=True, kw_only=True, tag="dlq.dead_lettered"):
    actor: str
    subject: str
    reason: str
    payload: bytes
    headers: dict[str, str] = msgspec.field(default_factory=dict)
