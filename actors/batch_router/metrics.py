"""OpenTelemetry metrics of the batch router (no-ops until an SDK provider is installed)."""

from __future__ import annotations

from opentelemetry import metrics

from schemas import BatchCompleted

__all__ = ["record_batch"]

_meter = metrics.get_meter("galfriday.batch_router")
_batch_duration = _meter.create_histogram(
    "galfriday.batch.duration", unit="s", description="Time to complete a batch, by strategy."
)
_orders = _meter.create_counter(
    "galfriday.batch.orders", unit="{order}", description="Orders by strategy and outcome."
)


def record_batch(completed: BatchCompleted) -> None:
    strategy = completed.strategy.value
    _batch_duration.record(completed.duration_ns / 1e9, {"strategy": strategy})
    for outcome, count in (
        ("placed", completed.placed),
        ("rejected", completed.rejected),
        ("failed", completed.failed),
    ):
        if count:
            _orders.add(count, {"strategy": strategy, "outcome": outcome})
