"""The Kraken REST client seen through the router's ``ExchangeGateway`` port."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import msgspec

from actors.batch_router.batch_sizing import ChunkPlan
from actors.batch_router.ports import (
    BatchPlacementReply,
    LookupResult,
    OrderLookup,
    PairRules,
    PlacementReply,
)
from kraken.models import OrderInfo
from kraken.pairs import PairRegistry
from kraken.rest import KrakenRestClient, scope_of
from kraken.result import KrakenFailure, KrakenOk
from kraken.send_deadline import SendDeadline
from schemas.events import KrakenCallFailed, OperationKind
from schemas.orders import OrderRequest

__all__ = ["KrakenGateway"]

_NS_PER_S = 1_000_000_000


class KrakenGateway:
    """Places and looks up orders through one :class:`KrakenRestClient`.

    Pairs arrive as WS v2 symbols (``BTC/USD``) and leave as REST altnames via ``registry``.
    ``KrakenCall*`` events are published by the client's own ``on_call`` observer; a failed
    placement also carries the same description as ``call_failure`` for the verdict request.
    """

    def __init__(
        self, client: KrakenRestClient, registry: PairRegistry, clock: Callable[[], int]
    ) -> None:
        self._client = client
        self._registry = registry
        self._clock = clock

    @property
    def registry(self) -> PairRegistry:
        return self._registry

    def replace_registry(self, registry: PairRegistry) -> None:
        self._registry = registry

    def pair_rules(self, pair: str) -> PairRules | None:
        info = self._registry.get(pair)
        # Only the v2 symbol is the project's name; ``XBTUSD`` in a batch is not accepted.
        if info is None or info.symbol != pair:
            return None
        return info

    def clock_ahead_ns(self) -> int:
        return self._client.venue_clock.ahead_ns()

    def chunk_plan(self, pair: str, order_count: int) -> ChunkPlan | None:
        return None  # signed REST calls go out one at a time per key (nonces)

    def _rest_pair(self, pair: str) -> str:
        return self._registry.to_altname(pair) if pair in self._registry else pair

    async def add_order(
        self,
        order: OrderRequest,
        cl_ord_id: str,
        *,
        deadline: SendDeadline | None,
        validate: bool,
        probe: bool,
    ) -> PlacementReply:
        expiretm = None if order.expire_time_ns is None else order.expire_time_ns // _NS_PER_S
        result = await self._client.add_order(
            pair=self._rest_pair(order.pair),
            side=order.side,
            ordertype=order.order_type,
            volume=order.volume,
            price=order.price,
            price2=order.price2,
            timeinforce=order.time_in_force,
            expiretm=expiretm,
            post_only=order.post_only,
            reduce_only=order.reduce_only,
            cl_ord_id=cl_ord_id,
            validate=validate,
            deadline=deadline,
            probe=probe,
        )
        if isinstance(result, KrakenOk):
            txids = result.value.txid
            return PlacementReply(ok=True, txid=txids[0] if txids else None)
        return self._failure_reply(result, probe)

    async def add_order_batch(
        self,
        pair: str,
        orders: Sequence[tuple[OrderRequest, str]],
        *,
        deadline: SendDeadline | None,
        validate: bool,
        probe: bool,
    ) -> BatchPlacementReply:
        # The client sends each order's own ``cl_ord_id``: put the assigned one there.
        requests = [
            msgspec.structs.replace(order, cl_ord_id=cl_ord_id) for order, cl_ord_id in orders
        ]
        result = await self._client.add_order_batch(
            self._rest_pair(pair),
            requests,
            deadline=deadline,
            validate=validate,
            probe=probe,
        )
        if isinstance(result, KrakenFailure):
            return BatchPlacementReply(failure=self._failure_reply(result, probe))
        entries = tuple(
            PlacementReply(ok=True, txid=entry.txid)
            if entry.error is None
            else PlacementReply(ok=False, errors=(entry.error,))
            for entry in result.value.orders
        )
        return BatchPlacementReply(entries=entries)

    async def find_orders(self, lookups: Sequence[OrderLookup]) -> dict[str, LookupResult]:
        """Look up many orders with few calls: one ``OpenOrders`` (all open orders), then
        ``ClosedOrders`` pages bounded by the earliest run start, until every order is found or
        the pages run out. A single order uses the ``cl_ord_id`` filters instead."""
        if len(lookups) == 1:
            [lookup] = lookups
            return {lookup.cl_ord_id: await self.find_order(lookup)}
        wanted = {lookup.cl_ord_id: lookup for lookup in lookups}
        found: dict[str, LookupResult] = {}
        open_result = await self._client.open_orders()
        if isinstance(open_result, KrakenFailure):
            return _failed_for(wanted)
        self._collect(open_result.value.open, wanted, found)
        since_ns = min(lookup.opened_after_ns for lookup in lookups)
        start_s = max(0, since_ns // _NS_PER_S - 1)
        offset = 0
        while len(found) < len(wanted):
            closed_result = await self._client.closed_orders(start_s=start_s, offset=offset)
            if isinstance(closed_result, KrakenFailure):
                return {**_failed_for(wanted), **found}
            page = closed_result.value.closed
            self._collect(page, wanted, found)
            offset += len(page)
            if not page or offset >= closed_result.value.count:
                break
            missing = [lookup for cl_ord_id, lookup in wanted.items() if cl_ord_id not in found]
            pages_left = -(-(closed_result.value.count - offset) // max(1, len(page)))
            if len(missing) < pages_left:
                # Other batches' orders fill the pages: asking for the few missing by id
                # costs fewer calls.
                for lookup in missing:
                    one = await self._closed_by_id(lookup)
                    if one.lookup_failed:
                        return {**_failed_for(wanted), **found}
                    if one.found:
                        found[lookup.cl_ord_id] = one
                break
        return {cl_ord_id: found.get(cl_ord_id, LookupResult(found=False)) for cl_ord_id in wanted}

    async def _closed_by_id(self, lookup: OrderLookup) -> LookupResult:
        result = await self._client.closed_orders(cl_ord_id=lookup.cl_ord_id)
        if isinstance(result, KrakenFailure):
            return LookupResult(found=False, lookup_failed=True)
        found = _match(result.value.closed, lookup, self._rest_pair(lookup.pair))
        return found if found is not None else LookupResult(found=False)

    def _collect(
        self,
        orders: Mapping[str, OrderInfo],
        wanted: Mapping[str, OrderLookup],
        found: dict[str, LookupResult],
    ) -> None:
        for txid, info in orders.items():
            lookup = wanted.get(info.cl_ord_id or "")
            if lookup is None or lookup.cl_ord_id in found:
                continue
            if is_same_order(info, lookup, self._rest_pair(lookup.pair)):
                found[lookup.cl_ord_id] = LookupResult(found=True, txid=txid, status=info.status)

    async def find_order(self, lookup: OrderLookup) -> LookupResult:
        cl_ord_id = lookup.cl_ord_id
        rest_pair = self._rest_pair(lookup.pair)
        open_result = await self._client.open_orders(cl_ord_id=cl_ord_id)
        if isinstance(open_result, KrakenFailure):
            return LookupResult(found=False, lookup_failed=True)
        found = _match(open_result.value.open, lookup, rest_pair)
        if found is not None:
            return found
        closed_result = await self._client.closed_orders(cl_ord_id=cl_ord_id)
        if isinstance(closed_result, KrakenFailure):
            return LookupResult(found=False, lookup_failed=True)
        found = _match(closed_result.value.closed, lookup, rest_pair)
        return found if found is not None else LookupResult(found=False)

    def _failure_reply(self, failure: KrakenFailure, probe: bool) -> PlacementReply:
        now = self._clock()
        event = KrakenCallFailed(
            ts_event=now,
            ts_init=now,
            scope=scope_of(failure.endpoint),
            endpoint=failure.endpoint,
            operation=OperationKind.PLACE,
            latency_ns=failure.latency_ns,
            errors=failure.describe(),
            http_status=failure.http_status,
            outcome_unknown=failure.outcome_unknown,
            transport_error=failure.transport_error,
            probe=probe,
        )
        return PlacementReply(
            ok=False,
            errors=failure.describe(),
            outcome_unknown=failure.outcome_unknown,
            call_failure=event,
        )


def _failed_for(wanted: Mapping[str, OrderLookup]) -> dict[str, LookupResult]:
    return {cl_ord_id: LookupResult(found=False, lookup_failed=True) for cl_ord_id in wanted}


def _match(
    orders: Mapping[str, OrderInfo], lookup: OrderLookup, rest_pair: str
) -> LookupResult | None:
    """The order of ``lookup`` among ``orders``, checked field by field: a venue ignoring the
    filter, or an older order that reused the ``cl_ord_id``, never counts as ours."""
    for txid, info in orders.items():
        if is_same_order(info, lookup, rest_pair):
            return LookupResult(found=True, txid=txid, status=info.status)
    return None


def is_same_order(info: OrderInfo, lookup: OrderLookup, rest_pair: str) -> bool:
    if info.cl_ord_id != lookup.cl_ord_id:
        return False
    if info.opentm is None or int(info.opentm * _NS_PER_S) < lookup.opened_after_ns:
        return False
    descr = info.descr
    if descr.pair is not None and descr.pair not in {rest_pair, lookup.pair}:
        return False
    if descr.type is not None and descr.type != lookup.side:
        return False
    return info.vol == lookup.volume
