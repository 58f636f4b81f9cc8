"""Kraken Spot adapter: REST client, WebSocket v2 client, pair names and the rate-limit model.

The same client talks to ``api.kraken.com`` and to the simulated exchange in ``kraken.sim``;
only ``KrakenConfig.rest_url`` / ``ws_url`` and the credentials differ.
"""

from kraken.credentials import Credentials, load_credentials
from kraken.errors import (
    KrakenCallError,
    KrakenError,
    MissingCredentialsError,
    TransportError,
    is_general_rate_limit,
    is_trading_rate_limit,
)
from kraken.models import (
    AddOrderBatchResult,
    AddOrderResult,
    AssetPair,
    BatchOrderEntry,
    CancelAllOrdersAfterResult,
    CancelResult,
    ClosedOrdersResult,
    OhlcBar,
    OhlcResult,
    OpenOrdersResult,
    OrderDescription,
    OrderInfo,
    ServerTime,
    SystemStatus,
    TickerInfo,
    WebSocketsToken,
)
from kraken.nonce import PROCESS_NONCES, NonceSource
from kraken.pairs import PairInfo, PairRegistry, v2_symbol_from_wsname
from kraken.ratelimit import RestCallLimiter, TradingRateLimiter, cancel_penalty, rest_call_cost
from kraken.rest import CallObserver, KrakenRestClient, scope_of
from kraken.result import KrakenFailure, KrakenOk, KrakenResult
from kraken.ws import (
    ConnectionState,
    ConnectionStateChanged,
    KrakenWsClient,
    StatusUpdate,
    SubscriptionResult,
    TickerUpdate,
    WsCounters,
    WsUpdate,
)

__all__ = [
    "PROCESS_NONCES",
    "AddOrderBatchResult",
    "AddOrderResult",
    "AssetPair",
    "BatchOrderEntry",
    "CallObserver",
    "CancelAllOrdersAfterResult",
    "CancelResult",
    "ClosedOrdersResult",
    "ConnectionState",
    "ConnectionStateChanged",
    "Credentials",
    "KrakenCallError",
    "KrakenError",
    "KrakenFailure",
    "KrakenOk",
    "KrakenRestClient",
    "KrakenResult",
    "KrakenWsClient",
    "MissingCredentialsError",
    "NonceSource",
    "OhlcBar",
    "OhlcResult",
    "OpenOrdersResult",
    "OrderDescription",
    "OrderInfo",
    "PairInfo",
    "PairRegistry",
    "RestCallLimiter",
    "ServerTime",
    "StatusUpdate",
    "SubscriptionResult",
    "SystemStatus",
    "TickerInfo",
    "TickerUpdate",
    "TradingRateLimiter",
    "TransportError",
    "WebSocketsToken",
    "WsCounters",
    "WsUpdate",
    "cancel_penalty",
    "is_general_rate_limit",
    "is_trading_rate_limit",
    "load_credentials",
    "rest_call_cost",
    "scope_of",
    "v2_symbol_from_wsname",
]
