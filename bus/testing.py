"""An in-memory bus with the actor-facing interface, for pure actor-logic tests.

It routes messages with NATS subject semantics (``*`` one token, ``>`` the tail), dedups durable
publishes by msg id like JetStream, and keeps every published message for assertions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from nats.js.errors import KeyNotFoundError

from bus.actor import Actor, Delivery, Handler, bound_handlers
from bus.clock import Clock, ManualClock
from bus.codec import MESSAGES, encode
from bus.subjects import Subjects
from schemas import AnyMessage, GalFridayConfig, Message

__all__ = ["MemoryBus", "MemoryKeyValue", "Published", "subject_matches"]


def subject_matches(pattern: str, subject: str) -> bool:
    pattern_tokens = pattern.split(".")
    subject_tokens = subject.split(".")
    for index, token in enumerate(pattern_tokens):
        if token == ">":
            return len(subject_tokens) > index
        if index >= len(subject_tokens) or (token != "*" and token != subject_tokens[index]):
            return False
    return len(subject_tokens) == len(pattern_tokens)


@dataclass(frozen=True)
class Published:
    subject: str
    message: AnyMessage
    msg_id: str | None


@dataclass
class _Entry:
    value: bytes | None
    revision: int


class MemoryKeyValue:
    """Just enough of a JetStream KV bucket: get/put/create/update with compare-and-set."""

    __test__ = False

    def __init__(self) -> None:
        self._data: dict[str, _Entry] = {}
        self._revision = 0

    async def get(self, key: str) -> _Entry:
        if key not in self._data:
            raise KeyNotFoundError(message=key)  # what a real bucket raises
        return self._data[key]

    async def put(self, key: str, value: bytes) -> int:
        self._revision += 1
        self._data[key] = _Entry(value, self._revision)
        return self._revision

    async def create(self, key: str, value: bytes) -> int:
        if key in self._data:
            raise ValueError(f"key {key!r} exists")
        return await self.put(key, value)

    async def update(self, key: str, value: bytes, last: int | None = None) -> int:
        current = self._data.get(key)
        if current is None or current.revision != last:
            raise ValueError(f"wrong last revision for {key!r}")
        return await self.put(key, value)

    async def keys(self) -> list[str]:
        return list(self._data)


Listener = Callable[[str, AnyMessage], Awaitable[Message | None]]
"""Receives each matching message; a returned message is the reply to a request."""


@dataclass
class MemoryBus:
    """Deliver messages to actors' ``on_<event>`` handlers without a server."""

    __test__ = False

    config: GalFridayConfig = field(default_factory=GalFridayConfig)
    clock: Clock = field(default_factory=ManualClock)
    published: list[Published] = field(default_factory=list)
    _listeners: list[tuple[str, Listener]] = field(default_factory=list)
    _seen_ids: set[str] = field(default_factory=set)
    _buckets: dict[str, MemoryKeyValue] = field(default_factory=dict)

    @property
    def subjects(self) -> Subjects:
        return Subjects(self.config.nats.subject_root)

    def context(self, actor_name: str) -> _MemoryContext:
        return _MemoryContext(self, actor_name)

    async def attach(self, actor: Actor) -> None:
        """Start the actor and route its subscriptions' subjects to its handlers."""
        await actor.start(self.context(actor.name))
        for subscription in actor.subscriptions(self.subjects):
            handlers = bound_handlers(actor, subscription)

            async def deliver(
                subject: str, message: AnyMessage, handlers: dict[type, Handler] = handlers
            ) -> Message | None:
                handler = handlers.get(type(message))
                if handler is None:
                    return None
                return await handler(message, Delivery(subject, {}, self.clock()))

            self.subscribe(subscription.subject, deliver)

    def subscribe(self, pattern: str, listener: Listener) -> None:
        self._listeners.append((pattern, listener))

    async def publish(
        self, subject: str, message: msgspec.Struct, msg_id: str | None = None
    ) -> bool:
        """Returns False when the msg id was seen before (the message is dropped)."""
        if msg_id is not None:
            if msg_id in self._seen_ids:
                return False
            self._seen_ids.add(msg_id)
        decoded = MESSAGES.decode(encode(message))  # what a real subscriber would see
        self.published.append(Published(subject, decoded, msg_id))
        for pattern, listener in list(self._listeners):
            if subject_matches(pattern, subject):
                await listener(subject, decoded)
        return True

    async def request(self, subject: str, message: msgspec.Struct, timeout: float) -> AnyMessage:
        decoded = MESSAGES.decode(encode(message))
        for pattern, listener in list(self._listeners):
            if subject_matches(pattern, subject):
                reply = await asyncio.wait_for(listener(subject, decoded), timeout)
                if reply is not None:
                    return MESSAGES.decode(encode(reply))
        raise TimeoutError(f"no reply on {subject}")

    def of_type(self, message_type: type[Any]) -> list[Any]:
        return [p.message for p in self.published if isinstance(p.message, message_type)]

    def bucket(self, kind: str) -> MemoryKeyValue:
        return self._buckets.setdefault(kind, MemoryKeyValue())


class _MemoryContext:
    def __init__(self, bus: MemoryBus, actor_name: str) -> None:
        self._bus = bus
        self.actor_name = actor_name
        self.config = bus.config
        self.subjects = bus.subjects
        self.clock = bus.clock

    async def publish(
        self, subject: str, message: msgspec.Struct, headers: dict[str, str] | None = None
    ) -> None:
        await self._bus.publish(subject, message)

    async def publish_durable(
        self, subject: str, message: msgspec.Struct, *, msg_id: str, timeout: float = 5.0
    ) -> object:
        return await self._bus.publish(subject, message, msg_id=msg_id)

    async def publish_durable_many(
        self, messages: Sequence[tuple[str, msgspec.Struct, str]], *, timeout: float = 5.0
    ) -> list[object]:
        return [
            await self._bus.publish(subject, message, msg_id=msg_id)
            for subject, message, msg_id in messages
        ]

    async def request(self, subject: str, message: msgspec.Struct, timeout: float) -> AnyMessage:
        return await self._bus.request(subject, message, timeout)

    async def last_stored(self, stream_kind: str, subject: str) -> bytes | None:
        for published in reversed(self._bus.published):
            if published.subject == subject:
                return encode(published.message)
        return None

    async def key_value(self, kind: str) -> MemoryKeyValue:
        return self._bus.bucket(kind)
