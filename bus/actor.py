"""What an actor declares: its name, subscriptions and ``on_<event>`` handlers."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args

import msgspec

from schemas import AnyMessage, Message

if TYPE_CHECKING:
    from bus.ports import BusContext
    from bus.subjects import Subjects

__all__ = [
    "Actor",
    "Delivery",
    "Handler",
    "JetStreamConsumer",
    "Subscription",
    "bound_handlers",
    "handler_name",
    "handler_table",
]


@dataclass(frozen=True)
class JetStreamConsumer:
    """A durable pull consumer with explicit acks.

    Failed handlers are nak'ed with ``backoff_s[delivery - 1]`` (the last value repeats); after
    ``max_deliver`` deliveries the message is dead-lettered and terminated.
    """

    durable: str
    max_deliver: int = 5
    ack_wait_s: float = 30.0
    backoff_s: tuple[float, ...] = (0.5, 2.0, 5.0)
    deliver: Literal["all", "new", "last_per_subject"] = "all"
    """Where a newly created durable starts: the whole stream, only new messages, or the
    latest message of each subject (current state) and then new ones."""
    inactive_threshold_s: float | None = None
    """Let the server delete the consumer after this long without a client: for a consumer
    per instance (its name carries the instance id), which a killed process leaves behind."""


@dataclass(frozen=True)
class Subscription:
    subject: str
    accepts: tuple[type[Message], ...]
    """The message types this subject carries. Anything else arriving on it is dead-lettered
    (``unexpected_type_for_subject``), never handled: a handler is chosen by subject AND type."""
    consumer: JetStreamConsumer | None = None
    """``None`` means core NATS (at most once, lowest latency)."""
    queue: str | None = None
    concurrency: int = 1
    """Messages of this subscription handled at once; 1 keeps arrival order."""
    replies: bool = False
    """Request/reply endpoint: undecodable requests are answered with an error reply."""


class Delivery(msgspec.Struct, gc=False):
    """How a message arrived, for handlers that care (redelivery, headers, receive time).

    A Struct rather than a dataclass: one is built per message, and this is the cheapest.
    """

    subject: str
    headers: dict[str, str]
    received_ns: int
    num_delivered: int = 1
    reply: str = ""
    stream_seq: int = 0
    """The JetStream stream sequence (0 on core NATS): the same for every redelivery of one
    message, different for a second publish of the same content."""

    @property
    def redelivered(self) -> bool:
        return self.num_delivered > 1


Handler = Callable[[Any, Delivery], Awaitable[Message | None]]


def handler_name(message_type: type) -> str:
    """``PriceUpdated`` → ``on_price_updated``."""
    return "on_" + re.sub(r"(?<!^)(?=[A-Z])", "_", message_type.__name__).lower()


def bound_handlers(actor: object, subscription: Subscription) -> dict[type, Handler]:
    """The handlers of the types ``subscription`` accepts; a type without one is a bug."""
    table = handler_table(actor)
    missing = [t.__name__ for t in subscription.accepts if t not in table]
    if missing or not subscription.accepts:
        raise TypeError(
            f"subscription {subscription.subject!r} accepts {missing or 'nothing'} "
            f"without a {type(actor).__name__} handler"
        )
    return {message_type: table[message_type] for message_type in subscription.accepts}


def handler_table(actor: object) -> dict[type, Handler]:
    """Map each message type to the actor's ``on_<type>`` method, where it has one."""
    table: dict[type, Handler] = {}
    for message_type in get_args(AnyMessage):
        method = getattr(actor, handler_name(message_type), None)
        if method is not None:
            table[message_type] = method
    return table


@dataclass
class Actor:
    """Base for actors: override what you need. Handlers are ``async def on_<event>``."""

    name: ClassVar[str] = "actor"
    version: ClassVar[str] = "0.1.0"
    description: ClassVar[str] = ""
    _context: BusContext | None = field(default=None, init=False, repr=False)

    @property
    def context(self) -> BusContext:
        if self._context is None:
            raise RuntimeError(f"actor {self.name} is not running")
        return self._context

    def subscriptions(self, subjects: Subjects) -> Sequence[Subscription]:
        return ()

    async def start(self, context: BusContext) -> None:
        self._context = context

    async def stop(self) -> None:
        """Called after subscriptions stopped and in-flight handlers finished."""

    async def on_undeliverable(self, subject: str, payload: bytes, reason: str) -> None:
        """A message on one of our subjects was dead-lettered (already stored in the DLQ);
        override to answer its sender, e.g. reject a malformed request by its id."""

    def health(self) -> dict[str, Any]:
        return {}

    def stats(self) -> dict[str, Any]:
        return {}
