"""What a running actor uses to talk to the bus: publish, publish durably, request, KV."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence

import msgspec
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue
from opentelemetry import trace

from bus.clock import Clock
from bus.codec import MESSAGES, encode
from bus.connection import ConnectionEvents
from bus.errors import HeadersTooLargeError, RequestFailedError
from bus.jetstream import MSG_ID_HEADER, ensure_key_value
from bus.publish_acks import PublishAcks
from bus.subjects import Subjects
from bus.telemetry import inject_context, messaging_attributes, tracer
from schemas import AnyMessage, GalFridayConfig

__all__ = [
    "ERROR_CODE_HEADER",
    "ERROR_HEADER",
    "MAX_HEADER_BYTES",
    "ActorContext",
    "span_name",
]

ERROR_HEADER = "Nats-Service-Error"
ERROR_CODE_HEADER = "Nats-Service-Error-Code"

MAX_HEADER_BYTES = 65_535
"""JetStream refuses to store a larger header block (error 10097); on a core publish the refusal
goes nowhere and the event is silently lost, so publishing checks first."""


def _check_header_size(subject: str, headers: dict[str, str]) -> None:
    # The wire block: "NATS/1.0\r\n", "name: value\r\n" per header, then "\r\n".
    size = 12 + sum(len(k.encode()) + len(v.encode()) + 4 for k, v in headers.items())
    if size > MAX_HEADER_BYTES:
        raise HeadersTooLargeError(subject, size, MAX_HEADER_BYTES)


def span_name(subject: str, action: str) -> str:
    """Pair tokens are the only upper-case tokens; hiding them keeps span names low-cardinality."""
    pattern = ".".join("*" if token != token.lower() else token for token in subject.split("."))
    return f"{pattern} {action}"


@contextlib.contextmanager
def _producer_span(
    subject: str,
    operation: str,
    message_id: str | None = None,
    *,
    kind: trace.SpanKind = trace.SpanKind.PRODUCER,
) -> Iterator[None]:
    """A span for an outgoing message, only inside a trace (price ticks start none)."""
    if not trace.get_current_span().get_span_context().is_valid:
        yield
        return
    with tracer.start_as_current_span(
        span_name(subject, operation),
        kind=kind,
        attributes=messaging_attributes(subject, operation, message_id),
    ):
        yield


class ActorContext:
    def __init__(
        self,
        *,
        actor_name: str,
        client: Client,
        config: GalFridayConfig,
        subjects: Subjects,
        clock: Clock,
        connection: ConnectionEvents,
    ) -> None:
        self.actor_name = actor_name
        self.client = client
        self.jetstream: JetStreamContext = client.jetstream()
        self._acks = PublishAcks(client)
        self.config = config
        self.subjects = subjects
        self.clock = clock
        self.connection = connection
        self._buckets: dict[str, KeyValue] = {}

    def _headers(self, subject: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if trace.get_current_span().get_span_context().is_valid:
            inject_context(headers)
        if extra:
            _check_header_size(subject, headers)
        return headers

    async def publish(
        self, subject: str, message: msgspec.Struct, headers: dict[str, str] | None = None
    ) -> None:
        """Core NATS publish: fire and forget (a stream on the subject still stores it)."""
        with _producer_span(subject, "publish"):
            await self.client.publish(
                subject, encode(message), headers=self._headers(subject, headers) or None
            )

    async def publish_durable(
        self, subject: str, message: msgspec.Struct, *, msg_id: str, timeout: float = 5.0
    ) -> PubAck:
        """JetStream publish that returns once stored; the msg id makes repeats harmless."""
        acks = await self.publish_durable_many([(subject, message, msg_id)], timeout=timeout)
        return acks[0]

    async def publish_durable_many(
        self, messages: Sequence[tuple[str, msgspec.Struct, str]], *, timeout: float = 5.0
    ) -> list[PubAck]:
        """JetStream publishes of ``(subject, message, msg_id)``, pipelined: all are sent, in
        order, then their acks are awaited together (one wait, not one round trip each).
        Returns once every one is stored; raises if any is not (some may be)."""
        acks: list[asyncio.Future[PubAck]] = []
        try:
            for subject, message, msg_id in messages:
                with _producer_span(subject, "publish", msg_id):
                    acks.append(
                        await self._acks.publish(
                            subject,
                            encode(message),
                            self._headers(subject, {MSG_ID_HEADER: msg_id}),
                        )
                    )
            async with asyncio.timeout(timeout):
                return list(await asyncio.gather(*acks))
        finally:
            for ack in acks:
                if not ack.done():
                    ack.cancel()
                elif not ack.cancelled():
                    ack.exception()  # gather raised the first failure; the rest are seen

    async def request(self, subject: str, message: msgspec.Struct, timeout: float) -> AnyMessage:
        """Request/reply; raises ``TimeoutError`` when nobody answers in time."""
        try:
            with _producer_span(subject, "send", kind=trace.SpanKind.CLIENT):
                reply = await self.client.request(
                    subject,
                    encode(message),
                    timeout=timeout,
                    headers=self._headers(subject) or None,
                )
        except Exception as e:  # nats raises its own TimeoutError / NoRespondersError
            raise TimeoutError(f"no reply on {subject}: {type(e).__name__}") from e
        headers = reply.headers or {}
        if ERROR_HEADER in headers:
            raise RequestFailedError(
                subject, headers.get(ERROR_CODE_HEADER, "500"), headers[ERROR_HEADER]
            )
        return MESSAGES.decode(reply.data)

    async def last_stored(self, stream_kind: str, subject: str) -> bytes | None:
        try:
            stored = await self.jetstream.get_last_msg(
                self.subjects.stream_name(stream_kind), subject
            )
        except NotFoundError:
            return None
        return stored.data

    async def key_value(self, kind: str) -> KeyValue:
        bucket = self.subjects.bucket_name(kind)
        if bucket not in self._buckets:
            self._buckets[bucket] = await ensure_key_value(
                self.jetstream, bucket, replicas=self.config.nats.stream_replicas
            )
        return self._buckets[bucket]
