"""Decode → dispatch → ack/nak/dead-letter for one message. Shared by core and JetStream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from typing import Any

import msgspec
from nats.aio.msg import Msg
from opentelemetry import trace

from bus import telemetry
from bus.actor import Delivery, Handler, Subscription
from bus.codec import MESSAGES, encode
from bus.context import ERROR_CODE_HEADER, ERROR_HEADER, ActorContext, span_name
from bus.telemetry import TRACE_HEADER, extract_context, meter, tracer
from schemas import EventDeadLettered, Message

__all__ = ["MAX_PAYLOAD_BYTES", "Dispatcher"]

_LOGGER = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 256 * 1024
"""Events larger than this are dead-lettered unread: no event of ours comes near it."""

_DLQ_PAYLOAD_KEEP = 64 * 1024

_processed = meter.create_counter("messaging.process.messages", unit="{message}")
_dead_lettered = meter.create_counter("galfriday.bus.dead_lettered", unit="{message}")
_duration = meter.create_histogram("messaging.process.duration", unit="s")


class Dispatcher:
    def __init__(self, context: ActorContext, handlers: dict[type, Handler]) -> None:
        self.context = context
        self.handlers = handlers
        self.counts: Counter[str] = Counter()

    async def handle(self, msg: Msg, subscription: Subscription) -> None:
        headers = dict(msg.headers) if msg.headers else {}
        num_delivered = 1
        if subscription.consumer is not None:
            num_delivered = msg.metadata.num_delivered
        delivery = Delivery(
            subject=msg.subject,
            headers=headers,
            received_ns=self.context.clock(),
            num_delivered=num_delivered,
            reply=msg.reply if subscription.consumer is None else "",
        )
        if len(msg.data) > MAX_PAYLOAD_BYTES:
            await self._dead_letter(
                msg,
                delivery,
                subscription,
                f"payload of {len(msg.data)} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit",
            )
            return
        try:
            message = MESSAGES.decode(msg.data)
        except msgspec.DecodeError as e:
            await self._dead_letter(msg, delivery, subscription, f"undecodable payload: {e}")
            return
        handler = self.handlers.get(type(message))
        if handler is None:
            self.counts["ignored"] += 1
            if subscription.replies and delivery.reply:
                await self._reply_error(msg, "400", f"unsupported request {type(message).__name__}")
            if subscription.consumer is not None:
                await msg.ack()
            return
        if (
            subscription.consumer is None
            and not delivery.reply
            and not telemetry.state.exporting
            and TRACE_HEADER not in headers
        ):
            await self._run_plain(handler, message, msg)
            return
        await self._run(handler, message, msg, delivery, subscription)

    async def _run_plain(self, handler: Handler, message: Any, msg: Msg) -> None:
        """The hot path for high-rate core events: no span, ack or reply to manage."""
        try:
            await handler(message, Delivery(msg.subject, {}, self.context.clock()))
        except asyncio.CancelledError:
            raise
        except Exception:
            self.counts["handler_errors"] += 1
            _LOGGER.exception("bus.handler_failed subject=%s", msg.subject)
            return
        self.counts["processed"] += 1

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
            with tracer.start_as_current_span(
                span_name(subscription.subject, "process"),
                context=extract_context(delivery.headers),
                kind=trace.SpanKind.CONSUMER,
            ):
                result = await handler(message, delivery)
        except asyncio.CancelledError:
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
            await self.context.publish_durable(subject, event, msg_id=f"dlq-{msg.subject}-{now}")
        except Exception:
            _LOGGER.exception("bus.dead_letter_publish_failed")
            if subscription.consumer is not None:
                await msg.nak(delay=5.0)  # keep it rather than lose it
            return
        if subscription.consumer is not None:
            await msg.term()
        elif subscription.replies and delivery.reply:
            await self._reply_error(msg, "400", reason)

    async def _reply_error(self, msg: Msg, code: str, description: str) -> None:
        headers = {ERROR_HEADER: description[:500], ERROR_CODE_HEADER: code}
        await self.context.client.publish(msg.reply, b"", headers=headers)


async def _keep_in_progress(msg: Msg, every_s: float) -> None:
    """Tell JetStream we are still working so long handlers are not redelivered."""
    while True:
        await asyncio.sleep(every_s)
        with contextlib.suppress(Exception):
            await msg.in_progress()
