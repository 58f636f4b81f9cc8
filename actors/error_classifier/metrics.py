"""OpenTelemetry metrics of the error classifier (no-ops until an SDK provider is installed)."""

from __future__ import annotations

from opentelemetry import metrics

from actors.error_classifier.taxonomy import classify_call
from schemas import CircuitBreakerStateChanged, KrakenCallFailed, KrakenCallSucceeded

__all__ = ["record_breaker_transition", "record_call"]

_meter = metrics.get_meter("galfriday.error_classifier")
_call_duration = _meter.create_histogram(
    "galfriday.kraken.call.duration", unit="s", description="Kraken call latency by outcome."
)
_errors = _meter.create_counter(
    "galfriday.kraken.errors", unit="{error}", description="Failed Kraken calls by category."
)
_transitions = _meter.create_counter(
    "galfriday.breaker.transitions", unit="{transition}", description="Breaker state changes."
)


def record_call(event: KrakenCallSucceeded | KrakenCallFailed) -> None:
    attributes = {"endpoint": event.endpoint, "scope": event.scope}
    if isinstance(event, KrakenCallFailed):
        category = classify_call(event).category.value
        _errors.add(1, {**attributes, "category": category})
        _call_duration.record(event.latency_ns / 1e9, {**attributes, "outcome": "failed"})
    else:
        _call_duration.record(event.latency_ns / 1e9, {**attributes, "outcome": "succeeded"})


def record_breaker_transition(change: CircuitBreakerStateChanged) -> None:
    _transitions.add(1, {"scope": change.scope, "state": change.state.value})
