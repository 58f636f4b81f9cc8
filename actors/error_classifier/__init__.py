"""The error-classifier actor's pure core: Kraken error taxonomy, retry verdicts, circuit
breakers and error statistics. No NATS and no network I/O here; the shell binds it to the bus."""

from actors.error_classifier.categories import (
    SCOPE_PRIVATE,
    SCOPE_PUBLIC,
    SCOPE_TRADING,
    SCOPE_WS,
    SCOPE_WS_TRADING,
    SCOPES,
    ErrorCategory,
    Severity,
)
from actors.error_classifier.circuit_breaker import BreakerSnapshot, CircuitBreaker
from actors.error_classifier.classifier import KrakenErrorClassifier
from actors.error_classifier.retry_policy import Action, DelayStrategy, backoff_delay
from actors.error_classifier.taxonomy import (
    Classification,
    ErrorMatch,
    classify_call,
    classify_error,
    classify_errors,
)

__all__ = [
    "SCOPES",
    "SCOPE_PRIVATE",
    "SCOPE_PUBLIC",
    "SCOPE_TRADING",
    "SCOPE_WS",
    "SCOPE_WS_TRADING",
    "Action",
    "BreakerSnapshot",
    "CircuitBreaker",
    "Classification",
    "DelayStrategy",
    "ErrorCategory",
    "ErrorMatch",
    "KrakenErrorClassifier",
    "Severity",
    "backoff_delay",
    "classify_call",
    "classify_error",
    "classify_errors",
]
