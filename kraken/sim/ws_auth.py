"""The authenticated WebSocket v2 endpoint at ``/ws/v2-auth`` (Kraken: ``ws-auth.kraken.com/v2``).

Trading methods (``add_order``, ``batch_add``, ``cancel_order``, ``cancel_all``,
``cancel_all_orders_after``, ``amend_order``, ``edit_order``) and the private ``executions``
channel, each authenticated by the ``token`` param from REST ``GetWebSocketsToken``
(:mod:`kraken.sim.ws_tokens`). The methods run the REST private-method code (same engine,
ledger, trading-rate counters and error strings); see :mod:`kraken.sim.ws_trading_params`.

Fault injection uses the REST endpoint name of each method (``add_order`` → ``AddOrder``), so a
scenario's faults mean the same on both paths: ``latency`` delays the request, ``outage``
answers ``EService:Unavailable``/``EService:Busy``, ``lose_response`` processes the request and
then drops the connection (``drop``, ``http_502``) or never answers (``timeout``),
``late_landing`` hands the request to the engine ``hold_s`` late (``drop``: the socket closes at
once). Requests are
counted as ``ws:<method>`` in ``request_counts()``.

A trading request's answer is queued as soon as it is traded; the account's ``executions``
update follows in the next loop turn, one diff for every request traded in that turn (Kraken
promises no order between the two, and answers should not wait for the diffs).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from kraken.sim.book import SyntheticBook
from kraken.sim.errors import SERVICE_BUSY, SERVICE_UNAVAILABLE, SimError, invalid_arguments
from kraken.sim.exchange import Account, SimExchange
from kraken.sim.executions import ExecutionTracker
from kraken.sim.orders import SimOrder
from kraken.sim.pairs import PairSpec, find_ws_pair
from kraken.sim.prices import Quote
from kraken.sim.records import amend_order as rest_amend_order
from kraken.sim.records import edit_order as rest_edit_order
from kraken.sim.scenario import LateLandingFault
from kraken.sim.trading import (
    add_order as rest_add_order,
)
from kraken.sim.trading import (
    cancel_all as rest_cancel_all,
)
from kraken.sim.trading import (
    cancel_all_orders_after as rest_cancel_all_orders_after,
)
from kraken.sim.trading import (
    cancel_order as rest_cancel_order,
)
from kraken.sim.trading import place_order_batch
from kraken.sim.wire import compact_json, rfc3339_micros
from kraken.sim.ws_tokens import INVALID_TOKEN
from kraken.sim.ws_trading_params import rest_order_params

__all__ = ["FAULT_ENDPOINTS", "WS_AUTH_HUB_KEY", "WS_AUTH_PATH", "WsAuthHub"]

WS_AUTH_PATH = "/ws/v2-auth"
FAULT_ENDPOINTS = {
    "add_order": "AddOrder",
    "batch_add": "AddOrderBatch",
    "cancel_order": "CancelOrder",
    "cancel_all": "CancelAll",
    "cancel_all_orders_after": "CancelAllOrdersAfter",
    "amend_order": "AmendOrder",
    "edit_order": "EditOrder",
}
_VERSION = "2.0.10"

Reply = dict[str, Any]


@dataclass(eq=False)
class _Connection:
    socket: web.WebSocketResponse
    request: web.Request
    outbox: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    executions_token: str | None = None
    executions_account: str | None = None
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)


class WsAuthHub:
    """All authenticated sockets; a ``MarketFeed`` only to learn when the engine moved."""

    def __init__(self, exchange: SimExchange, heartbeat_interval_s: float) -> None:
        self._exchange = exchange
        self._heartbeat_interval_s = heartbeat_interval_s
        self._connections: set[_Connection] = set()
        self._trackers: dict[str, ExecutionTracker] = {}
        self._diffs_due: set[str] = set()
        """Accounts whose ``executions`` diff is scheduled for the next loop turn."""
        self._held: set[asyncio.Task[None]] = set()
        """Late-landing requests on their way to the engine (they outlive their socket)."""
        exchange.feeds.append(self)
        exchange.order_closed_listeners.append(self._order_closed)

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    # -- MarketFeed: a quote step may have filled, triggered or expired orders -------------

    def publish_quote(self, spec: PairSpec, quote: Quote) -> None:
        for key in self._trackers:
            self._publish_changes(key)

    def publish_book(self, spec: PairSpec, book: SyntheticBook) -> None:
        return None

    def publish_status(self, status: str) -> None:
        return None

    def disconnect_all(self, *, abrupt: bool = False) -> None:
        for connection in list(self._connections):
            self._drop(connection, abrupt=abrupt)

    # -- executions ------------------------------------------------------------------------

    def _order_closed(self, order: SimOrder) -> None:
        tracker = self._trackers.get(order.account)
        if tracker is not None:
            tracker.closed(order)

    def _orders_of(self, key: str) -> list[Any]:
        return [order for order in self._exchange.orders.values() if order.account == key]

    def _publish_changes(self, key: str) -> None:
        tracker = self._trackers.get(key)
        if tracker is None:
            return
        updates = tracker.changes(self._exchange.open_orders_of(key), self._exchange.clock())
        if not updates:
            return
        message = compact_json({"channel": "executions", "type": "update", "data": updates})
        for connection in self._connections:
            if connection.executions_account == key:
                connection.outbox.put_nowait(message)

    def _publish_changes_soon(self, key: str) -> None:
        """Diff the account's orders once this loop turn's work is done: the trading replies
        leave first, and requests traded in the same turn share one diff and one message."""
        if key in self._trackers and key not in self._diffs_due:
            self._diffs_due.add(key)
            asyncio.get_running_loop().call_soon(self._publish_due_changes, key)

    def _publish_due_changes(self, key: str) -> None:
        self._diffs_due.discard(key)
        self._publish_changes(key)

    def _subscribe_executions(
        self, connection: _Connection, params: Mapping[str, Any], head: Reply, key: str
    ) -> list[Reply | str]:
        tracker = self._trackers.get(key)
        if tracker is None:
            tracker = self._trackers[key] = ExecutionTracker()
            tracker.prime(self._exchange.open_orders_of(key))
        else:
            self._publish_changes(key)  # bring everyone else up to date first
        token = params["token"]
        if connection.executions_token is not None:
            self._exchange.ws_tokens.unpin(connection.executions_token)
        self._exchange.ws_tokens.pin(token)
        connection.executions_token = token
        connection.executions_account = key
        snap_orders = params.get("snap_orders", True) is not False
        snap_trades = params.get("snap_trades", False) is True
        account = self._exchange.accounts[key]
        result = {
            "channel": "executions",
            "maxratecount": account.trading_limiter.counter("").limits.cap,
            "snapshot": snap_orders or snap_trades,
        }
        replies: list[Reply | str] = [{**head, "result": result, "success": True}]
        if snap_orders or snap_trades:
            data = tracker.snapshot(
                self._orders_of(key),
                self._exchange.clock(),
                snap_orders=snap_orders,
                snap_trades=snap_trades,
            )
            replies.append(
                compact_json(
                    {"channel": "executions", "type": "snapshot", "data": data, "sequence": 1}
                )
            )
        return replies

    def _unsubscribe_executions(self, connection: _Connection, head: Reply) -> Reply:
        if connection.executions_token is None:
            missing = "Subscription Not Found"
            return {**head, "method": "subscribe", "error": missing, "success": False}
        self._exchange.ws_tokens.unpin(connection.executions_token)
        connection.executions_token = connection.executions_account = None
        return {**head, "result": {"channel": "executions"}, "success": True}

    # -- requests --------------------------------------------------------------------------

    def _stamp(self, reply: Reply, time_in: str) -> str:
        reply["time_in"] = time_in
        reply["time_out"] = rfc3339_micros(self._exchange.clock())
        return compact_json(reply)

    def _account(self, params: Mapping[str, Any]) -> Account:
        key = self._exchange.ws_tokens.account_of(params.get("token"))
        if key is None:
            raise SimError(INVALID_TOKEN)
        return self._exchange.accounts[key]

    def _handle(self, connection: _Connection, text: str) -> None:
        time_in = rfc3339_micros(self._exchange.clock())
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            message = None
        if not isinstance(message, dict):
            reply: Reply = {"error": "Malformed request", "success": False}
            connection.outbox.put_nowait(self._stamp(reply, time_in))
            return
        method = message.get("method")
        head: Reply = {"method": method}
        if "req_id" in message:
            head["req_id"] = message["req_id"]
        raw_params = message.get("params")
        params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
        if method == "ping":
            connection.outbox.put_nowait(self._stamp({**head, "method": "pong"}, time_in))
            return
        if method in {"subscribe", "unsubscribe"}:
            for item in self._subscription(connection, method, params, head):
                connection.outbox.put_nowait(
                    item if isinstance(item, str) else self._stamp(item, time_in)
                )
            return
        if not isinstance(method, str) or method not in FAULT_ENDPOINTS:
            reply = {**head, "error": "Method not found", "success": False}
            connection.outbox.put_nowait(self._stamp(reply, time_in))
            return
        self._exchange.count_request(f"ws:{method}")
        endpoint = FAULT_ENDPOINTS[method]
        late = self._exchange.faults.late_landing(endpoint)
        if late is not None:
            self._land_late(late, connection, method, endpoint, params, head, time_in)
            return
        delay_s = self._exchange.faults.latency_s(endpoint)
        if delay_s <= 0:
            self._trade(connection, method, endpoint, params, head, time_in)
            return
        task = asyncio.get_running_loop().create_task(
            self._trade_later(delay_s, connection, method, endpoint, params, head, time_in)
        )
        connection.tasks.add(task)
        task.add_done_callback(connection.tasks.discard)

    async def _trade_later(
        self,
        delay_s: float,
        connection: _Connection,
        method: str,
        endpoint: str,
        params: dict[str, Any],
        head: Reply,
        time_in: str,
    ) -> None:
        await asyncio.sleep(delay_s)
        if not connection.socket.closed:
            self._trade(connection, method, endpoint, params, head, time_in)
            # Requests whose delay ends together are traded one after another in this loop
            # turn; answer each as it is done, as Kraken would, not all after the last.
            await self._flush(connection)

    def _land_late(
        self,
        fault: LateLandingFault,
        connection: _Connection,
        method: str,
        endpoint: str,
        params: dict[str, Any],
        head: Reply,
        time_in: str,
    ) -> None:
        """The engine sees the request ``hold_s`` late, whatever happens to the socket;
        ``answer: drop`` closes the socket at once (the client learns nothing)."""

        async def held() -> None:
            await asyncio.sleep(fault.hold_s)
            self._trade(connection, method, endpoint, params, head, time_in)

        task = asyncio.get_running_loop().create_task(held())
        self._held.add(task)
        task.add_done_callback(self._held.discard)
        if fault.answer == "drop":
            self._drop(connection, abrupt=True)

    def _trade(
        self,
        connection: _Connection,
        method: str,
        endpoint: str,
        params: dict[str, Any],
        head: Reply,
        time_in: str,
    ) -> None:
        faults = self._exchange.faults
        outage = faults.outage(endpoint)
        account: Account | None = None
        replies: list[Reply]
        if outage is not None:
            error = SERVICE_BUSY if outage.response == "busy" else SERVICE_UNAVAILABLE
            replies = [{**head, "error": error, "success": False}]
        else:
            try:
                account = self._account(params)
                if self._exchange.system_status == "maintenance":
                    raise SimError(SERVICE_UNAVAILABLE)
                answers = _METHODS[method](self._exchange, account, params)
                replies = [{**head, **answer} for answer in answers]
            except SimError as e:
                replies = [{**head, "error": e.error, "success": False}]
        if account is not None:
            self._publish_changes_soon(account.key)
        lost = faults.lost_response(endpoint) if outage is None else None
        if lost is not None:
            if lost.mode != "timeout":  # timeout: processed, never answered
                self._drop(connection, abrupt=True)
            return
        if connection.socket.closed:
            return
        for reply in replies:
            connection.outbox.put_nowait(self._stamp(reply, time_in))

    def _subscription(
        self, connection: _Connection, method: str, params: Mapping[str, Any], head: Reply
    ) -> list[Reply | str]:
        channel = params.get("channel")
        if channel != "executions":
            return [{**head, "error": "Subscription name invalid", "success": False}]
        key = self._exchange.ws_tokens.account_of(params.get("token"))
        if key is None:
            return [{**head, "error": INVALID_TOKEN, "success": False}]
        if method == "unsubscribe":
            return [self._unsubscribe_executions(connection, head)]
        return self._subscribe_executions(connection, params, head, key)

    # -- connection lifecycle --------------------------------------------------------------

    def _drop(self, connection: _Connection, *, abrupt: bool) -> None:
        if abrupt and connection.request.transport is not None:
            connection.request.transport.abort()
            return
        task = asyncio.get_running_loop().create_task(
            connection.socket.close(code=WSCloseCode.GOING_AWAY, message=b"sim disconnect")
        )
        connection.tasks.add(task)
        task.add_done_callback(connection.tasks.discard)

    async def _flush(self, connection: _Connection) -> None:
        """Send what is queued for ``connection`` now, in order (the writer would send it
        once this loop turn's other work is done)."""
        while not connection.outbox.empty() and not connection.socket.closed:
            if not await self._send(connection, connection.outbox.get_nowait()):
                return

    async def _send(self, connection: _Connection, message: str) -> bool:
        """Send one message unless the socket is silenced (a fault); False once it is gone."""
        if self._exchange.ws_silenced():
            return True
        try:
            await connection.socket.send_str(message)
        except (ConnectionError, RuntimeError):
            return False
        return True

    async def _write(self, connection: _Connection) -> None:
        heartbeat = compact_json({"channel": "heartbeat"})
        while not connection.socket.closed:
            try:
                message: str | None = await asyncio.wait_for(
                    connection.outbox.get(), self._heartbeat_interval_s
                )
            except TimeoutError:
                message = heartbeat if connection.executions_token is not None else None
            if message is not None and not await self._send(connection, message):
                return

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._exchange.count_request("ws-auth")
        connection = _Connection(socket, request)
        self._connections.add(connection)
        status = {
            "version": _VERSION,
            "system": self._exchange.system_status,
            "api_version": "v2",
            "connection_id": id(connection),
        }
        connection.outbox.put_nowait(
            compact_json({"channel": "status", "type": "update", "data": [status]})
        )
        writer = asyncio.create_task(self._write(connection))
        try:
            async for message in socket:
                if message.type is WSMsgType.TEXT:
                    self._handle(connection, message.data)
        finally:
            self._connections.discard(connection)
            if connection.executions_token is not None:
                self._exchange.ws_tokens.unpin(connection.executions_token)
            for task in list(connection.tasks):
                task.cancel()
            writer.cancel()
            with suppress(asyncio.CancelledError):
                await writer
        return socket

    async def close_all(self) -> None:
        for task in list(self._held):
            task.cancel()
        for connection in list(self._connections):
            await connection.socket.close(code=WSCloseCode.GOING_AWAY, message=b"sim stopping")


# -- the methods: WS params in, WS ``result`` replies out ---------------------------------------


def _spec(params: Mapping[str, Any]) -> PairSpec:
    symbol = params.get("symbol")
    spec = find_ws_pair(symbol) if isinstance(symbol, str) else None
    if spec is None:
        raise SimError(f"Currency pair not supported {symbol}")
    return spec


def _ids(order_id: str | None, cl_ord_id: Any) -> Reply:
    ids: Reply = {}
    if order_id is not None:
        ids["order_id"] = order_id
    if cl_ord_id is not None:
        ids["cl_ord_id"] = cl_ord_id
    return ids


def _add_order(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> list[Reply]:
    spec = _spec(params)
    rest = rest_order_params({k: v for k, v in params.items() if k != "symbol"})
    answer = rest_add_order(exchange, account, {**rest, "pair": spec.altname})
    txids = answer.get("txid") or [None]
    result = _ids(txids[0], params.get("cl_ord_id"))
    if params.get("order_userref") is not None:
        result["order_userref"] = params["order_userref"]
    return [{"result": result, "success": True}]


def _batch_add(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> list[Reply]:
    spec = _spec(params)
    orders = params.get("orders")
    if not isinstance(orders, list) or not all(isinstance(o, dict) for o in orders):
        raise SimError(invalid_arguments("orders"))
    body: dict[str, Any] = {
        "pair": spec.altname,
        "orders": [rest_order_params(order) for order in orders],
    }
    for name in ("deadline", "validate"):
        if params.get(name) is not None:
            body[name] = params[name]
    _, placed = place_order_batch(exchange, account, body)  # no ``descr``: WS answers have none
    entries: list[Reply] = []
    for index, order in enumerate(orders):
        outcome = None if placed is None else placed[index]
        if isinstance(outcome, SimError):
            entry = {**_ids(None, order.get("cl_ord_id")), "success": False, "error": outcome.error}
        else:
            entry = _ids(None if outcome is None else outcome.txid, order.get("cl_ord_id"))
        entries.append(entry)
    return [{"result": entries, "success": True}]


def _id_list(params: Mapping[str, Any], name: str) -> list[str]:
    value = params.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SimError(invalid_arguments(name))
    return value


def _cancel_order(
    exchange: SimExchange, account: Account, params: Mapping[str, Any]
) -> list[Reply]:
    """One reply per id, as Kraken answers a multi-id ``cancel_order``."""
    targets = [("txid", i) for i in _id_list(params, "order_id")]
    targets += [("cl_ord_id", i) for i in _id_list(params, "cl_ord_id")]
    if not targets:
        raise SimError(invalid_arguments("order_id"))
    replies: list[Reply] = []
    for name, value in targets:
        ids = _ids(value, None) if name == "txid" else _ids(None, value)
        try:
            rest_cancel_order(exchange, account, {name: value})
        except SimError as e:
            replies.append({"result": ids, "error": e.error, "success": False})
        else:
            replies.append({"result": ids, "success": True})
    return replies


def _cancel_all(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> list[Reply]:
    answer = rest_cancel_all(exchange, account, {})
    return [{"result": {"count": answer["count"]}, "success": True}]


def _cancel_all_orders_after(
    exchange: SimExchange, account: Account, params: Mapping[str, Any]
) -> list[Reply]:
    timeout = params.get("timeout")
    if isinstance(timeout, bool) or not isinstance(timeout, int):
        raise SimError(invalid_arguments("timeout"))
    answer = rest_cancel_all_orders_after(exchange, account, {"timeout": str(timeout)})
    return [{"result": answer, "success": True}]


def _amend_order(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> list[Reply]:
    rest: dict[str, Any] = {}
    if params.get("order_id") is not None:
        rest["txid"] = params["order_id"]
    if params.get("cl_ord_id") is not None:
        rest["cl_ord_id"] = params["cl_ord_id"]
    for name in ("order_qty", "limit_price", "trigger_price"):
        if params.get(name) is not None:
            rest[name] = str(params[name])
    answer = rest_amend_order(exchange, account, rest)
    ids = _ids(params.get("order_id"), params.get("cl_ord_id"))
    result = {"amend_id": answer["amend_id"], **ids}
    return [{"result": result, "success": True}]


def _edit_order(exchange: SimExchange, account: Account, params: Mapping[str, Any]) -> list[Reply]:
    rest: dict[str, Any] = {"txid": params.get("order_id")}
    renames = (("order_qty", "volume"), ("limit_price", "price"), ("order_userref", "userref"))
    for wire, name in renames:
        if params.get(wire) is not None:
            rest[name] = str(params[wire])
    if params.get("post_only") is True:
        rest["oflags"] = "post"
    answer = rest_edit_order(exchange, account, rest)
    result = {"order_id": answer.get("txid"), "original_order_id": answer.get("originaltxid")}
    return [{"result": result, "success": True}]


_METHODS: dict[str, Callable[[SimExchange, Account, Mapping[str, Any]], list[Reply]]] = {
    "add_order": _add_order,
    "batch_add": _batch_add,
    "cancel_order": _cancel_order,
    "cancel_all": _cancel_all,
    "cancel_all_orders_after": _cancel_all_orders_after,
    "amend_order": _amend_order,
    "edit_order": _edit_order,
}

WS_AUTH_HUB_KEY = web.AppKey("ws_auth_hub", WsAuthHub)
