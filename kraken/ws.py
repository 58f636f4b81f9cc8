"""Kraken WebSocket v2 public client: ``ticker`` and ``status`` with reconnects (KRAKEN.md §5).

The client keeps one socket open in a background task. It reconnects with jittered
exponential backoff when the socket closes (any code except 1008, which is terminal) or when
no message of any kind arrives for ``config.ws_silence_timeout_s`` (Kraken sends a heartbeat
about once a second once subscribed), and subscribes again after each reconnect.

Updates are typed Structs handed to ``on_update`` and queued for ``async for u in
client.updates()``. Prices are Decimals parsed from the text of the JSON numbers, never
through float.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

import aiohttp
import msgspec

from kraken.errors import TransportError
from kraken.rest import CallObserver, Sleeper
from schemas.config import KrakenConfig
from schemas.events import KrakenCallFailed, KrakenCallSucceeded, OperationKind

__all__ = [
    "BookLevel",
    "BookUpdate",
    "ConnectionState",
    "ConnectionStateChanged",
    "KrakenWsClient",
    "StatusUpdate",
    "SubscriptionResult",
    "TickerUpdate",
    "WsCounters",
    "WsUpdate",
    "backoff_delay",
    "connect_report",
    "decode_ws_message",
]

_log = logging.getLogger(__name__)

TERMINAL_CLOSE_CODE = 1008
WS_SCOPE = "kraken.ws"
WS_CONNECT_ENDPOINT = "ws.connect"


def connect_report(
    *,
    now_ns: int,
    latency_ns: int,
    scope: str,
    error: str | None,
    transport_error: TransportError | None,
    http_status: int | None = None,
) -> KrakenCallSucceeded | KrakenCallFailed:
    """A socket connect attempt as a Kraken call report (``ws.connect``) for ``scope``'s breaker."""
    if error is None:
        return KrakenCallSucceeded(
            ts_event=now_ns,
            ts_init=now_ns,
            scope=scope,
            endpoint=WS_CONNECT_ENDPOINT,
            operation=OperationKind.READ,
            latency_ns=latency_ns,
            http_status=http_status,
        )
    return KrakenCallFailed(
        ts_event=now_ns,
        ts_init=now_ns,
        scope=scope,
        endpoint=WS_CONNECT_ENDPOINT,
        operation=OperationKind.READ,
        latency_ns=latency_ns,
        errors=(error,),
        http_status=http_status,
        transport_error=transport_error,
    )


class ConnectionState(enum.StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    """The socket is gone; a reconnect is scheduled."""
    CLOSED = "closed"
    """Stopped for good: by ``stop()`` or a terminal close code (1008)."""


class TickerUpdate(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal
    last: Decimal
    volume: Decimal
    """24 h volume in base units."""
    vwap: Decimal
    low: Decimal
    high: Decimal
    change: Decimal
    change_pct: Decimal
    timestamp: str | None = None
    """Exchange timestamp (RFC 3339) when Kraken sends one."""
    snapshot: bool = False
    received_ns: int = 0


class StatusUpdate(msgspec.Struct, frozen=True, kw_only=True):
    system: str
    """``online``, ``maintenance``, ``cancel_only`` or ``post_only``."""
    api_version: str = ""
    connection_id: int = 0
    version: str = ""
    received_ns: int = 0


class SubscriptionResult(msgspec.Struct, frozen=True, kw_only=True):
    """A subscribe acknowledgement: one per symbol, or one rejection with Kraken's error."""

    channel: str
    symbol: str | None
    success: bool
    error: str | None = None
    received_ns: int = 0


class ConnectionStateChanged(msgspec.Struct, frozen=True, kw_only=True):
    state: ConnectionState
    reason: str = ""
    attempt: int = 0
    """Consecutive failed attempts so far (0 once a connection delivered a message)."""
    ts_ns: int = 0


class BookLevel(msgspec.Struct, frozen=True, array_like=False):
    price: Decimal
    qty: Decimal
    """0 removes the level."""


class BookUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """One ``book`` channel message for one symbol; Decimals parsed from the JSON number text."""

    symbol: str
    bids: tuple[BookLevel, ...] = ()
    asks: tuple[BookLevel, ...] = ()
    checksum: int = 0
    timestamp: str | None = None
    snapshot: bool = False
    received_ns: int = 0


WsUpdate = TickerUpdate | StatusUpdate | SubscriptionResult | ConnectionStateChanged | BookUpdate


@dataclass(slots=True)
class WsCounters:
    connects: int = 0
    reconnects: int = 0
    connect_failures: int = 0
    messages: int = 0
    heartbeats: int = 0
    undecodable: int = 0
    last_message_ns: int | None = None


# -- wire decoding ------------------------------------------------------------------------------


class _Head(msgspec.Struct, frozen=True):
    channel: str | None = None
    method: str | None = None
    type: str | None = None


class _TickerMessage(msgspec.Struct, frozen=True):
    type: str
    data: list[TickerUpdate]
    """Decoded straight into the public type; ``snapshot``/``received_ns`` are set after."""


class _StatusData(msgspec.Struct, frozen=True):
    system: str
    api_version: str = ""
    connection_id: int = 0
    version: str = ""


class _StatusMessage(msgspec.Struct, frozen=True):
    data: list[_StatusData]


class _AckResult(msgspec.Struct, frozen=True):
    channel: str = ""
    symbol: str | None = None


class _SubscribeAck(msgspec.Struct, frozen=True):
    success: Any = None
    result: _AckResult | None = None
    error: str | None = None


class _BookMessage(msgspec.Struct, frozen=True):
    type: str
    data: list[BookUpdate]


_head_decoder = msgspec.json.Decoder(_Head)
_book_decoder = msgspec.json.Decoder(_BookMessage)
_ticker_decoder = msgspec.json.Decoder(_TickerMessage)
_status_decoder = msgspec.json.Decoder(_StatusMessage)
_ack_decoder = msgspec.json.Decoder(_SubscribeAck)


def decode_ws_message(text: str | bytes, received_ns: int) -> list[WsUpdate] | None:
    """Typed updates in one WS v2 message; ``[]`` for messages of no interest (heartbeat,
    pong, other channels); ``None`` when the message is not valid JSON of a known shape."""
    return _decode(text, received_ns)[1]


def _decode(text: str | bytes, received_ns: int) -> tuple[str | None, list[WsUpdate] | None]:
    try:
        head = _head_decoder.decode(text)
        if head.channel == "ticker":
            ticker = _ticker_decoder.decode(text)
            snapshot = ticker.type == "snapshot"
            return head.channel, [
                msgspec.structs.replace(d, snapshot=snapshot, received_ns=received_ns)
                for d in ticker.data
            ]
        if head.channel == "book":
            book = _book_decoder.decode(text)
            snapshot = book.type == "snapshot"
            return head.channel, [
                msgspec.structs.replace(d, snapshot=snapshot, received_ns=received_ns)
                for d in book.data
            ]
        if head.channel == "status":
            status = _status_decoder.decode(text)
            return head.channel, [
                StatusUpdate(**msgspec.structs.asdict(d), received_ns=received_ns)
                for d in status.data
            ]
        if head.method == "subscribe":
            ack = _ack_decoder.decode(text)
            result = ack.result or _AckResult()
            return head.channel, [
                SubscriptionResult(
                    channel=result.channel,
                    symbol=result.symbol,
                    # Absent or non-boolean `success` is a failure (KRAKEN.md §2.6).
                    success=ack.success is True,
                    error=ack.error,
                    received_ns=received_ns,
                )
            ]
    except msgspec.DecodeError:
        return None, None
    return head.channel, []


def backoff_delay(attempt: int, rng: random.Random, base_s: float, cap_s: float) -> float:
    """Exponential backoff with jitter: a uniform draw in [half, full] of ``base·2^attempt``."""
    ceiling: float = min(cap_s, base_s * float(2 ** min(attempt, 30)))
    return ceiling * rng.uniform(0.5, 1.0)


# -- the client ---------------------------------------------------------------------------------


class KrakenWsClient:
    """Public WS v2 feed for ``symbols`` (v2 names such as ``BTC/USD``); use ``async with``."""

    def __init__(
        self,
        config: KrakenConfig,
        symbols: Sequence[str],
        *,
        rng: random.Random,
        clock: Callable[[], int] = time.time_ns,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
        on_update: Callable[[WsUpdate], None] | None = None,
        on_call: CallObserver | None = None,
        sleeper: Sleeper = asyncio.sleep,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        queue_size: int = 10_000,
        book_depth: int | None = None,
    ) -> None:
        self.config = config
        self.symbols = tuple(symbols)
        self.book_depth = book_depth
        """Also subscribe to the L2 ``book`` channel at this depth (10, 25, 100, 500, 1000)."""
        self.counters = WsCounters()
        self.state = ConnectionState.CLOSED
        self._rng = rng
        self._clock = clock
        self._monotonic_ns = monotonic_ns
        self._on_update = on_update
        self._on_call = on_call
        self._sleeper = sleeper
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._queue: asyncio.Queue[WsUpdate] = asyncio.Queue(maxsize=queue_size)
        self._task: asyncio.Task[None] | None = None
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._req_id = 0
        self._connected = asyncio.Event()
        self._finished = asyncio.Event()

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def start(self) -> None:
        if self._task is None:
            self._finished.clear()
            self._task = asyncio.create_task(self._run(), name="kraken-ws")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.state is not ConnectionState.CLOSED:
            self._set_state(ConnectionState.CLOSED, "stopped", 0)

    async def wait_connected(self) -> None:
        """Return once a connection is open and subscribed."""
        await self._connected.wait()

    async def wait_finished(self) -> None:
        """Return once the client has stopped for good (terminal close)."""
        await self._finished.wait()

    async def updates(self) -> AsyncIterator[WsUpdate]:
        """Every update in arrival order (the queue drops the oldest when full)."""
        while True:
            yield await self._queue.get()

    async def disconnect(self) -> None:
        """Drop the current socket (a reconnect follows), e.g. to force a fresh session."""
        if self._socket is not None:
            await self._socket.close()

    # -- loop ---------------------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.config.request_timeout_s)
        async with aiohttp.ClientSession(
            timeout=timeout, headers={"User-Agent": self.config.user_agent}
        ) as session:
            while True:
                self._set_state(ConnectionState.CONNECTING, "", attempt)
                socket = await self._connect(session)
                if socket is None:
                    attempt += 1
                    self._set_state(ConnectionState.DISCONNECTED, "connect failed", attempt)
                    await self._sleeper(self._backoff(attempt))
                    continue
                try:
                    reason, terminal, got_data = await self._serve(socket)
                finally:
                    self._socket = None
                    self._connected.clear()
                    await socket.close()
                attempt = 0 if got_data else attempt + 1
                if terminal:
                    self._set_state(ConnectionState.CLOSED, reason, attempt)
                    self._finished.set()
                    self._task = None
                    return
                self._set_state(ConnectionState.DISCONNECTED, reason, attempt)
                await self._sleeper(self._backoff(attempt))

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(
            max(0, attempt - 1), self._rng, self._backoff_base_s, self._backoff_cap_s
        )

    async def _connect(
        self, session: aiohttp.ClientSession
    ) -> aiohttp.ClientWebSocketResponse | None:
        started = self._monotonic_ns()
        try:
            async with asyncio.timeout(self.config.request_timeout_s):
                socket = await session.ws_connect(self.config.ws_url, autoping=True, heartbeat=None)
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            self.counters.connect_failures += 1
            status = e.status if isinstance(e, aiohttp.WSServerHandshakeError) else None
            kind = (
                TransportError.TIMEOUT if isinstance(e, TimeoutError) else TransportError.CONNECTION
            )
            self._report_connect(
                started, error=f"{type(e).__name__}: {e}", kind=kind, status=status
            )
            return None
        if self.counters.connects > 0:
            self.counters.reconnects += 1
        self.counters.connects += 1
        self._report_connect(started, error=None, kind=None, status=101)
        self._socket = socket
        await self._subscribe(socket)
        self._set_state(ConnectionState.CONNECTED, "", 0)
        self._connected.set()
        return socket

    async def _subscribe(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        if not self.symbols:
            return
        self._req_id += 1
        request = {
            "method": "subscribe",
            "params": {"channel": "ticker", "symbol": list(self.symbols)},
            "req_id": self._req_id,
        }
        await socket.send_str(msgspec.json.encode(request).decode())
        if self.book_depth is not None:
            await self._send_book(socket, "subscribe", self.symbols)

    async def _send_book(
        self, socket: aiohttp.ClientWebSocketResponse, method: str, symbols: Sequence[str]
    ) -> None:
        self._req_id += 1
        params = {"channel": "book", "symbol": list(symbols), "depth": self.book_depth}
        request = {"method": method, "params": params, "req_id": self._req_id}
        await socket.send_str(msgspec.json.encode(request).decode())

    async def resubscribe_book(self, symbol: str) -> bool:
        """Unsubscribe and subscribe ``symbol``'s book again (a fresh snapshot follows).

        False when there is no open socket; the next connection subscribes anyway.
        """
        socket = self._socket
        if socket is None or socket.closed or self.book_depth is None:
            return False
        await self._send_book(socket, "unsubscribe", [symbol])
        await self._send_book(socket, "subscribe", [symbol])
        return True

    async def _serve(self, socket: aiohttp.ClientWebSocketResponse) -> tuple[str, bool, bool]:
        """Read until the socket ends; returns (reason, terminal, received any message)."""
        got_data = False
        silence = self.config.ws_silence_timeout_s
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that races a
            # message arriving, and a busy ticker feed then makes stop() hang.
            try:
                async with asyncio.timeout(silence):
                    message = await socket.receive()
            except TimeoutError:
                return f"silent for {silence:g} s", False, got_data
            if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                got_data = True
                self._on_text(message.data)
            elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING):
                code = socket.close_code if socket.close_code is not None else message.data
                terminal = code == TERMINAL_CLOSE_CODE
                return f"closed by server (code {code})", terminal, got_data
            elif message.type is aiohttp.WSMsgType.CLOSED:
                code = socket.close_code
                return f"connection closed (code {code})", code == TERMINAL_CLOSE_CODE, got_data
            elif message.type is aiohttp.WSMsgType.ERROR:
                return f"socket error: {socket.exception()}", False, got_data

    def _on_text(self, data: str | bytes) -> None:
        now = self._clock()
        self.counters.messages += 1
        self.counters.last_message_ns = now
        channel, updates = _decode(data, now)
        if updates is None:
            self.counters.undecodable += 1
            _log.warning("undecodable WS message: %.200s", data)
            return
        if channel == "heartbeat":
            self.counters.heartbeats += 1
        for update in updates:
            self._emit(update)

    def _set_state(self, state: ConnectionState, reason: str, attempt: int) -> None:
        self.state = state
        self._emit(
            ConnectionStateChanged(state=state, reason=reason, attempt=attempt, ts_ns=self._clock())
        )

    def _emit(self, update: WsUpdate) -> None:
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(update)
        if self._on_update is not None:
            try:
                self._on_update(update)
            except Exception:
                _log.exception("on_update callback failed")

    def _report_connect(
        self,
        started_ns: int,
        *,
        error: str | None,
        kind: TransportError | None,
        status: int | None,
    ) -> None:
        if self._on_call is None:
            return
        event = connect_report(
            now_ns=self._clock(),
            latency_ns=self._monotonic_ns() - started_ns,
            scope=WS_SCOPE,
            error=error,
            transport_error=kind,
            http_status=status,
        )
        try:
            self._on_call(event)
        except Exception:
            _log.exception("on_call observer failed for ws.connect")
