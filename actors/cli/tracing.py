"""The trace of a submitted batch starts in the command line: one span, sent as `traceparent`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from opentelemetry import trace
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

from bus.context import span_name
from bus.jetstream import MSG_ID_HEADER
from bus.telemetry import inject_context, messaging_attributes, setup_telemetry, tracer

__all__ = ["traced_publish_headers"]


@contextlib.contextmanager
def traced_publish_headers(subject: str, msg_id: str) -> Iterator[dict[str, str]]:
    """Headers for a durable publish that starts a trace: the msg id and a ``traceparent``.

    With no exporter configured here the span is not recorded, but a trace id is still made up
    and sent, so the actors' spans of this batch share one trace wherever they are exported.
    """
    setup_telemetry("galfriday-cli")
    with tracer.start_as_current_span(
        span_name(subject, "publish"),
        kind=trace.SpanKind.PRODUCER,
        attributes=messaging_attributes(subject, "publish", msg_id),
    ) as span:
        if span.get_span_context().is_valid:
            yield inject_context({MSG_ID_HEADER: msg_id})
            return
        ids = RandomIdGenerator()
        made_up = trace.SpanContext(
            trace_id=ids.generate_trace_id(),
            span_id=ids.generate_span_id(),
            is_remote=False,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
        context = trace.set_span_in_context(trace.NonRecordingSpan(made_up))
        yield inject_context({MSG_ID_HEADER: msg_id}, context)
