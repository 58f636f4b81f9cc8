"""Client spans for Kraken HTTP calls, only inside an existing trace (a batch's): the public
polls market-data makes every second would otherwise each start a trace of their own."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

__all__ = ["http_client_span", "record_response"]

_tracer = trace.get_tracer("galfriday.kraken")


@contextlib.contextmanager
def http_client_span(method: str, url: str, endpoint: str) -> Iterator[Span | None]:
    if not trace.get_current_span().get_span_context().is_valid:
        yield None
        return
    parts = urlsplit(url)
    attributes: dict[str, str | int] = {
        "http.request.method": method,
        "url.path": parts.path,
        "url.scheme": parts.scheme,
        "server.address": parts.hostname or "",
        "kraken.endpoint": endpoint,
    }
    if parts.port is not None:
        attributes["server.port"] = parts.port
    with _tracer.start_as_current_span(
        f"{method} {parts.path}", kind=SpanKind.CLIENT, attributes=attributes
    ) as span:
        yield span


def record_response(span: Span | None, status: int | None, transport_error: str | None) -> None:
    if span is None:
        return
    if status is not None:
        span.set_attribute("http.response.status_code", status)
    if transport_error is not None:
        span.set_attribute("error.type", transport_error)
        span.set_status(Status(StatusCode.ERROR, transport_error))
    elif status is not None and status >= 400:
        span.set_attribute("error.type", str(status))
        span.set_status(Status(StatusCode.ERROR))
