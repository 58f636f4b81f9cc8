"""Kraken ticker data (WS v2 ``ticker`` updates, REST ``Ticker`` entries) → ``PriceUpdated``."""

from __future__ import annotations

from datetime import UTC, datetime

from kraken.models import TickerInfo
from kraken.ws import TickerUpdate
from schemas.events import PriceSource, PriceUpdated

__all__ = ["parse_exchange_time_ns", "price_from_rest_ticker", "price_from_ws_ticker"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_US = 1_000


def parse_exchange_time_ns(text: str | None) -> int | None:
    """RFC 3339 (``2025-11-25T17:49:04.123456Z``) → Unix ns; ``None`` if absent or unreadable."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    delta = moment - _EPOCH
    # Integer arithmetic: a float timestamp would lose the microseconds.
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return micros * _NS_PER_US


def price_from_ws_ticker(update: TickerUpdate, now_ns: int) -> PriceUpdated:
    """A WS v2 ticker update as a quote; ``ts_event`` is the exchange time when Kraken sent one."""
    exchange_ns = parse_exchange_time_ns(update.timestamp)
    return PriceUpdated(
        ts_event=exchange_ns if exchange_ns is not None else (update.received_ns or now_ns),
        ts_init=now_ns,
        pair=update.symbol,
        bid=update.bid,
        ask=update.ask,
        last=update.last,
        bid_size=update.bid_qty,
        ask_size=update.ask_qty,
        volume_24h=update.volume,
        vwap_24h=update.vwap,
        source=PriceSource.WS,
        exchange_ts_ns=exchange_ns,
    )


def price_from_rest_ticker(pair: str, info: TickerInfo, now_ns: int) -> PriceUpdated:
    """A REST Ticker entry as a quote for ``pair`` (the v2 symbol). REST carries no exchange
    time, so ``ts_event`` is the receive time and ``exchange_ts_ns`` stays ``None``."""
    return PriceUpdated(
        ts_event=now_ns,
        ts_init=now_ns,
        pair=pair,
        bid=info.b[0],
        ask=info.a[0],
        last=info.c[0],
        bid_size=info.b[2],
        ask_size=info.a[2],
        volume_24h=info.v[1],
        vwap_24h=info.p[1],
        source=PriceSource.REST,
    )
