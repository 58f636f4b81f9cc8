"""The private ``executions`` channel: order status and fills of one account, as WS v2 entries.

:class:`ExecutionTracker` diffs each order's state (status, executed volume, amendments)
against what it last reported, after WS trading requests and every market tick; REST-placed
orders therefore show up too, at the next tick. Only orders that can have changed are looked at:
the open ones, and those closed since the last diff (the engine reports every close), so a diff
costs the same after a million orders as after ten.

The snapshot (``snap_orders``) lists the open orders; ``snap_trades`` adds one ``trade`` entry
per recently traded order (its whole executed volume so far, the simulator's simplification
of Kraken's last-50-trades list), which is what lets a client that reconnects learn about fills
it missed while it was away.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from operator import attrgetter
from typing import Any

from kraken.sim.orders import SimOrder
from kraken.sim.wire import rfc3339_micros

__all__ = ["ExecutionTracker", "execution_entry", "order_status"]

SNAPSHOT_TRADES = 50


def order_status(order: SimOrder) -> str:
    """WS v2 ``order_status`` of a simulated order."""
    if order.status == "open":
        return "partially_filled" if order.vol_exec > 0 else "new"
    if order.status == "closed":
        return "filled"
    return order.status  # canceled, expired


def _num(value: Decimal, places: int) -> float:
    if not value:  # a new order's fills and costs: no rounding to do (the sign is kept)
        return float(value)
    return float(round(value, places))


def execution_entry(
    order: SimOrder, exec_type: str, now_ns: int, *, last_qty: Decimal | None = None
) -> dict[str, Any]:
    intent, spec = order.intent, order.pair
    entry: dict[str, Any] = {
        "exec_type": exec_type,
        "order_id": order.txid,
        "symbol": spec.ws_symbol,
        "side": intent.side,
        "order_type": intent.ordertype,
        "order_qty": _num(intent.volume, spec.lot_decimals),
        "order_status": order_status(order),
        "cum_qty": _num(order.vol_exec, spec.lot_decimals),
        "cum_cost": _num(order.cost, spec.cost_decimals),
        "avg_price": _num(order.average_price(), spec.pair_decimals),
        "fee_usd_equiv": _num(order.fee, spec.cost_decimals),
        "timestamp": rfc3339_micros(now_ns),
    }
    if intent.cl_ord_id is not None:
        entry["cl_ord_id"] = intent.cl_ord_id
    if intent.userref is not None:
        entry["order_userref"] = intent.userref
    if order.limit_price is not None:
        entry["limit_price"] = _num(order.limit_price, spec.pair_decimals)
    if last_qty is not None:
        entry["last_qty"] = _num(last_qty, spec.lot_decimals)
    if order.reason is not None and exec_type in {"canceled", "expired"}:
        entry["reason"] = order.reason
    return entry


@dataclass(slots=True)
class _Seen:
    status: str
    vol_exec: Decimal
    intent: object


_FINAL_EXEC_TYPES = {"closed": "filled", "canceled": "canceled", "expired": "expired"}
_placement = attrgetter("placed_seq")


class ExecutionTracker:
    """What each order last looked like to the account's subscribers; ``changes`` diffs it."""

    def __init__(self) -> None:
        self._seen: dict[str, _Seen] = {}
        self._closed: list[SimOrder] = []
        """Orders closed since the last diff (open orders are passed to each diff)."""

    def prime(self, open_orders: list[SimOrder]) -> None:
        """Take the current state as already reported (a new subscriber gets a snapshot);
        orders closed before now are never looked at again."""
        self._closed.clear()
        for order in open_orders:
            self._seen[order.txid] = _Seen(order.status, order.vol_exec, order.intent)

    def closed(self, order: SimOrder) -> None:
        """The engine closed ``order`` (filled, canceled, expired): diff it next time."""
        self._closed.append(order)

    def changes(self, open_orders: list[SimOrder], now_ns: int) -> list[dict[str, Any]]:
        """Update entries for every order that changed since the last call, oldest first."""
        candidates = {order.txid: order for order in self._closed}
        candidates.update((order.txid, order) for order in open_orders)
        self._closed.clear()
        updates: list[dict[str, Any]] = []
        for order in sorted(candidates.values(), key=_placement):
            seen = self._seen.get(order.txid)
            if (
                seen is not None
                and seen.intent is order.intent
                and seen.vol_exec == order.vol_exec
                and seen.status == order.status
            ):
                continue  # unchanged (most open orders, most of the time)
            if seen is None:
                updates.append(execution_entry(order, "new", now_ns))
                seen = _Seen("open", Decimal(0), order.intent)
            elif seen.intent is not order.intent and order.is_open:
                updates.append(execution_entry(order, "amended", now_ns))
            if order.vol_exec > seen.vol_exec:
                updates.append(
                    execution_entry(order, "trade", now_ns, last_qty=order.vol_exec - seen.vol_exec)
                )
            if order.status != seen.status and order.status in _FINAL_EXEC_TYPES:
                updates.append(execution_entry(order, _FINAL_EXEC_TYPES[order.status], now_ns))
            self._seen[order.txid] = _Seen(order.status, order.vol_exec, order.intent)
        return updates

    def snapshot(
        self, orders: list[SimOrder], now_ns: int, *, snap_orders: bool, snap_trades: bool
    ) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        if snap_orders:
            entries += [execution_entry(o, "pending_new", now_ns) for o in orders if o.is_open]
        if snap_trades:
            traded = [o for o in orders if o.vol_exec > 0][-SNAPSHOT_TRADES:]
            entries += [execution_entry(o, "trade", now_ns, last_qty=o.vol_exec) for o in traded]
        return entries
