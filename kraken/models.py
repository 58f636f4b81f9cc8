"""Typed Kraken REST results and their decoders (KRAKEN.md §3).

Kraken's types drift between docs and the wire: numbers arrive as strings or JSON numbers,
``count``/``last``/``userref`` as strings or ints, ``opentm`` as a string or a number. Decoding
uses msgspec's lax mode (``strict=False``), which accepts a numeric string where an int is
declared, and ``Decimal`` fields, which accept both strings and numbers and keep the exact digits.
Unknown fields are ignored so new Kraken fields never break a decoder.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

import msgspec

__all__ = [
    "AddOrderBatchResult",
    "AddOrderResult",
    "AssetPair",
    "BatchOrderEntry",
    "CancelAllOrdersAfterResult",
    "CancelResult",
    "ClosedOrdersResult",
    "Envelope",
    "OhlcBar",
    "OhlcResult",
    "OpenOrdersResult",
    "OrderDescription",
    "OrderInfo",
    "ServerTime",
    "SystemStatus",
    "TickerInfo",
    "WebSocketsToken",
    "decode_envelope",
    "decode_ohlc",
    "decode_result",
]

T = TypeVar("T")


class _Result(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Envelope(msgspec.Struct, frozen=True):
    """Every REST response: ``error`` (may be the only key on failure) and ``result``."""

    error: list[str]
    result: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)
    """Empty (``len() == 0``) when the response has no ``result``."""


class ServerTime(_Result, frozen=True, kw_only=True):
    unixtime: int
    rfc1123: str = ""


class SystemStatus(_Result, frozen=True, kw_only=True):
    status: str
    """``online``, ``maintenance``, ``cancel_only`` or ``post_only``."""
    timestamp: str = ""


class AssetPair(_Result, frozen=True, kw_only=True):
    altname: str
    wsname: str | None = None
    base: str = ""
    quote: str = ""
    pair_decimals: int = 8
    cost_decimals: int = 8
    lot_decimals: int = 8
    ordermin: Decimal | None = None
    costmin: Decimal | None = None
    tick_size: Decimal | None = None
    status: str = "online"
    fees: list[tuple[Decimal, Decimal]] = msgspec.field(default_factory=list)
    """Taker fee schedule: ``(30-day volume, percent)`` rows."""
    fees_maker: list[tuple[Decimal, Decimal]] = msgspec.field(default_factory=list)


class TickerInfo(_Result, frozen=True, kw_only=True):
    """One pair of the Ticker result; names are Kraken's one-letter keys."""

    a: tuple[Decimal, Decimal, Decimal]
    """Ask: price, whole-lot volume, lot volume."""
    b: tuple[Decimal, Decimal, Decimal]
    """Bid: price, whole-lot volume, lot volume."""
    c: tuple[Decimal, Decimal]
    """Last trade: price, lot volume."""
    v: tuple[Decimal, Decimal]
    p: tuple[Decimal, Decimal]
    t: tuple[int, int]
    l: tuple[Decimal, Decimal]  # noqa: E741 - Kraken's field name
    h: tuple[Decimal, Decimal]
    o: Decimal


class OhlcBar(msgspec.Struct, frozen=True, array_like=True):
    time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    vwap: Decimal
    volume: Decimal
    count: int


class OhlcResult(_Result, frozen=True, kw_only=True):
    pair: str
    bars: tuple[OhlcBar, ...]
    last: int
    """Cursor for the next ``since``."""


class OrderDescription(_Result, frozen=True, kw_only=True):
    order: str = ""
    close: str | None = None
    pair: str | None = None
    type: str | None = None
    ordertype: str | None = None
    price: Decimal | None = None
    price2: Decimal | None = None
    leverage: str | None = None


class AddOrderResult(_Result, frozen=True, kw_only=True):
    descr: OrderDescription = msgspec.field(default_factory=OrderDescription)
    txid: list[str] = msgspec.field(default_factory=list)
    """An array even for one order; empty when ``validate`` was set."""


class BatchOrderEntry(_Result, frozen=True, kw_only=True):
    """One row of AddOrderBatch, same position as the request: a ``txid`` (a scalar here) or an
    ``error`` string for an order the engine rejected on its own."""

    txid: str | None = None
    descr: OrderDescription | None = None
    error: str | None = None


class AddOrderBatchResult(_Result, frozen=True, kw_only=True):
    orders: list[BatchOrderEntry]


class CancelResult(_Result, frozen=True, kw_only=True):
    count: int
    pending: bool | None = None


class CancelAllOrdersAfterResult(_Result, frozen=True, kw_only=True):
    current_time: str = msgspec.field(name="currentTime")
    trigger_time: str = msgspec.field(name="triggerTime")
    """``0`` when the timer is disabled."""


class OrderInfo(_Result, frozen=True, kw_only=True):
    status: str
    """``pending``, ``open``, ``closed``, ``canceled`` or ``expired``."""
    descr: OrderDescription = msgspec.field(default_factory=OrderDescription)
    refid: str | None = None
    userref: int | None = None
    cl_ord_id: str | None = None
    opentm: Decimal | None = None
    starttm: Decimal | None = None
    expiretm: Decimal | None = None
    closetm: Decimal | None = None
    reason: str | None = None
    vol: Decimal = Decimal(0)
    vol_exec: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    price: Decimal = Decimal(0)
    """Average fill price."""
    stopprice: Decimal | None = None
    limitprice: Decimal | None = None
    misc: str = ""
    oflags: str = ""
    trades: list[str] | None = None


class OpenOrdersResult(_Result, frozen=True, kw_only=True):
    open: dict[str, OrderInfo]


class ClosedOrdersResult(_Result, frozen=True, kw_only=True):
    closed: dict[str, OrderInfo]
    count: int = 0
    """Total across pages, not the page size."""


class WebSocketsToken(_Result, frozen=True, kw_only=True):
    token: str
    expires: int

    def __repr__(self) -> str:
        return f"WebSocketsToken(token=<redacted>, expires={self.expires})"


_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decoder(result_type: Any) -> msgspec.json.Decoder[Any]:
    found = _decoders.get(result_type)
    if found is None:
        found = _decoders[result_type] = msgspec.json.Decoder(result_type, strict=False)
    return found


_envelope_decoder = msgspec.json.Decoder(Envelope)


def decode_envelope(body: bytes) -> Envelope:
    """Decode the outer ``{"error": [...], "result": ...}``; raises msgspec errors."""
    return _envelope_decoder.decode(body)


def decode_result(raw: bytes | msgspec.Raw, result_type: type[T] | Any) -> T:
    """Decode a ``result`` value into ``result_type`` (lax about numeric strings)."""
    value: T = _decoder(result_type).decode(raw)
    return value


class _OhlcCursor(msgspec.Struct, frozen=True):
    last: int


def decode_ohlc(raw: bytes | msgspec.Raw) -> OhlcResult:
    """OHLC's result mixes the pair key (rows) with ``last`` (cursor), so it needs two passes."""
    fields: dict[str, msgspec.Raw] = _decoder(dict[str, msgspec.Raw]).decode(raw)
    cursor = _decoder(_OhlcCursor).decode(raw)
    pairs = [key for key in fields if key != "last"]
    if len(pairs) != 1:
        raise msgspec.ValidationError(f"expected one pair in OHLC result, got {pairs}")
    bars: tuple[OhlcBar, ...] = decode_result(fields[pairs[0]], tuple[OhlcBar, ...])
    return OhlcResult(pair=pairs[0], bars=bars, last=cursor.last)
