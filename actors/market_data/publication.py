"""Where each market-data event goes on the bus, and its deterministic dedup id."""

from __future__ import annotations

from dataclasses import dataclass

from bus.subjects import Subjects
from schemas.base import Event
from schemas.events import (
    BookUpdated,
    ExchangeStatusChanged,
    MarketSessionChanged,
    PriceRecovered,
    PriceStale,
    PriceUpdated,
    VolatilityUpdated,
)

__all__ = ["Route", "route_event"]


@dataclass(frozen=True, slots=True)
class Route:
    subject: str
    durable: bool
    """``False`` for quotes (core publish, high rate); ``True`` awaits the JetStream ack."""
    msg_id: str
    """Same event, same id: JetStream drops a re-published duplicate."""


def route_event(event: Event, subjects: Subjects) -> Route | None:
    """The subject and delivery of a market-data event; ``None`` for a type this actor never
    publishes."""
    tag = str(type(event).__struct_config__.tag)
    match event:
        case PriceUpdated():
            subject, key, durable = subjects.price(event.pair), event.pair, False
        case BookUpdated():
            subject, key, durable = subjects.book(event.pair), event.pair, False
        case PriceStale() | PriceRecovered():
            subject, key, durable = subjects.stale(event.pair), event.pair, True
        case VolatilityUpdated():
            subject = subjects.volatility(event.pair)
            key, durable = f"{event.pair}:{event.timeframe}:{event.bar_close_ns}", True
        case MarketSessionChanged():
            subject, key, durable = subjects.session(), ",".join(event.active), True
        case ExchangeStatusChanged():
            subject = subjects.exchange_status()
            key, durable = f"{event.exchange}:{event.status.value}:{event.source}", True
        case _:
            return None
    return Route(subject, durable, f"market-data:{tag}:{key}:{event.ts_event}:{event.ts_init}")
