"""OpenTelemetry, decided once: W3C trace context in NATS headers, spans per subject pattern,
messaging metrics. Exporters are off unless ``OTEL_TRACES_EXPORTER`` (or
``OTEL_EXPORTER_OTLP_ENDPOINT``) asks for one.

Spans are made only inside a trace: a message that arrives without a ``traceparent``, or a
publish outside any span (a price tick), makes none, so high-rate traffic starts no traces."""

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
    "messaging_attributes",
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


def messaging_attributes(
    subject: str, operation: str, message_id: str | None = None
) -> dict[str, str]:
    """OpenTelemetry messaging semantic conventions for one NATS message."""
    attributes = {
        "messaging.system": "nats",
        "messaging.destination.name": subject,
        "messaging.operation.type": operation,
    }
    if message_id:
        attributes["messaging.message.id"] = message_id
    return attributes


def _exporter_names() -> list[str]:
    """``OTEL_TRACES_EXPORTER`` (comma-separated: ``otlp``, ``console``, ``jsonl``, ``none``);
    unset means ``otlp`` when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, else nothing."""
    chosen = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not chosen:
        return ["otlp"] if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") else []
    return [name.strip() for name in chosen.split(",") if name.strip() not in ("", "none")]


def setup_telemetry(service_name: str) -> None:
    """Install the SDK and the exporters ``OTEL_TRACES_EXPORTER`` names (once per process).

    Without any, the no-op API providers stay: context still propagates through headers, and the
    hot path pays nothing for spans nobody collects. ``jsonl`` appends spans to
    ``GF_TRACES_FILE``; ``otlp`` needs the optional extra ``galfriday[otlp]``.
    """
    names = _exporter_names()
    if state.exporting or not names:
        return
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    resource = Resource.create({"service.name": service_name})
    tracer_provider = TracerProvider(resource=resource)
    readers = []
    for name in names:
        if name == "console":
            tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        elif name == "jsonl":
            from bus.span_file import JsonLinesSpanExporter

            path = os.environ.get("GF_TRACES_FILE", f"{service_name}-spans.jsonl")
            tracer_provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(path)))
        elif name == "otlp":
            try:  # the OTLP exporter is an optional extra, not a core dependency
                from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # type: ignore[import-not-found,unused-ignore]
                    OTLPMetricExporter,
                )
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
                    OTLPSpanExporter,
                )
                from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
            except ImportError:
                _LOGGER.warning("telemetry.exporter_missing: pip install 'galfriday[otlp]'")
                continue
            tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
        else:
            _LOGGER.warning("telemetry.unknown_exporter %s", name)
    trace.set_tracer_provider(tracer_provider)
    state.exporting = True
    if readers:
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
