"""Error categories, severities and breaker scopes: the vocabulary of the classifier."""

from __future__ import annotations

import enum

__all__ = [
    "BREAKER_COUNTED",
    "FAST_TRIP",
    "OUTAGE_SHAPED",
    "REST_SCOPES",
    "SCOPES",
    "SCOPE_PRIVATE",
    "SCOPE_PUBLIC",
    "SCOPE_TRADING",
    "SCOPE_WS",
    "SCOPE_WS_TRADING",
    "ErrorCategory",
    "Severity",
    "breaker_scopes",
    "severity_of",
    "worse",
]

SCOPE_PUBLIC = "kraken.public"
SCOPE_PRIVATE = "kraken.private"
SCOPE_TRADING = "kraken.trading"
SCOPE_WS = "kraken.ws"
"""Market-data's public WebSocket."""
SCOPE_WS_TRADING = "kraken.ws_trading"
"""The router's authenticated trading WebSocket (another host and connection than ``kraken.ws``;
while it is not CLOSED the router places over REST)."""
SCOPES = (SCOPE_PUBLIC, SCOPE_PRIVATE, SCOPE_TRADING, SCOPE_WS, SCOPE_WS_TRADING)


class ErrorCategory(enum.StrEnum):
    RATE_LIMIT = "rate_limit"
    THROTTLED = "throttled"
    NONCE = "nonce"
    SESSION_EXPIRED = "session_expired"
    """``EAPI:Invalid token`` / ``ESession:Invalid session``: refresh the WS token, then resend."""
    AUTH = "auth"
    PERMISSION = "permission"
    ACCOUNT = "account"
    """The account itself is restricted (disabled, unconfirmed, user locked, acquisition limit)."""
    LOCKOUT = "lockout"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    MARGIN = "margin"
    INVALID_ORDER = "invalid_order"
    ORDERS_LIMIT = "orders_limit"
    INVALID_ARGUMENTS = "invalid_arguments"
    INDEX_UNAVAILABLE = "index_unavailable"
    UNKNOWN_ASSET = "unknown_asset"
    UNKNOWN_ORDER = "unknown_order"
    FUNDING = "funding"
    MARKET_MODE = "market_mode"
    SERVICE_UNAVAILABLE = "service_unavailable"
    BUSY = "busy"
    INTERNAL = "internal"
    DEADLINE_ELAPSED = "deadline_elapsed"
    NETWORK = "network"
    """Timeout or connection failure: the request may or may not have reached Kraken."""
    GATEWAY = "gateway"
    """HTTP 5xx/520, a non-200 status or a non-JSON (Cloudflare HTML) body."""
    WARNING = "warning"
    """A ``W``-severity string: informational, not a failure."""
    UNKNOWN = "unknown"


class Severity(enum.StrEnum):
    """Ordered from mildest to worst; :func:`worse` picks the worst of a multi-error response.

    ``rejected`` outranks ``ambiguous``: if Kraken answered with a definitive rejection next
    to an internal error, the request was validated and refused, so nothing needs reconciling.
    """

    WARNING = "warning"
    TRANSIENT = "transient"
    AMBIGUOUS = "ambiguous"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    FATAL = "fatal"


_SEVERITY_RANK = {severity: rank for rank, severity in enumerate(Severity)}

_CATEGORY_SEVERITY: dict[ErrorCategory, Severity] = {
    ErrorCategory.WARNING: Severity.WARNING,
    ErrorCategory.RATE_LIMIT: Severity.TRANSIENT,
    ErrorCategory.THROTTLED: Severity.TRANSIENT,
    ErrorCategory.BUSY: Severity.TRANSIENT,
    ErrorCategory.SERVICE_UNAVAILABLE: Severity.TRANSIENT,
    ErrorCategory.DEADLINE_ELAPSED: Severity.TRANSIENT,
    ErrorCategory.SESSION_EXPIRED: Severity.TRANSIENT,
    ErrorCategory.NONCE: Severity.TRANSIENT,
    ErrorCategory.NETWORK: Severity.TRANSIENT,
    ErrorCategory.GATEWAY: Severity.TRANSIENT,
    ErrorCategory.INTERNAL: Severity.AMBIGUOUS,
    ErrorCategory.MARKET_MODE: Severity.REJECTED,
    ErrorCategory.INSUFFICIENT_FUNDS: Severity.REJECTED,
    ErrorCategory.MARGIN: Severity.REJECTED,
    ErrorCategory.INVALID_ORDER: Severity.REJECTED,
    ErrorCategory.ORDERS_LIMIT: Severity.REJECTED,
    ErrorCategory.INVALID_ARGUMENTS: Severity.REJECTED,
    ErrorCategory.INDEX_UNAVAILABLE: Severity.REJECTED,
    ErrorCategory.UNKNOWN_ASSET: Severity.REJECTED,
    ErrorCategory.UNKNOWN_ORDER: Severity.REJECTED,
    ErrorCategory.FUNDING: Severity.REJECTED,
    ErrorCategory.UNKNOWN: Severity.UNKNOWN,
    ErrorCategory.PERMISSION: Severity.FATAL,
    ErrorCategory.AUTH: Severity.FATAL,
    ErrorCategory.ACCOUNT: Severity.FATAL,
    ErrorCategory.LOCKOUT: Severity.FATAL,
}

# Within one severity the later category wins (lockout beats a plain auth error).
_CATEGORY_RANK = {category: rank for rank, category in enumerate(ErrorCategory)}

BREAKER_COUNTED = frozenset(
    {
        ErrorCategory.RATE_LIMIT,
        ErrorCategory.THROTTLED,
        ErrorCategory.BUSY,
        ErrorCategory.SERVICE_UNAVAILABLE,
        ErrorCategory.INTERNAL,
        ErrorCategory.DEADLINE_ELAPSED,
        ErrorCategory.NETWORK,
        ErrorCategory.GATEWAY,
        ErrorCategory.NONCE,
        ErrorCategory.AUTH,
        ErrorCategory.LOCKOUT,
    }
)
"""Failures that say something about Kraken's health or our standing with it. Client mistakes
(bad arguments, funds, unknown orders, permissions, market mode …) are answers from a healthy
service: they count as calls in the window but never as breaker failures."""

FAST_TRIP = frozenset(
    {
        ErrorCategory.BUSY,
        ErrorCategory.SERVICE_UNAVAILABLE,
        ErrorCategory.INTERNAL,
        ErrorCategory.NETWORK,
        ErrorCategory.GATEWAY,
        ErrorCategory.AUTH,
    }
)
"""Hard failures: ``consecutive_failures_to_trip`` of them in a row open the breaker at once.
Auth is here because repeating ``EAPI:Invalid key`` earns a 15-minute lockout."""

OUTAGE_SHAPED = frozenset({ErrorCategory.GATEWAY, ErrorCategory.NETWORK})
"""Failures at the front door (an HTML 5xx from the CDN, a refused or dead connection): the
exchange is unreachable, not one call unlucky. ``outage_failures_to_trip`` of them in a row
open the breaker, and every REST scope with it (they share the door). ``EService:*`` answers
come from Kraken itself and occur alone under load: they need the longer streak."""

REST_SCOPES = (SCOPE_PUBLIC, SCOPE_PRIVATE, SCOPE_TRADING)
"""The scopes behind the same REST front door (the WebSocket is another host)."""

FALLBACK_SCOPES = {SCOPE_WS_TRADING: SCOPE_TRADING}
"""Where the router sends a call while the scope's breaker is not CLOSED: orders go over REST
while the trading socket's breaker is open, so that breaker alone does not refuse a retry."""

_ACCOUNT_WIDE = frozenset({ErrorCategory.AUTH, ErrorCategory.LOCKOUT})


def severity_of(category: ErrorCategory) -> Severity:
    return _CATEGORY_SEVERITY[category]


def worse(a: ErrorCategory, b: ErrorCategory) -> ErrorCategory:
    """The worse of two categories: higher severity, then the later category in the enum."""
    key_a = (_SEVERITY_RANK[severity_of(a)], _CATEGORY_RANK[a])
    key_b = (_SEVERITY_RANK[severity_of(b)], _CATEGORY_RANK[b])
    return a if key_a >= key_b else b


def breaker_scopes(category: ErrorCategory, call_scope: str) -> tuple[str, ...]:
    """The breakers a failure feeds, the call's own scope first.

    Auth failures and lockouts concern the API key, which the private REST and the trading
    paths share, so they feed both as well as the call's scope.
    """
    if category in _ACCOUNT_WIDE:
        extra = tuple(s for s in (SCOPE_PRIVATE, SCOPE_TRADING) if s != call_scope)
        return (call_scope, *extra)
    return (call_scope,)
