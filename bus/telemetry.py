"""OpenTelemetry, decided once: W3C trace context in NATS headers, spans per subject pattern,
messaging metrics. Exporters are off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "TRACE_HEADER",
    "extract_context",
    "inject_context",
    "meter",
    "setup_telemetry",
    "state",
    "tracer",
]

_LOGGER = logging.getLogger(__name__)
_PROPAGATOR = TraceContextTextMapPropagator()

tracer = trace.get_tracer("galfriday.bus")
TRACE_HEADER = "traceparent"


class _State:
    exporting = False
    """True once an SDK provider is installed; until then spans are made only to carry an
    incoming trace context onwards."""


state = _State()
meter = metrics.get_meter("galfriday.bus")


def inject_context(headers: dict[str, str], context: Context | None = None) -> dict[str, str]:
    _PROPAGATOR.inject(headers, context=context or otel_context.get_current())
    return headers


def extract_context(headers: Mapping[str, str] | None) -> Context:
    return _PROPAGATOR.extract(dict(headers or {}))


def setup_telemetry(service_name: str) -> None:
    """Install SDK providers and OTLP exporters when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

    Without it the no-op API providers stay: context still propagates through headers, and the
    hot path pays nothing for spans nobody collects.
    """
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return
    resource = Resource.create({"service.name": service_name})
    tracer_provider = TracerProvider(resource=resource)
    readers = []
    try:  # the OTLP exporter is an optional extra, not a core dependency
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # type: ignore[import-not-found]
            OTLPMetricExporter,
        )
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
            OTLPSpanExporter,
        )
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    except ImportError:
        _LOGGER.warning(
            "telemetry.exporter_missing: pip install opentelemetry-exporter-otlp-proto-http"
        )
    trace.set_tracer_provider(tracer_provider)
    state.exporting = True
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
