"""The contract: every event, order, request/reply and config type. No I/O, no imports of ours.

Schema-evolution rules (enforced in review):

1. Every bus message is a frozen ``msgspec.Struct`` under :class:`schemas.base.Message` with an
   explicit ``tag="area.thing.verb"``. Never rename or reuse a tag; renaming a class is free.
2. New fields get a default and go at the end of the class, so old producers stay decodable.
3. Never change a field's type or meaning; add a new field and deprecate the old one instead.
4. Bus messages never use ``forbid_unknown_fields``: older consumers skip fields they do not
   know. Config Structs always do, so a typo in a config file fails loudly.
5. Money and quantities are ``Decimal`` (encoded as strings); timestamps are int nanoseconds
   since the Unix epoch in ``ts_event``/``ts_init``-style fields.
6. Removing a message type needs one release in which nothing produces it any more.
"""

from schemas.base import Event, Message
from schemas.config import (
    BreakerConfig,
    ConfigError,
    ErrorClassifierConfig,
    ExecutionConfig,
    GalFridayConfig,
    KrakenConfig,
    KrakenTier,
    MaintenanceWindow,
    MarketDataConfig,
    NatsConfig,
    SessionConfig,
    VolatilityConfig,
    decode_config,
    load_config,
)
from schemas.events import (
    BatchCompleted,
    BatchRejected,
    BookLevel,
    BookUpdated,
    BreakerState,
    CircuitBreakerStateChanged,
    ErrorCount,
    ErrorStatistics,
    EventDeadLettered,
    ExchangeStatus,
    ExchangeStatusChanged,
    KillSwitchAcknowledged,
    KrakenCallFailed,
    KrakenCallSucceeded,
    MarketSessionChanged,
    OperationKind,
    OrderBatchRequested,
    OrderFailed,
    OrderOutcome,
    OrderPlaced,
    OrderRejected,
    OrderResult,
    PriceRecovered,
    PriceSource,
    PriceStale,
    PriceUpdated,
    TradingHalted,
    TradingResumed,
    VolatilityUpdated,
)
from schemas.orders import (
    BatchStrategy,
    ClientOrderId,
    OrderRequest,
    OrderSide,
    OrderType,
    TimeInForce,
)
from schemas.queries import (
    ExchangeStatusQuery,
    ExchangeStatusReply,
    PriceQuery,
    PriceQueryReply,
    RetryVerdict,
    VerdictRequest,
)

AnyEvent = (
    PriceUpdated
    | BookUpdated
    | PriceStale
    | PriceRecovered
    | VolatilityUpdated
    | MarketSessionChanged
    | ExchangeStatusChanged
    | OrderBatchRequested
    | OrderPlaced
    | OrderRejected
    | OrderFailed
    | BatchCompleted
    | BatchRejected
    | KrakenCallSucceeded
    | KrakenCallFailed
    | CircuitBreakerStateChanged
    | TradingHalted
    | TradingResumed
    | ErrorStatistics
    | EventDeadLettered
    | KillSwitchAcknowledged
)
"""Every event type; the codec decodes any bus event with this union."""

AnyMessage = (
    AnyEvent
    | PriceQuery
    | PriceQueryReply
    | ExchangeStatusQuery
    | ExchangeStatusReply
    | VerdictRequest
    | RetryVerdict
)

__all__ = [
    "AnyEvent",
    "AnyMessage",
    "BatchCompleted",
    "BatchRejected",
    "BatchStrategy",
    "BookLevel",
    "BookUpdated",
    "BreakerConfig",
    "BreakerState",
    "CircuitBreakerStateChanged",
    "ClientOrderId",
    "ConfigError",
    "ErrorClassifierConfig",
    "ErrorCount",
    "ErrorStatistics",
    "Event",
    "EventDeadLettered",
    "ExchangeStatus",
    "ExchangeStatusChanged",
    "ExchangeStatusQuery",
    "ExchangeStatusReply",
    "ExecutionConfig",
    "GalFridayConfig",
    "KillSwitchAcknowledged",
    "KrakenCallFailed",
    "KrakenCallSucceeded",
    "KrakenConfig",
    "KrakenTier",
    "MaintenanceWindow",
    "MarketDataConfig",
    "MarketSessionChanged",
    "Message",
    "NatsConfig",
    "OperationKind",
    "OrderBatchRequested",
    "OrderFailed",
    "OrderOutcome",
    "OrderPlaced",
    "OrderRejected",
    "OrderRequest",
    "OrderResult",
    "OrderSide",
    "OrderType",
    "PriceQuery",
    "PriceQueryReply",
    "PriceRecovered",
    "PriceSource",
    "PriceStale",
    "PriceUpdated",
    "RetryVerdict",
    "SessionConfig",
    "TimeInForce",
    "TradingHalted",
    "TradingResumed",
    "VerdictRequest",
    "VolatilityConfig",
    "decode_config",
    "load_config",
]
