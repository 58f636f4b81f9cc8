"""JetStream publishes whose acks are awaited later: one reply subscription for all of them.

nats-py's ``publish_async`` costs about twice the CPU of the publish itself per message (a task
per message for its stall semaphore, a fresh NUID per reply subject, the ack parsed with
``json`` into a dataclass built by introspection). A batch's 50 outcome events are published
together on the router's critical path, so here the reply subjects are a counter under one
inbox, the acks are decoded by msgspec, and nothing is spawned per message.

What an ack means is JetStream's: a ``PubAck`` once stored (``duplicate`` when the message id
was seen within the stream's duplicate window), ``APIError`` when the stream refused it,
``NoStreamResponseError`` when no stream takes the subject (the server answers 503).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import PubAck
from nats.js.errors import APIError, NoStreamResponseError

__all__ = ["PublishAcks"]

_NO_RESPONDERS = "503"
_SWEEP_AT = 1024
"""Unanswered acks (timed out, cancelled) are dropped once this many are waiting."""


class _Ack(msgspec.Struct):
    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    domain: str | None = None
    error: dict[str, Any] | None = None


_decode_ack = msgspec.json.Decoder(_Ack).decode


class PublishAcks:
    """Pipelined JetStream publishes on ``client``: :meth:`publish` sends and returns the
    future of its ack; the caller awaits it (with its own timeout) or cancels it."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._prefix = ""
        self._tokens = itertools.count()
        self._waiting: dict[str, asyncio.Future[PubAck]] = {}
        self._subscribed = asyncio.Lock()

    async def publish(
        self, subject: str, payload: bytes, headers: dict[str, str] | None = None
    ) -> asyncio.Future[PubAck]:
        """Send ``payload`` to ``subject``; the future resolves with its ack (or the refusal)."""
        if not self._prefix:
            await self._subscribe()
        if len(self._waiting) >= _SWEEP_AT:
            self._sweep()
        token = str(next(self._tokens))
        future: asyncio.Future[PubAck] = asyncio.get_running_loop().create_future()
        self._waiting[token] = future
        try:
            await self._client.publish(
                subject, payload, reply=self._prefix + token, headers=headers
            )
        except BaseException:
            del self._waiting[token]
            raise
        return future

    @property
    def waiting(self) -> int:
        """Acks sent for and not yet answered (including abandoned ones not swept yet)."""
        return len(self._waiting)

    async def _subscribe(self) -> None:
        async with self._subscribed:
            if self._prefix:
                return
            prefix = self._client.new_inbox() + "."
            await self._client.subscribe(prefix + "*", cb=self._on_ack)
            self._prefix = prefix

    async def _on_ack(self, msg: Msg) -> None:
        future = self._waiting.pop(msg.subject[len(self._prefix) :], None)
        if future is None or future.done():
            return
        if msg.headers and msg.headers.get("Status") == _NO_RESPONDERS:
            future.set_exception(NoStreamResponseError())
            return
        try:
            ack = _decode_ack(msg.data)
        except msgspec.DecodeError as e:
            future.set_exception(APIError(description=f"unreadable publish ack: {e}"))
            return
        if ack.error is not None:
            future.set_exception(_refusal(ack.error))
            return
        future.set_result(
            PubAck(stream=ack.stream, seq=ack.seq, domain=ack.domain, duplicate=ack.duplicate)
        )

    def _sweep(self) -> None:
        for token in [token for token, future in self._waiting.items() if future.done()]:
            del self._waiting[token]


def _refusal(error: dict[str, Any]) -> APIError:
    """The stream's refusal as nats-py's ``APIError`` (its ``from_error`` raises, and chokes on
    fields it does not know)."""

    def number(name: str) -> int | None:
        value = error.get(name)
        return value if isinstance(value, int) else None

    description = error.get("description")
    return APIError(
        code=number("code"),
        err_code=number("err_code"),
        description=description if isinstance(description, str) else None,
    )
