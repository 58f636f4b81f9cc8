"""The batch-router actor: turns ``OrderBatchRequested`` into Kraken orders.

The pure core lives here (no NATS, no Kraken client): :class:`OptimizedBatchProcessor` plus the
ports in :mod:`actors.batch_router.ports` that the shell implements.
"""

from actors.batch_router.client_ids import assign_cl_ord_ids, derive_cl_ord_id, is_valid_cl_ord_id
from actors.batch_router.ports import (
    BatchPlacementReply,
    BreakerView,
    Clock,
    EventSink,
    ExchangeGateway,
    LookupResult,
    MarketView,
    OrderLookup,
    OutcomeEvent,
    PairRules,
    PlacementReply,
    Sleeper,
    VerdictSource,
)
from actors.batch_router.processor import OptimizedBatchProcessor
from actors.batch_router.statistics import PerformanceStatistics

__all__ = [
    "BatchPlacementReply",
    "BreakerView",
    "Clock",
    "EventSink",
    "ExchangeGateway",
    "LookupResult",
    "MarketView",
    "OptimizedBatchProcessor",
    "OrderLookup",
    "OutcomeEvent",
    "PairRules",
    "PerformanceStatistics",
    "PlacementReply",
    "Sleeper",
    "VerdictSource",
    "assign_cl_ord_ids",
    "derive_cl_ord_id",
    "is_valid_cl_ord_id",
]
