"""WebSocket v2 at ``/ws/v2``: the public ``ticker`` and ``status`` channels, heartbeats and ping.

Message shapes follow Kraken's v2 docs (KRAKEN.md §5): one subscribe ack per symbol, then a
``snapshot`` and ``update``s with JSON floats; ``status`` on connect and on change; a
``heartbeat`` about once a second when nothing else was sent, once anything is subscribed.
"""

from __future__ import annotations

import asyncio
import json
import random
from contextlib import suppress
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from kraken.sim.book import SyntheticBook
from kraken.sim.depth import WS_DEPTHS, BookView, book_message
from kraken.sim.exchange import SimExchange
from kraken.sim.pairs import PairSpec, find_ws_pair
from kraken.sim.prices import Quote
from kraken.sim.wire import compact_json, rfc3339_micros

__all__ = ["WS_HUB_KEY", "WsHub", "ticker_data"]

API_VERSION = "v2"
VERSION = "2.0.10"
# Live Kraken's answer when a public socket is asked for private data or trading.
PRIVATE_ON_PUBLIC = (
    "Private data and trading are unavailable on this endpoint. Try ws-auth.kraken.com"
)
_PRIVATE_CHANNELS = frozenset({"executions", "balances", "level3"})
_TRADING_METHODS = frozenset(
    {
        "add_order",
        "amend_order",
        "edit_order",
        "cancel_order",
        "cancel_all",
        "cancel_all_orders_after",
        "batch_add",
        "batch_cancel",
    }
)


def ticker_data(spec: PairSpec, quote: Quote) -> dict[str, Any]:
    """One ``data`` element of the ticker channel, floats as on the wire."""

    def num(value: Decimal, places: int) -> float:
        return float(round(value, places))

    change = quote.last - quote.open
    change_pct = change / quote.open * 100 if quote.open else Decimal(0)
    return {
        "symbol": spec.ws_symbol,
        "bid": num(quote.bid, spec.pair_decimals),
        "bid_qty": num(quote.bid_qty, spec.lot_decimals),
        "ask": num(quote.ask, spec.pair_decimals),
        "ask_qty": num(quote.ask_qty, spec.lot_decimals),
        "last": num(quote.last, spec.pair_decimals),
        "volume": num(quote.volume, spec.lot_decimals),
        "vwap": num(quote.vwap, spec.pair_decimals),
        "low": num(quote.low, spec.pair_decimals),
        "high": num(quote.high, spec.pair_decimals),
        "change": num(change, spec.pair_decimals),
        "change_pct": num(change_pct, 2),
        "timestamp": rfc3339_micros(quote.time_ns),
    }


@dataclass(eq=False)
class _Connection:
    socket: web.WebSocketResponse
    request: web.Request
    outbox: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    tickers: set[str] = field(default_factory=set)
    books: dict[str, BookView] = field(default_factory=dict)
    subscribed_once: bool = False


class WsHub:
    """All open sockets; implements the exchange's ``MarketFeed``."""

    def __init__(self, exchange: SimExchange, heartbeat_interval_s: float) -> None:
        self._exchange = exchange
        self._heartbeat_interval_s = heartbeat_interval_s
        self._connections: set[_Connection] = set()
        self._random = random.Random(f"{exchange.seed}:ws")
        self._closing: set[asyncio.Task[Any]] = set()
        exchange.feeds.append(self)

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    # -- MarketFeed ----------------------------------------------------------------------

    def publish_quote(self, spec: PairSpec, quote: Quote) -> None:
        message = compact_json(
            {"channel": "ticker", "type": "update", "data": [ticker_data(spec, quote)]}
        )
        for connection in self._connections:
            if spec.ws_symbol in connection.tickers:
                connection.outbox.put_nowait(message)

    def publish_book(self, spec: PairSpec, book: SyntheticBook) -> None:
        now = self._exchange.clock()
        for connection in self._connections:
            view = connection.books.get(spec.ws_symbol)
            if view is None:
                continue
            message = book_message(book, view, now, snapshot=False)
            if message is None:
                continue
            if self._exchange.book_checksum_faults > 0:
                self._exchange.book_checksum_faults -= 1
                message["data"][0]["checksum"] ^= 1
            connection.outbox.put_nowait(compact_json(message))

    def publish_status(self, status: str) -> None:
        for connection in self._connections:
            connection.outbox.put_nowait(self._status_message(status))

    def disconnect_all(self, *, abrupt: bool = False) -> None:
        """Close every socket: with a close frame (1001), or by dropping the TCP connection."""
        for connection in list(self._connections):
            if abrupt and connection.request.transport is not None:
                connection.request.transport.abort()
                continue
            task = asyncio.get_running_loop().create_task(
                connection.socket.close(code=WSCloseCode.GOING_AWAY, message=b"sim disconnect")
            )
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    # -- messages ------------------------------------------------------------------------

    def _status_message(self, status: str) -> str:
        data = {
            "version": VERSION,
            "system": status,
            "api_version": API_VERSION,
            "connection_id": self._random.getrandbits(64),
        }
        return compact_json({"channel": "status", "type": "update", "data": [data]})

    def _stamp(self, reply: dict[str, Any], time_in: str) -> str:
        reply["time_in"] = time_in
        reply["time_out"] = rfc3339_micros(self._exchange.clock())
        return compact_json(reply)

    def _handle(self, connection: _Connection, text: str) -> None:
        time_in = rfc3339_micros(self._exchange.clock())
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            message = None
        if not isinstance(message, dict):
            connection.outbox.put_nowait(
                self._stamp({"error": "Malformed request", "success": False}, time_in)
            )
            return
        method = message.get("method")
        head: dict[str, Any] = {"method": method}
        if "req_id" in message:
            head["req_id"] = message["req_id"]
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        assert isinstance(params, dict)
        if method == "ping":
            connection.outbox.put_nowait(self._stamp({**head, "method": "pong"}, time_in))
        elif method in {"subscribe", "unsubscribe"}:
            for reply in self._subscription(connection, method, params, head):
                connection.outbox.put_nowait(
                    reply if isinstance(reply, str) else self._stamp(reply, time_in)
                )
        elif method in _TRADING_METHODS:
            reply = {**head, "error": PRIVATE_ON_PUBLIC, "success": False}
            connection.outbox.put_nowait(self._stamp(reply, time_in))
        else:
            reply = {**head, "error": "Method not found", "success": False}
            connection.outbox.put_nowait(self._stamp(reply, time_in))

    def _subscription(
        self, connection: _Connection, method: str, params: dict[str, Any], head: dict[str, Any]
    ) -> list[dict[str, Any] | str]:
        channel = params.get("channel")
        if channel in _PRIVATE_CHANNELS:
            return [{**head, "error": PRIVATE_ON_PUBLIC, "success": False}]
        if channel == "book":
            return self._book_subscription(connection, method, params, head)
        if channel != "ticker":
            return [{**head, "error": "Subscription name invalid", "success": False}]
        symbols = params.get("symbol")
        if not isinstance(symbols, list) or not symbols:
            return [{**head, "error": "Missing field: symbol", "success": False}]
        snapshot = params.get("snapshot", True) is not False
        event_trigger = params.get("event_trigger", "trades")
        replies: list[dict[str, Any] | str] = []
        for symbol in symbols:
            spec = find_ws_pair(symbol) if isinstance(symbol, str) else None
            if spec is None:
                replies.append(
                    {
                        **head,
                        "error": f"Currency pair not supported {symbol}",
                        "success": False,
                        "symbol": symbol,
                    }
                )
                continue
            if method == "unsubscribe":
                if symbol not in connection.tickers:
                    # Kraken's quirk: the failed unsubscribe answers with method "subscribe".
                    replies.append(
                        {
                            **head,
                            "method": "subscribe",
                            "error": "Subscription Not Found",
                            "success": False,
                        }
                    )
                    continue
                connection.tickers.discard(symbol)
                result = {"channel": "ticker", "event_trigger": event_trigger, "symbol": symbol}
                replies.append({**head, "result": result, "success": True})
                continue
            result = {
                "channel": "ticker",
                "event_trigger": event_trigger,
                "snapshot": snapshot,
                "symbol": symbol,
            }
            replies.append({**head, "result": result, "success": True})
            connection.tickers.add(symbol)
            connection.subscribed_once = True
            if snapshot:
                quote = self._exchange.prices[spec.pair_id].quote
                replies.append(
                    compact_json(
                        {
                            "channel": "ticker",
                            "type": "snapshot",
                            "data": [ticker_data(spec, quote)],
                        }
                    )
                )
        return replies

    def _book_subscription(
        self, connection: _Connection, method: str, params: dict[str, Any], head: dict[str, Any]
    ) -> list[dict[str, Any] | str]:
        symbols = params.get("symbol")
        if not isinstance(symbols, list) or not symbols:
            return [{**head, "error": "Missing field: symbol", "success": False}]
        depth = params.get("depth", 10)
        if isinstance(depth, bool) or depth not in WS_DEPTHS:
            # Kraken documents the allowed depths but not this error's text.
            return [{**head, "error": "Invalid value: depth", "success": False}]
        snapshot = params.get("snapshot", True) is not False
        replies: list[dict[str, Any] | str] = []
        for symbol in symbols:
            spec = find_ws_pair(symbol) if isinstance(symbol, str) else None
            if spec is None:
                replies.append(
                    {
                        **head,
                        "error": f"Currency pair not supported {symbol}",
                        "success": False,
                        "symbol": symbol,
                    }
                )
                continue
            if method == "unsubscribe":
                if connection.books.pop(symbol, None) is None:
                    replies.append(
                        {
                            **head,
                            "method": "subscribe",
                            "error": "Subscription Not Found",
                            "success": False,
                        }
                    )
                    continue
                result = {"channel": "book", "depth": depth, "symbol": symbol}
                replies.append({**head, "result": result, "success": True})
                continue
            result = {"channel": "book", "depth": depth, "snapshot": snapshot, "symbol": symbol}
            replies.append({**head, "result": result, "success": True})
            view = BookView(depth)
            connection.books[symbol] = view
            connection.subscribed_once = True
            message = book_message(
                self._exchange.books[spec.pair_id], view, self._exchange.clock(), snapshot=True
            )
            if snapshot and message is not None:
                replies.append(compact_json(message))
        return replies

    # -- connection lifecycle ------------------------------------------------------------

    async def _write(self, connection: _Connection) -> None:
        heartbeat = compact_json({"channel": "heartbeat"})
        while not connection.socket.closed:
            try:
                message: str | None = await asyncio.wait_for(
                    connection.outbox.get(), self._heartbeat_interval_s
                )
            except TimeoutError:
                message = heartbeat if connection.subscribed_once else None
            if message is None or self._exchange.ws_silenced():
                continue
            try:
                await connection.socket.send_str(message)
            except (ConnectionError, RuntimeError):
                return

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._exchange.count_request("ws")
        connection = _Connection(socket, request)
        self._connections.add(connection)
        connection.outbox.put_nowait(self._status_message(self._exchange.system_status))
        writer = asyncio.create_task(self._write(connection))
        try:
            async for message in socket:
                if message.type is WSMsgType.TEXT:
                    self._handle(connection, message.data)
        finally:
            self._connections.discard(connection)
            writer.cancel()
            with suppress(asyncio.CancelledError):
                await writer
        return socket

    async def close_all(self) -> None:
        for connection in list(self._connections):
            await connection.socket.close(code=WSCloseCode.GOING_AWAY, message=b"sim stopping")


WS_HUB_KEY = web.AppKey("ws_hub", WsHub)
