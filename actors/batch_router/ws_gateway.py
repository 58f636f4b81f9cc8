"""Order entry over Kraken's authenticated WebSocket, behind the router's ``ExchangeGateway`` port.

Placements go over :class:`kraken.ws_trading.KrakenWsTrading` (no nonces, so nothing is
serialized per key); everything else, and every placement while the WS path is unusable, goes
through the REST :class:`KrakenGateway`:

* the WS connection is down (not connected right now), or
* the ``kraken.ws_trading`` breaker is not CLOSED (``ws_breaker_closed`` says so): the
  classifier opens it on transport failures of the trading socket, which the WS client reports
  under that scope (market-data's ``kraken.ws`` is another socket and plays no part here).

The unknown-outcome rules are REST's: a placement whose connection dropped after sending, or
that timed out, is answered ``outcome_unknown`` and the executor reconciles it by ``cl_ord_id``
with :meth:`find_orders`. Orders are first looked up in the socket's ``executions`` view (its
snapshot after a reconnect, then its updates: status and fills without polling); only the ones
not there are asked of REST OpenOrders/ClosedOrders, which is also what proves an order absent
(the snapshot lists open orders and recent trades, not every order that ever existed), and what
answers alone while the socket is down.
A placement is never retried over the other path by this gateway: that decision (after
reconciling) is the executor's, as with REST.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from actors.batch_router.batch_sizing import ChunkPlan, plan_chunks
from actors.batch_router.kraken_gateway import KrakenGateway
from actors.batch_router.ports import (
    BatchPlacementReply,
    LookupResult,
    OrderLookup,
    PairRules,
    PlacementReply,
)
from kraken.send_deadline import SendDeadline
from kraken.ws_trading import WS_TRADING_SCOPE, ExecutionUpdate, KrakenWsTrading, WsReply
from schemas.events import KrakenCallFailed, OperationKind
from schemas.orders import OrderRequest

__all__ = ["WsOrderGateway"]


SNAPSHOT_WAIT_S = 1.0
"""How long a look-up waits for a dropped socket to reconnect and bring its snapshot."""
_REST_STATUS = {
    "pending_new": "pending",
    "new": "open",
    "partially_filled": "open",
    "filled": "closed",
}
"""``executions`` order statuses in REST's words (``canceled``/``expired`` are the same)."""


def _is_same_order(update: ExecutionUpdate, lookup: OrderLookup) -> bool:
    """What the entry says besides the ``cl_ord_id`` must agree (when it says it)."""
    if update.symbol and update.symbol != lookup.pair:
        return False
    if update.side and update.side != lookup.side:
        return False
    return update.order_qty is None or update.order_qty == lookup.volume


class WsOrderGateway:
    def __init__(
        self,
        ws: KrakenWsTrading,
        rest: KrakenGateway,
        clock: Callable[[], int],
        ws_breaker_closed: Callable[[], bool] = lambda: True,
    ) -> None:
        self._ws = ws
        self._rest = rest
        self._clock = clock
        self._ws_breaker_closed = ws_breaker_closed
        self.ws_placements = 0
        self.rest_placements = 0

    @property
    def rest(self) -> KrakenGateway:
        return self._rest

    def ws_usable(self) -> bool:
        return self._ws.connected and self._ws_breaker_closed()

    def pair_rules(self, pair: str) -> PairRules | None:
        return self._rest.pair_rules(pair)

    def clock_ahead_ns(self) -> int:
        return self._rest.clock_ahead_ns()

    def chunk_plan(self, pair: str, order_count: int) -> ChunkPlan | None:
        """No nonces on the socket: a pair's chunks may go out together, as many as its
        trading counter affords now (the client still waits on that counter before each)."""
        counter = self._ws.trading_counter(pair)
        if counter is None or not self.ws_usable():
            return None
        return plan_chunks(order_count, counter.level(), counter.limits)

    async def find_order(self, lookup: OrderLookup) -> LookupResult:
        return (await self.find_orders([lookup]))[lookup.cl_ord_id]

    async def find_orders(self, lookups: Sequence[OrderLookup]) -> dict[str, LookupResult]:
        if not self._ws_breaker_closed() or not await self._ws.wait_for_snapshot(SNAPSHOT_WAIT_S):
            return await self._rest.find_orders(lookups)
        found: dict[str, LookupResult] = {}
        for lookup in lookups:
            update = self._ws.order_by_cl_ord_id(lookup.cl_ord_id)
            if (
                update is not None
                and _is_same_order(update, lookup)
                and self._ws.created_after(update.order_id) >= lookup.opened_after_ns
            ):
                status = _REST_STATUS.get(update.order_status, update.order_status)
                found[lookup.cl_ord_id] = LookupResult(
                    found=True, txid=update.order_id, status=status
                )
        rest = [lookup for lookup in lookups if lookup.cl_ord_id not in found]
        if not rest:
            return found
        return {**await self._rest.find_orders(rest), **found}

    async def add_order(
        self,
        order: OrderRequest,
        cl_ord_id: str,
        *,
        deadline: SendDeadline | None,
        validate: bool,
        probe: bool,
    ) -> PlacementReply:
        if not self.ws_usable():
            self.rest_placements += 1
            return await self._rest.add_order(
                order, cl_ord_id, deadline=deadline, validate=validate, probe=probe
            )
        self.ws_placements += 1
        reply = await self._ws.add_order(
            order,
            symbol=order.pair,
            cl_ord_id=cl_ord_id,
            deadline=deadline,
            validate=validate,
        )
        if reply.ok:
            order_id = reply.result.get("order_id") if isinstance(reply.result, dict) else None
            return PlacementReply(ok=True, txid=order_id)
        return self._failure(reply, probe)

    async def add_order_batch(
        self,
        pair: str,
        orders: Sequence[tuple[OrderRequest, str]],
        *,
        deadline: SendDeadline | None,
        validate: bool,
        probe: bool,
    ) -> BatchPlacementReply:
        if not self.ws_usable():
            self.rest_placements += 1
            return await self._rest.add_order_batch(
                pair, orders, deadline=deadline, validate=validate, probe=probe
            )
        self.ws_placements += 1
        reply = await self._ws.batch_add(pair, list(orders), deadline=deadline, validate=validate)
        if not reply.ok:
            return BatchPlacementReply(failure=self._failure(reply, probe))
        rows = reply.result if isinstance(reply.result, list) else []
        if len(rows) != len(orders):
            # Kraken answered, but not one row per order: which ones exist is unknown.
            failure = WsReply(reply.method, ok=False, error="bad batch_add result shape")
            return BatchPlacementReply(failure=self._failure(failure, probe, unknown=True))
        entries = tuple(
            PlacementReply(ok=True, txid=row.get("order_id"))
            if row.get("success", True) is not False
            else PlacementReply(ok=False, errors=(str(row.get("error")),))
            for row in rows
        )
        return BatchPlacementReply(entries=entries)

    def _failure(self, reply: WsReply, probe: bool, *, unknown: bool = False) -> PlacementReply:
        now = self._clock()
        event = KrakenCallFailed(
            ts_event=now,
            ts_init=now,
            scope="kraken.trading" if reply.error is not None else WS_TRADING_SCOPE,
            endpoint=f"ws.{reply.method}",
            operation=OperationKind.PLACE,
            latency_ns=reply.latency_ns,
            errors=reply.describe(),
            outcome_unknown=reply.outcome_unknown or unknown,
            transport_error=reply.transport_error,
            probe=probe,
        )
        return PlacementReply(
            ok=False,
            errors=reply.describe(),
            outcome_unknown=reply.outcome_unknown or unknown,
            call_failure=event,
        )
