"""The interface actors program against; the NATS context and the in-memory bus both fit it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import msgspec

from bus.clock import Clock
from bus.subjects import Subjects
from schemas import AnyMessage, GalFridayConfig

__all__ = ["BusContext", "KeyValueEntry", "KeyValueStore"]


class KeyValueEntry(Protocol):
    @property
    def value(self) -> bytes | None: ...

    @property
    def revision(self) -> int | None: ...


class KeyValueStore(Protocol):
    async def get(self, key: str) -> Any: ...

    async def put(self, key: str, value: bytes) -> int: ...

    async def create(self, key: str, value: bytes) -> int: ...

    async def update(self, key: str, value: bytes, last: int | None = None) -> int: ...

    async def keys(self) -> list[str]: ...


class BusContext(Protocol):
    actor_name: str
    config: GalFridayConfig
    subjects: Subjects
    clock: Clock

    async def publish(
        self, subject: str, message: msgspec.Struct, headers: dict[str, str] | None = None
    ) -> None: ...

    async def publish_durable(
        self, subject: str, message: msgspec.Struct, *, msg_id: str, timeout: float = 5.0
    ) -> object: ...

    async def publish_durable_many(
        self, messages: Sequence[tuple[str, msgspec.Struct, str]], *, timeout: float = 5.0
    ) -> Sequence[object]:
        """Several ``(subject, message, msg_id)`` durably, pipelined; returns once all are
        stored, raises if any is not."""

    async def request(
        self, subject: str, message: msgspec.Struct, timeout: float
    ) -> AnyMessage: ...

    async def key_value(self, kind: str) -> KeyValueStore: ...

    async def last_stored(self, stream_kind: str, subject: str) -> bytes | None:
        """The payload of the latest message on ``subject`` in the stream of that kind
        (``None`` if there is none); what the bus last saw, whatever KV says."""
