"""Decode → dispatch → ack/nak/dead-letter for one message. Shared by core and JetStream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import msgspec
from nats.aio.msg import Msg
from opentelemetry import trace

from bus import telemetry
from bus.actor import Delivery, Handler, Subscription
from bus.codec import MESSAGES, encode
from bus.context import ERROR_CODE_HEADER, ERROR_HEADER, ActorContext, span_name
from bus.errors import WorkHandedOver
from bus.hardened_client import MALFORMED_HEADERS_HEADER
from bus.jetstream import MSG_ID_HEADER
from bus.telemetry import TRACE_HEADER, extract_context, messaging_attributes, meter, tracer
from schemas import Event, EventDeadLettered, Message
from schemas.bounds import BOUNDED_TYPES, bound_violation

__all__ = ["MAX_FUTURE_SKEW_NS", "MAX_PAYLOAD_BYTES", "Dispatcher", "Route", "Undeliverable"]

_LOGGER = logging.getLogger(__name__)
_decode = MESSAGES.decode_msgpack

MAX_PAYLOAD_BYTES = 256 * 1024
"""Events larger than this are dead-lettered unread: no event of ours comes near it."""
_MAX = MAX_PAYLOAD_BYTES
_NO_HEADERS: dict[str, str] = {}
"""Shared by plain deliveries, which by definition carry no headers; handlers only read it."""

_DLQ_PAYLOAD_KEEP = 64 * 1024

MAX_FUTURE_SKEW_NS = 300 * 1_000_000_000
"""An event stamped further ahead of our clock than this is a forgery or a broken clock:
dead-lettered, so that no state can be pinned by a timestamp far in the future."""

UNEXPECTED_TYPE = "unexpected_type_for_subject"
IMPLAUSIBLE_TIMESTAMP = "implausible_timestamp"

Undeliverable = Callable[[str, bytes, str], Awaitable[None]]
"""Told of every dead-lettered message (subject, payload, reason), e.g. to answer its sender."""


class Route:
    """One subscription bound to the handlers of exactly the types it accepts."""

    __slots__ = ("handler_of", "handlers", "subscription", "timestamped")

    def __init__(self, subscription: Subscription, handlers: dict[type, Handler]) -> None:
        self.subscription = subscription
        self.handlers = handlers
        self.handler_of = handlers.get
        self.timestamped = all(issubclass(t, Event) for t in handlers)


_processed = meter.create_counter("messaging.process.messages", unit="{message}")
_dead_lettered = meter.create_counter("galfriday.bus.dead_lettered", unit="{message}")
_duration = meter.create_histogram("messaging.process.duration", unit="s")


@contextlib.contextmanager
def _consumer_span(subscription: Subscription, delivery: Delivery) -> Iterator[None]:
    """A span per handled message that arrived inside a trace; none for the rest."""
    if TRACE_HEADER not in delivery.headers:
        yield
        return
    attributes = messaging_attributes(
        delivery.subject, "process", delivery.headers.get(MSG_ID_HEADER)
    )
    group = subscription.queue or (subscription.consumer and subscription.consumer.durable)
    if group:
        attributes["messaging.consumer.group.name"] = group
    with tracer.start_as_current_span(
        span_name(subscription.subject, "process"),
        context=extract_context(delivery.headers),
        kind=trace.SpanKind.CONSUMER,
        attributes=attributes,
    ):
        yield


class Dispatcher:
    def __init__(
        self, context: ActorContext, *, on_undeliverable: Undeliverable | None = None
    ) -> None:
        self.context = context
        self.on_undeliverable = on_undeliverable
        self.counts: Counter[str] = Counter()
        self.processed_plain = 0
        """Kept apart from ``counts`` because a Counter update costs throughput per message."""
        self.in_order_busy = 0
        """Handlers running inline in a subscription's own task (see ``handle_in_order``)."""
        self.accepting = True
        self._clock = context.clock

    def message_counts(self) -> dict[str, int]:
        counts = dict(self.counts)
        counts["processed"] = counts.get("processed", 0) + self.processed_plain
        return counts

    async def handle_in_order(self, msg: Msg, route: Route) -> None:
        """A request/reply subscription's callback when its messages are handled one at a time
        inside the subscription's task; the runtime's drain waits for ``in_order_busy == 0``."""
        if not self.accepting:
            return
        self.in_order_busy += 1
        try:
            await self.handle(msg, route)
        finally:
            self.in_order_busy -= 1

    async def handle_plain(self, msg: Msg, route: Route) -> None:
        """The hot path for high-rate core events: no reply, no headers, no tracing to carry.

        Also the in-order callback of event subscriptions (one coroutine frame fewer per
        message), so it keeps ``in_order_busy`` for the drain. Everything else, and anything odd
        about the message, goes through :meth:`handle`.
        """
        if not self.accepting:
            return
        self.in_order_busy += 1
        try:
            data = msg.data
            if msg.reply or msg.headers or telemetry.state.exporting or len(data) > _MAX:
                await self.handle(msg, route)
                return
            try:
                message = _decode(data)
            except Exception:  # DecodeError, RecursionError on deep nesting, ...: the slow path
                await self.handle(msg, route)  # dead-letters it with the reason
                return
            handler = route.handler_of(type(message))
            now = self._clock()
            if (
                handler is None
                or (route.timestamped and message.ts_event > now + MAX_FUTURE_SKEW_NS)
                or (type(message) in BOUNDED_TYPES and bound_violation(message) is not None)
            ):
                await self.handle(msg, route)
                return
            try:
                await handler(message, Delivery(msg.subject, _NO_HEADERS, now))
            except asyncio.CancelledError:
                raise
            except Exception:
                self.counts["handler_errors"] += 1
                _LOGGER.exception("bus.handler_failed subject=%s", msg.subject)
                return
            self.processed_plain += 1
        finally:
            self.in_order_busy -= 1

    async def handle(self, msg: Msg, route: Route) -> None:
        subscription = route.subscription
        received_ns = self.context.clock()
        data = msg.data
        message: Any = None
        problem = ""
        headers = msg.headers
        if headers and MALFORMED_HEADERS_HEADER in headers:
            problem = f"malformed header block: {headers[MALFORMED_HEADERS_HEADER]}"
        elif len(data) > MAX_PAYLOAD_BYTES:
            problem = f"payload of {len(data)} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit"
        else:
            try:
                message = MESSAGES.decode(data)
            except msgspec.DecodeError as e:
                problem = f"undecodable payload: {e}"
            except Exception as e:  # RecursionError (deep nesting), MemoryError, ...
                problem = f"undecodable payload: {type(e).__name__}"
        handler = None if problem else route.handler_of(type(message))
        if not problem and handler is None:
            problem = f"{UNEXPECTED_TYPE}: {type(message).__name__} on {msg.subject}"
        if not problem and isinstance(message, Event):
            ahead_ns = message.ts_event - received_ns
            if ahead_ns > MAX_FUTURE_SKEW_NS:
                problem = f"{IMPLAUSIBLE_TIMESTAMP}: ts_event {ahead_ns} ns ahead of receive time"
        delivery = Delivery(
            subject=msg.subject,
            headers=dict(headers) if headers else {},
            received_ns=received_ns,
            num_delivered=_num_delivered(msg) if subscription.consumer is not None else 1,
            reply=msg.reply if subscription.consumer is None else "",
            stream_seq=_stream_seq(msg) if subscription.consumer is not None else 0,
        )
        if problem or handler is None:
            await self._dead_letter(msg, delivery, subscription, problem)
            return
        await self._run(handler, message, msg, delivery, subscription)

    async def _run(
        self,
        handler: Handler,
        message: Any,
        msg: Msg,
        delivery: Delivery,
        subscription: Subscription,
    ) -> None:
        started = time.perf_counter()
        heartbeat = None
        if subscription.consumer is not None:
            heartbeat = asyncio.create_task(
                _keep_in_progress(msg, subscription.consumer.ack_wait_s / 3)
            )
        try:
            with _consumer_span(subscription, delivery):
                result = await handler(message, delivery)
        except WorkHandedOver as e:
            _LOGGER.info("bus.handed_over subject=%s reason=%s", msg.subject, e)
            return
        except asyncio.CancelledError:
            if subscription.consumer is not None:
                # Stopped mid-work: hand the message back now rather than after ack_wait.
                with contextlib.suppress(Exception):
                    await asyncio.shield(msg.nak())
            raise
        except Exception as e:
            self.counts["handler_errors"] += 1
            _LOGGER.exception("bus.handler_failed subject=%s", msg.subject)
            await self._after_failure(msg, delivery, subscription, e)
            return
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat
        self.counts["processed"] += 1
        _processed.add(1)
        _duration.record(time.perf_counter() - started)
        if subscription.consumer is not None:
            await msg.ack()
        elif delivery.reply and isinstance(result, Message):
            await msg.respond(encode(result))

    async def _after_failure(
        self, msg: Msg, delivery: Delivery, subscription: Subscription, error: Exception
    ) -> None:
        consumer = subscription.consumer
        if consumer is None:
            if delivery.reply:
                await self._reply_error(msg, "500", f"{type(error).__name__}: {error}")
            return
        if delivery.num_delivered >= consumer.max_deliver:
            await self._dead_letter(
                msg,
                delivery,
                subscription,
                f"handler failed {delivery.num_delivered} times: {type(error).__name__}: {error}",
            )
            return
        delays = consumer.backoff_s or (1.0,)
        await msg.nak(delay=delays[min(delivery.num_delivered, len(delays)) - 1])

    async def _dead_letter(
        self, msg: Msg, delivery: Delivery, subscription: Subscription, reason: str
    ) -> None:
        self.counts["dead_lettered"] += 1
        _dead_lettered.add(1)
        _LOGGER.warning("bus.dead_lettered subject=%s reason=%s", msg.subject, reason[:200])
        now = self.context.clock()
        event = EventDeadLettered(
            ts_event=delivery.received_ns,
            ts_init=now,
            actor=self.context.actor_name,
            subject=msg.subject,
            reason=reason,
            payload=bytes(msg.data[:_DLQ_PAYLOAD_KEEP]),
            headers=delivery.headers,
        )
        subject = self.context.subjects.dlq(self.context.actor_name)
        try:
            await self.context.publish_durable(
                subject, event, msg_id=f"dlq-{self.context.actor_name}-{msg.subject}-{now}"
            )
        except Exception:
            _LOGGER.exception("bus.dead_letter_publish_failed")
            if subscription.consumer is not None:
                await msg.nak(delay=5.0)  # keep it rather than lose it
            return
        if subscription.consumer is not None:
            await msg.term()
        elif subscription.replies and delivery.reply:
            await self._reply_error(msg, "400", reason)
        if self.on_undeliverable is not None:
            try:
                await self.on_undeliverable(msg.subject, bytes(msg.data), reason)
            except Exception:
                _LOGGER.exception("bus.undeliverable_hook_failed subject=%s", msg.subject)

    async def _reply_error(self, msg: Msg, code: str, description: str) -> None:
        headers = {ERROR_HEADER: description[:500], ERROR_CODE_HEADER: code}
        await self.context.client.publish(msg.reply, b"", headers=headers)


def _num_delivered(msg: Msg) -> int:
    """JetStream's delivery count; a message without readable metadata counts as the first."""
    try:
        return int(msg.metadata.num_delivered)
    except Exception:
        return 1


def _stream_seq(msg: Msg) -> int:
    """The message's JetStream stream sequence; 0 when its metadata cannot be read."""
    try:
        return int(msg.metadata.sequence.stream)
    except Exception:
        return 0


async def _keep_in_progress(msg: Msg, every_s: float) -> None:
    """Tell JetStream we are still working so long handlers are not redelivered."""
    while True:
        await asyncio.sleep(every_s)
        with contextlib.suppress(Exception):
            await msg.in_progress()
