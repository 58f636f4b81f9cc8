"""Kraken WebSocket v2 order entry (``wss://ws-auth.kraken.com/v2``), KRAKEN.md §5.

One authenticated connection per API key, kept open by a background task:

* **Token.** A session token comes from REST ``GetWebSocketsToken`` (through ``token_source``).
  It must be used within ``expires`` seconds, and stays valid while a private subscription made
  with it is maintained; so a token older than ``expires - refresh_margin_s`` is replaced before
  each (re)connect, and a request refused with ``EAPI:Invalid token`` / ``ESession:Invalid
  session`` (refused means: not executed) gets one new token and one resend.
* **Requests** are correlated by ``req_id``; each call awaits its own answer.
* **executions** is subscribed on every connect with ``snap_orders`` and ``snap_trades``: the
  snapshot after a reconnect brings the client's order view up to date with what happened while
  it was away (fills included). Updates reach ``on_execution``.
* **Unknown outcome**, as with REST: a trading request that was sent and then lost its
  connection, or got no answer in ``request_timeout_s``, may or may not have reached the engine.
  It is answered with ``outcome_unknown=True`` and is never resent: reconcile by ``cl_ord_id``
  (:meth:`order_by_cl_ord_id` after the next snapshot, or REST OpenOrders/ClosedOrders). A request
  that could not be sent at all (no connection) is a plain failure.

Every trading call is reported to ``on_call`` like a REST call: scope ``kraken.trading`` for an
exchange answer, ``kraken.ws_trading`` for a transport failure of this connection (what the
router's WS breaker watches to fall back to REST). Connects and :meth:`ping` are reported under
``kraken.ws_trading`` too: a (re)connect or a ping answered after the breaker went half-open is
what closes it. The scope is this socket's own, not market-data's ``kraken.ws`` (another host,
another connection): a trading socket's trouble never moves market-data to REST polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import msgspec

from kraken.errors import TransportError, is_trading_rate_limit
from kraken.models import WebSocketsToken
from kraken.ratelimit import DecayingCounter, TradingRateLimiter
from kraken.rest import CallObserver, Sleeper, format_deadline, format_decimal
from kraken.result import KrakenFailure, KrakenResult
from kraken.send_deadline import SendDeadline
from kraken.ws import backoff_delay, connect_report
from schemas.events import KrakenCallFailed, KrakenCallSucceeded, OperationKind
from schemas.orders import OrderRequest, OrderType

__all__ = [
    "TOKEN_ERRORS",
    "WS_CONNECT_ENDPOINT",
    "WS_TRADING_SCOPE",
    "ExecutionUpdate",
    "KrakenWsTrading",
    "TokenSource",
    "WsReply",
    "auth_url_for",
    "ws_order_params",
]

_log = logging.getLogger(__name__)

TokenSource = Callable[[], Awaitable[KrakenResult[WebSocketsToken]]]
TOKEN_ERRORS = ("EAPI:Invalid token", "ESession:Invalid session")
WS_TRADING_SCOPE = "kraken.ws_trading"
WS_CONNECT_ENDPOINT = "ws.connect"
_NS_PER_S = 1_000_000_000
_PLACING = frozenset({"add_order", "batch_add", "edit_order"})
_TRIGGER_TYPES = frozenset(
    {
        OrderType.STOP_LOSS,
        OrderType.TAKE_PROFIT,
        OrderType.STOP_LOSS_LIMIT,
        OrderType.TAKE_PROFIT_LIMIT,
    }
)


@dataclass(frozen=True, slots=True)
class WsReply:
    """The answer to one WS request. ``result`` is Kraken's ``result`` (a dict, or a list for
    ``batch_add``); ``error`` its error string on ``success: false``."""

    method: str
    ok: bool
    result: Any = None
    error: str | None = None
    outcome_unknown: bool = False
    transport_error: TransportError | None = None
    latency_ns: int = 0

    def describe(self) -> tuple[str, ...]:
        if self.error is not None:
            return (self.error,)
        return (f"{self.transport_error or 'failure'}",)


class ExecutionUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of the ``executions`` channel (numbers parsed as Decimal from the JSON text)."""

    exec_type: str
    order_id: str
    order_status: str = ""
    symbol: str = ""
    side: str = ""
    order_type: str = ""
    cl_ord_id: str | None = None
    order_qty: Decimal | None = None
    cum_qty: Decimal | None = None
    avg_price: Decimal | None = None
    limit_price: Decimal | None = None
    last_qty: Decimal | None = None
    reason: str | None = None
    timestamp: str | None = None
    snapshot: bool = False


class _Incoming(msgspec.Struct, frozen=True):
    method: str | None = None
    req_id: int | None = None
    success: bool | None = None
    result: Any = None
    error: str | None = None
    channel: str | None = None
    type: str | None = None
    data: list[ExecutionUpdate] | Any = None


_decoder = msgspec.json.Decoder(_Incoming)
_executions_decoder = msgspec.json.Decoder(list[ExecutionUpdate])


def ws_order_params(order: OrderRequest, cl_ord_id: str | None) -> dict[str, Any]:
    """One :class:`OrderRequest` in WS v2 spelling (without ``symbol`` and ``token``)."""
    params: dict[str, Any] = {
        "order_type": str(order.order_type),
        "side": str(order.side),
        "order_qty": _number(order.volume),
    }
    if order.order_type in _TRIGGER_TYPES:
        if order.price is not None:
            params["triggers"] = {"price": _number(order.price)}
        if order.price2 is not None:
            params["limit_price"] = _number(order.price2)
    elif order.price is not None:
        params["limit_price"] = _number(order.price)
    if order.time_in_force is not None:
        params["time_in_force"] = str(order.time_in_force).lower()
    if order.expire_time_ns is not None:
        params["expire_time"] = format_deadline(order.expire_time_ns)
    if order.post_only:
        params["post_only"] = True
    if order.reduce_only:
        params["reduce_only"] = True
    if cl_ord_id is not None:
        params["cl_ord_id"] = cl_ord_id
    return params


def _number(value: Decimal) -> msgspec.Raw:
    """A JSON number written as the exact decimal text, never through float."""
    return msgspec.Raw(format_decimal(value).encode())


@dataclass(slots=True)
class _Session:
    socket: aiohttp.ClientWebSocketResponse
    pending: dict[int, tuple[str, asyncio.Future[_Incoming]]] = field(default_factory=dict)


class KrakenWsTrading:
    """See the module docstring. Use ``async with`` (or ``start()``/``stop()``)."""

    def __init__(
        self,
        url: str,
        token_source: TokenSource,
        *,
        clock: Callable[[], int] = time.time_ns,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
        request_timeout_s: float = 10.0,
        connect_timeout_s: float = 10.0,
        silence_timeout_s: float = 5.0,
        refresh_margin_s: float = 60.0,
        on_call: CallObserver | None = None,
        on_execution: Callable[[ExecutionUpdate], None] | None = None,
        sleeper: Sleeper = asyncio.sleep,
        seed: int | None = None,
        trading_limiter: TradingRateLimiter | None = None,
        pair_key: Callable[[str], str] = lambda symbol: symbol,
    ) -> None:
        self.url = url
        # Kraken's trading counter is shared by REST and WS: pass the REST client's limiter
        # and its pair naming (``pair_key``) so both paths charge the same counters.
        self.trading_limiter = trading_limiter
        self._pair_key = pair_key
        self._token_source = token_source
        self._clock = clock
        self._monotonic_ns = monotonic_ns
        self._request_timeout_s = request_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._silence_timeout_s = silence_timeout_s
        self._refresh_margin_s = refresh_margin_s
        self._on_call = on_call
        self._on_execution = on_execution
        self._sleeper = sleeper
        self._rng = random.Random(seed)
        self._req_ids = itertools.count(1)
        self._token: str | None = None
        self._token_expires_ns = 0
        self._held_token: str | None = None
        """The token of the live ``executions`` subscription, if any."""
        self._http: aiohttp.ClientSession | None = None
        self._session: _Session | None = None
        self._connected = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._stopping = False
        self.orders: dict[str, ExecutionUpdate] = {}
        """The latest ``executions`` entry per order id (fields an update leaves out are kept
        from the entry before)."""
        self._order_ids: dict[str, str] = {}
        """``cl_ord_id`` → order id, for every order ``executions`` named with one."""
        self._snapshot_seen = asyncio.Event()
        """Set once this connection's ``executions`` snapshot has been applied."""
        self._created_after: dict[str, int] = {}
        """Per order id, a time the order was surely created after (see :meth:`created_after`)."""
        self._last_heard_ns = 0
        """When the current connection last received a message."""
        self._gap_from_ns = 0
        """When the connection before this one last received (0: this is the first)."""
        self._snapshot_ns = 0
        """When this connection's snapshot was applied."""
        self.connects = 0
        self.tokens_fetched = 0
        self.last_error: str | None = None

    def __repr__(self) -> str:
        return f"KrakenWsTrading(url={self.url!r}, token=<redacted>)"

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, *, wait: bool = True) -> None:
        """Open the connection in the background; with ``wait``, until it is usable (raises
        ``TimeoutError`` after ``connect_timeout_s``, leaving the task retrying)."""
        if self._http is None:
            self._http = aiohttp.ClientSession()
        if self._runner is None:
            self._stopping = False
            self._runner = asyncio.create_task(self._run(), name="kraken-ws-trading")
        if wait:
            await asyncio.wait_for(self._connected.wait(), self._connect_timeout_s)

    async def stop(self) -> None:
        self._stopping = True
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        if self._session is not None:
            await self._session.socket.close()
            self._session = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def drop_connection(self) -> None:
        """Close the socket as if the network failed (tests); the runner reconnects."""
        if self._session is not None:
            await self._session.socket.close()

    # -- trading ---------------------------------------------------------------------------

    async def add_order(
        self,
        order: OrderRequest,
        *,
        symbol: str,
        cl_ord_id: str | None = None,
        deadline: SendDeadline | None = None,
        validate: bool = False,
    ) -> WsReply:
        """``deadline`` is stamped when the frame is sent (after pacing and the token)."""
        params = {"symbol": symbol, **ws_order_params(order, cl_ord_id)}
        if validate:
            params["validate"] = True
            reply = await self.request("add_order", params, deadline=deadline)
        else:
            cost = TradingRateLimiter.add_order_cost()
            charged_ns = await self._wait_for_trading(symbol, cost)
            reply = await self.request("add_order", params, deadline=deadline)
            self._counted_by_now(symbol, cost, charged_ns)
        self._snap_on_rate_limit(symbol, reply)
        return reply

    async def batch_add(
        self,
        symbol: str,
        orders: Sequence[tuple[OrderRequest, str | None]],
        *,
        deadline: SendDeadline | None = None,
        validate: bool = False,
    ) -> WsReply:
        """2–15 orders of one symbol; ``result`` is one entry per order, in order."""
        params: dict[str, Any] = {
            "symbol": symbol,
            "orders": [ws_order_params(order, cl_ord_id) for order, cl_ord_id in orders],
        }
        if validate:
            params["validate"] = True
            reply = await self.request("batch_add", params, deadline=deadline)
        else:
            cost = TradingRateLimiter.batch_add_cost(len(orders))
            charged_ns = await self._wait_for_trading(symbol, cost)
            reply = await self.request("batch_add", params, deadline=deadline)
            self._counted_by_now(symbol, cost, charged_ns)
        self._snap_on_rate_limit(symbol, reply)
        return reply

    def trading_counter(self, symbol: str) -> DecayingCounter | None:
        """The trading counter ``symbol``'s placements charge (shared with REST), if paced."""
        if self.trading_limiter is None:
            return None
        return self.trading_limiter.counter(self._pair_key(symbol))

    async def _wait_for_trading(self, symbol: str, cost: float) -> int:
        """Wait until ``cost`` fits the pair's trading counter (as the REST client does);
        returns when it was charged (0 when not paced)."""
        if self.trading_limiter is None:
            return 0
        pair = self._pair_key(symbol)
        while (wait := self.trading_limiter.try_acquire(pair, cost)) > 0:
            await self._sleeper(wait)
        return self.trading_limiter.now_ns()

    def _counted_by_now(self, symbol: str, cost: float, charged_ns: int) -> None:
        """Kraken counted the placement when it arrived, at the latest now (see
        :meth:`DecayingCounter.counted_by_now`)."""
        if self.trading_limiter is not None:
            self.trading_limiter.counted_by_now(self._pair_key(symbol), cost, charged_ns)

    def _snap_on_rate_limit(self, symbol: str, reply: WsReply) -> None:
        if self.trading_limiter is not None and is_trading_rate_limit(reply.describe()):
            self.trading_limiter.snap_to_cap(self._pair_key(symbol))

    async def cancel_order(
        self, *, order_id: str | None = None, cl_ord_id: str | None = None
    ) -> WsReply:
        if (order_id is None) == (cl_ord_id is None):
            raise ValueError("cancel_order takes exactly one of order_id or cl_ord_id")
        if order_id is not None:
            return await self.request("cancel_order", {"order_id": [order_id]})
        return await self.request("cancel_order", {"cl_ord_id": [cl_ord_id]})

    async def cancel_all(self) -> WsReply:
        return await self.request("cancel_all", {})

    async def cancel_all_orders_after(self, timeout_s: int) -> WsReply:
        if not 0 <= timeout_s < 86400:
            raise ValueError("timeout_s must be in [0, 86400)")
        return await self.request("cancel_all_orders_after", {"timeout": timeout_s})

    async def amend_order(
        self,
        *,
        order_id: str | None = None,
        cl_ord_id: str | None = None,
        order_qty: Decimal | None = None,
        limit_price: Decimal | None = None,
    ) -> WsReply:
        if (order_id is None) == (cl_ord_id is None):
            raise ValueError("amend_order takes exactly one of order_id or cl_ord_id")
        params: dict[str, Any] = {"order_id": order_id} if order_id else {"cl_ord_id": cl_ord_id}
        if order_qty is not None:
            params["order_qty"] = _number(order_qty)
        if limit_price is not None:
            params["limit_price"] = _number(limit_price)
        return await self.request("amend_order", params)

    async def edit_order(
        self,
        *,
        order_id: str,
        symbol: str,
        order_qty: Decimal | None = None,
        limit_price: Decimal | None = None,
    ) -> WsReply:
        params: dict[str, Any] = {"order_id": order_id, "symbol": symbol}
        if order_qty is not None:
            params["order_qty"] = _number(order_qty)
        if limit_price is not None:
            params["limit_price"] = _number(limit_price)
        return await self.request("edit_order", params)

    async def ping(self, *, probe: bool = False) -> WsReply:
        """One ``ping`` over the trading socket, reported under ``kraken.ws_trading`` (with
        ``probe``: as the half-open breaker's test call)."""
        reply = await self._request_once("ping", {}, None)
        self._report(reply, scope=WS_TRADING_SCOPE, probe=probe)
        return reply

    def order_by_cl_ord_id(self, cl_ord_id: str) -> ExecutionUpdate | None:
        order_id = self._order_ids.get(cl_ord_id)
        return None if order_id is None else self.orders.get(order_id)

    def created_after(self, order_id: str) -> int:
        """A time (ns) the order was surely created after: it was not in the view before.

        Seen first in a reconnect's snapshot: after the previous connection last heard
        anything. Seen first in a live update: after this connection's snapshot. Seen first in
        the very first snapshot: unknown (0). So an older order sharing a ``cl_ord_id`` is never
        taken for a new one.
        """
        return self._created_after.get(order_id, 0)

    async def wait_for_snapshot(self, timeout_s: float) -> bool:
        """Whether the order view is current: connected, with this connection's
        ``executions`` snapshot applied (waits up to ``timeout_s`` for a reconnect)."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._snapshot_seen.wait()
        except TimeoutError:
            return False
        return self.connected

    async def request(
        self, method: str, params: Mapping[str, Any], *, deadline: SendDeadline | None = None
    ) -> WsReply:
        """Send one trading request and await its answer (see the module docstring)."""
        reply = await self._request_once(method, params, deadline)
        if reply.error is not None and reply.error.startswith(TOKEN_ERRORS):
            # Refused, so not executed: a fresh token and one resend are safe.
            self._token = None
            reply = await self._request_once(method, params, deadline)
        self._report(reply)
        return reply

    async def _request_once(
        self, method: str, params: Mapping[str, Any], deadline: SendDeadline | None
    ) -> WsReply:
        started = self._monotonic_ns()
        try:
            if not self._connected.is_set():  # wait_for spawns a task: not when connected
                await asyncio.wait_for(self._connected.wait(), self._request_timeout_s)
            token = await self._current_token()
        except (TimeoutError, _TokenUnavailable) as e:
            return WsReply(
                method,
                ok=False,
                transport_error=TransportError.CONNECTION,
                error=None if not isinstance(e, _TokenUnavailable) else str(e),
                latency_ns=self._monotonic_ns() - started,
            )
        session = self._session
        if session is None or session.socket.closed:
            return WsReply(method, ok=False, transport_error=TransportError.CONNECTION)
        req_id = next(self._req_ids)
        future: asyncio.Future[_Incoming] = asyncio.get_running_loop().create_future()
        session.pending[req_id] = (method, future)
        sent = {**params, "token": token}
        if deadline is not None:
            # Stamped at the last moment: the token fetch and pacing do not spend it.
            sent["deadline"] = format_deadline(deadline.stamp(self._clock()))
        message = {"method": method, "params": sent, "req_id": req_id}
        try:
            await session.socket.send_str(msgspec.json.encode(message).decode())
        except (ConnectionError, RuntimeError, aiohttp.ClientError):
            session.pending.pop(req_id, None)
            # The frame may have left before the error: a placement's outcome is unknown.
            return self._lost(method, started, TransportError.CONNECTION)
        try:
            incoming = await asyncio.wait_for(future, self._request_timeout_s)
        except TimeoutError:
            session.pending.pop(req_id, None)
            return self._lost(method, started, TransportError.TIMEOUT)
        except _ConnectionLost:
            return self._lost(method, started, TransportError.CONNECTION)
        latency = self._monotonic_ns() - started
        if incoming.success or incoming.method == "pong":
            return WsReply(method, ok=True, result=incoming.result, latency_ns=latency)
        return WsReply(
            method, ok=False, error=incoming.error or "unknown error", latency_ns=latency
        )

    def _lost(self, method: str, started: int, kind: TransportError) -> WsReply:
        return WsReply(
            method,
            ok=False,
            outcome_unknown=True,
            transport_error=kind,
            latency_ns=self._monotonic_ns() - started,
        )

    # -- token -----------------------------------------------------------------------------

    async def _current_token(self) -> str:
        """The token; a subscription maintained with it keeps it valid past its expiry."""
        held = self._token is not None and self._token == self._held_token
        if self._token is None or (not held and self._clock() >= self._token_expires_ns):
            await self._fetch_token()
        assert self._token is not None
        return self._token

    async def _fetch_token(self) -> None:
        result = await self._token_source()
        if isinstance(result, KrakenFailure):
            raise _TokenUnavailable(f"GetWebSocketsToken failed: {result.describe()}")
        value = result.value
        self.tokens_fetched += 1
        self._token = value.token
        lifetime_s = max(0.0, value.expires - self._refresh_margin_s)
        self._token_expires_ns = self._clock() + int(lifetime_s * _NS_PER_S)

    # -- connection ------------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            try:
                await self._connect_and_serve()
                attempt = 0
            except asyncio.CancelledError:
                raise
            except Exception as e:  # any failure: back off and reconnect
                self.last_error = f"{type(e).__name__}: {e}"
                _log.warning("ws_trading.connection_failed error=%s", self.last_error)
                attempt += 1
            finally:
                self._connected.clear()
            if not self._stopping:
                await self._sleeper(backoff_delay(attempt, self._rng, 0.05, 5.0))

    async def _connect_and_serve(self) -> None:
        assert self._http is not None
        started = self._monotonic_ns()
        try:
            socket = await self._http.ws_connect(self.url, autoping=True, heartbeat=None)
        except Exception as e:
            self._report_connect(started, error=f"{type(e).__name__}: {e}")
            raise
        session = _Session(socket)
        self._session = session
        self._snapshot_seen.clear()
        self._gap_from_ns = self._last_heard_ns
        self.connects += 1
        try:
            try:
                await self._subscribe_executions(session)
            except Exception as e:
                self._report_connect(started, error=f"{type(e).__name__}: {e}")
                raise
            self._report_connect(started, error=None)
            self._connected.set()
            await self._serve(session)
        finally:
            self._connected.clear()
            self._snapshot_seen.clear()
            self._held_token = None
            for _, future in session.pending.values():
                if not future.done():
                    future.set_exception(_ConnectionLost())
            session.pending.clear()
            await socket.close()
            self._session = None

    async def _subscribe_executions(self, session: _Session) -> None:
        """Subscribe (a stale token gets one refresh) and apply the snapshot."""
        for attempt in range(2):
            req_id = next(self._req_ids)
            token = await self._current_token()
            params = {
                "channel": "executions",
                "token": token,
                "snap_orders": True,
                "snap_trades": True,
            }
            message = {"method": "subscribe", "params": params, "req_id": req_id}
            await session.socket.send_str(msgspec.json.encode(message).decode())
            ack = await self._await_ack(session, req_id)
            if ack.success:
                self._held_token = token
                return
            if ack.error is not None and ack.error.startswith(TOKEN_ERRORS) and attempt == 0:
                self._token = None
                continue
            raise ConnectionError(f"executions subscription refused: {ack.error}")

    async def _await_ack(self, session: _Session, req_id: int) -> _Incoming:
        async with asyncio.timeout(self._connect_timeout_s):
            while True:
                message = await session.socket.receive()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    raise ConnectionError(f"socket ended while subscribing ({message.type})")
                incoming = self._dispatch(session, message.data)
                if incoming is not None and incoming.req_id == req_id:
                    return incoming

    async def _serve(self, session: _Session) -> None:
        while True:
            try:
                message = await session.socket.receive(timeout=self._silence_timeout_s)
            except TimeoutError:
                raise ConnectionError("no message within the silence timeout") from None
            if message.type is not aiohttp.WSMsgType.TEXT:
                return
            self._dispatch(session, message.data)

    def _dispatch(self, session: _Session, text: str) -> _Incoming | None:
        self._last_heard_ns = self._clock()
        try:
            incoming = _decoder.decode(text)
        except msgspec.DecodeError:
            _log.warning("ws_trading.undecodable length=%d", len(text))
            return None
        if incoming.channel == "executions":
            self._apply_executions(incoming)
            return incoming
        if incoming.req_id is not None:
            waiting = session.pending.pop(incoming.req_id, None)
            if waiting is not None and not waiting[1].done():
                waiting[1].set_result(incoming)
        return incoming

    def _apply_executions(self, incoming: _Incoming) -> None:
        try:
            updates = msgspec.convert(incoming.data or [], list[ExecutionUpdate])
        except msgspec.ValidationError:
            _log.warning("ws_trading.bad_executions_message")
            return
        snapshot = incoming.type == "snapshot"
        if snapshot:
            self._snapshot_ns = self._clock()
        floor_ns = self._gap_from_ns if snapshot else self._snapshot_ns
        for entry in updates:
            update = msgspec.structs.replace(entry, snapshot=True) if snapshot else entry
            previous = self.orders.get(update.order_id)
            if previous is not None:
                update = _carried_over(previous, update)
            else:
                self._created_after[update.order_id] = floor_ns
            self.orders[update.order_id] = update
            if update.cl_ord_id is not None:
                self._order_ids[update.cl_ord_id] = update.order_id
            if self._on_execution is not None:
                try:
                    self._on_execution(update)
                except Exception:
                    _log.exception("on_execution observer failed")
        if snapshot:
            self._snapshot_seen.set()

    # -- reports ---------------------------------------------------------------------------

    def _report(self, reply: WsReply, *, scope: str | None = None, probe: bool = False) -> None:
        """``scope``: where an answered call counts (default ``kraken.trading``); a transport
        failure always counts against this socket's own scope."""
        if self._on_call is None:
            return
        now = self._clock()
        endpoint = f"ws.{reply.method}"
        if reply.method in _PLACING:
            operation = OperationKind.PLACE
        elif reply.method == "ping":
            operation = OperationKind.READ
        else:
            operation = OperationKind.CANCEL
        answered_scope = scope or "kraken.trading"
        event: KrakenCallSucceeded | KrakenCallFailed
        if reply.ok:
            event = KrakenCallSucceeded(
                ts_event=now,
                ts_init=now,
                scope=answered_scope,
                endpoint=endpoint,
                operation=operation,
                latency_ns=reply.latency_ns,
                probe=probe,
            )
        else:
            event = KrakenCallFailed(
                ts_event=now,
                ts_init=now,
                scope=answered_scope if reply.error is not None else WS_TRADING_SCOPE,
                endpoint=endpoint,
                operation=operation,
                latency_ns=reply.latency_ns,
                errors=reply.describe(),
                outcome_unknown=reply.outcome_unknown,
                transport_error=reply.transport_error,
                probe=probe,
            )
        self._emit(event)

    def _report_connect(self, started_ns: int, *, error: str | None) -> None:
        if self._on_call is None:
            return
        event = connect_report(
            now_ns=self._clock(),
            latency_ns=self._monotonic_ns() - started_ns,
            scope=WS_TRADING_SCOPE,
            error=error,
            transport_error=None if error is None else TransportError.CONNECTION,
        )
        self._emit(event)

    def _emit(self, event: KrakenCallSucceeded | KrakenCallFailed) -> None:
        assert self._on_call is not None
        try:
            self._on_call(event)
        except Exception:
            _log.exception("on_call observer failed for %s", event.endpoint)


_KEPT_FIELDS = ("symbol", "side", "order_type", "cl_ord_id", "order_qty", "limit_price")


def _carried_over(previous: ExecutionUpdate, update: ExecutionUpdate) -> ExecutionUpdate:
    """``update`` with the order's fixed fields it leaves out taken from ``previous`` (Kraken's
    updates carry only what changed)."""
    missing = {
        name: getattr(previous, name)
        for name in _KEPT_FIELDS
        if getattr(update, name) in (None, "") and getattr(previous, name) not in (None, "")
    }
    return msgspec.structs.replace(update, **missing) if missing else update


class _ConnectionLost(Exception):
    pass


class _TokenUnavailable(Exception):
    pass


def auth_url_for(ws_url: str, ws_auth_url: str = "") -> str:
    """The authenticated endpoint: ``ws_auth_url`` if set, else derived from the public one
    (``wss://ws.kraken.com/v2`` → ``wss://ws-auth.kraken.com/v2``; the simulator's
    ``ws://host:port/ws/v2`` → ``ws://host:port/ws/v2-auth``)."""
    if ws_auth_url:
        return ws_auth_url
    parts = urlsplit(ws_url)
    host = parts.hostname or ""
    if host.startswith(("ws.", "beta-ws.")):
        netloc = parts.netloc.replace("ws.", "ws-auth.", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "-auth"))
