"""Failure vocabulary of the Kraken adapter: transport kinds and the one exception root.

The core client API returns failures as data (:class:`kraken.result.KrakenFailure`); the
exception types here are for programmer errors and for the optional raising helper.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

__all__ = [
    "KrakenCallError",
    "KrakenError",
    "MissingCredentialsError",
    "TransportError",
    "is_general_rate_limit",
    "is_trading_rate_limit",
]


class TransportError(enum.StrEnum):
    """Why a call failed when the failure was not a Kraken error string."""

    TIMEOUT = "timeout"
    CONNECTION = "connection"
    """Could not connect, or the connection broke; see ``outcome_unknown`` for which."""
    HTTP_5XX = "http_5xx"
    HTTP_STATUS = "http_status"
    """Any other non-200 status (a 4xx from a proxy or the edge)."""
    NON_JSON = "non_json"
    """The body is not JSON: an HTML error page or a truncated document."""
    BAD_SHAPE = "bad_shape"
    """JSON, but not Kraken's envelope or not the documented result shape."""
    NO_CREDENTIALS = "no_credentials"
    """A private call on a client without credentials; nothing was sent."""


class KrakenError(Exception):
    """Root of every exception raised by the ``kraken`` package."""


class MissingCredentialsError(KrakenError, ValueError):
    """Credentials are absent, incomplete, or stored in an unsafe file."""


class KrakenCallError(KrakenError):
    """Raised by ``KrakenFailure.raise_error()``; carries the failure's data."""

    def __init__(
        self,
        endpoint: str,
        errors: tuple[str, ...],
        transport_error: TransportError | None,
        outcome_unknown: bool,
    ) -> None:
        self.endpoint = endpoint
        self.errors = errors
        self.transport_error = transport_error
        self.outcome_unknown = outcome_unknown
        detail = ", ".join(errors) or (transport_error or "unknown failure")
        super().__init__(f"{endpoint} failed: {detail}")


_GENERAL_RATE_LIMIT_PREFIXES = (
    "EAPI:Rate limit exceeded",
    "EAuth:Rate limit exceeded",
    "EGeneral:Too many requests",
    "EService:Throttled",
    "EService: Throttled",
)
_TRADING_RATE_LIMIT_CODES = ("EOrder:Rate limit exceeded", "EOrder:Domain rate limit exceeded")


def is_general_rate_limit(errors: Iterable[str]) -> bool:
    """True when an error hits the REST call counter (matched by prefix, KRAKEN.md §2.6)."""
    return any(e.startswith(_GENERAL_RATE_LIMIT_PREFIXES) for e in errors)


def is_trading_rate_limit(errors: Iterable[str]) -> bool:
    """True when an error hits the per-pair (or per-account) trading counter."""
    return any(e.strip() in _TRADING_RATE_LIMIT_CODES for e in errors)
