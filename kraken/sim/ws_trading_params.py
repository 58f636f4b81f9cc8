"""WS v2 trading parameters turned into the REST method arguments the simulator already checks.

The WS methods run the very same private-method code as REST (engine, ledger, trading-rate
counters, error strings); only the spelling differs (KRAKEN.md §5, "WS spelling differences"):
``order_type``/``side``/``order_qty``/``limit_price``/``symbol``, ``time_in_force`` in lower
case, ``post_only`` as a boolean, ``order_userref`` for ``userref``, RFC 3339 ``expire_time``,
``triggers{price}`` for a trigger order's price.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kraken.sim.errors import SimError, invalid_arguments
from kraken.sim.triggers import TRIGGER_TYPES

__all__ = ["UNSUPPORTED_FIELD", "rest_order_params", "unsupported_field"]

_ORDER_FIELDS = frozenset(
    {
        "order_type",
        "side",
        "order_qty",
        "symbol",
        "limit_price",
        "time_in_force",
        "post_only",
        "reduce_only",
        "cl_ord_id",
        "order_userref",
        "expire_time",
        "triggers",
        "display_qty",
        "deadline",
        "validate",
        "token",
    }
)
UNSUPPORTED_FIELD = "Unsupported field"


def unsupported_field(name: str) -> str:
    """Kraken's WS answer to a field it does not know (KRAKEN.md §5, e.g. ``leverage``)."""
    return f"{UNSUPPORTED_FIELD}: '{name}'"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _unix_seconds(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise SimError(invalid_arguments(field))
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SimError(invalid_arguments(field)) from None
    if parsed.tzinfo is None:
        raise SimError(invalid_arguments(field))
    return str(int(parsed.timestamp()))


def rest_order_params(order: Mapping[str, Any]) -> dict[str, Any]:
    """One WS order (``add_order`` params or a ``batch_add`` entry) as REST AddOrder arguments."""
    for name in order:
        if name not in _ORDER_FIELDS:
            raise SimError(unsupported_field(name))
    ordertype = _text(order.get("order_type"))
    params: dict[str, Any] = {
        "type": _text(order.get("side")),
        "ordertype": ordertype,
        "volume": _text(order.get("order_qty")),
    }
    triggers = order.get("triggers")
    if ordertype in TRIGGER_TYPES:
        if not isinstance(triggers, dict):
            raise SimError(invalid_arguments("triggers"))
        params["price"] = _text(triggers.get("price"))
        params["trigger"] = _text(triggers.get("reference")) or "last"
        if order.get("limit_price") is not None:
            params["price2"] = _text(order.get("limit_price"))
    elif order.get("limit_price") is not None:
        params["price"] = _text(order.get("limit_price"))
    if order.get("time_in_force") is not None:
        params["timeinforce"] = (_text(order.get("time_in_force")) or "").upper()
    if order.get("post_only") is True:
        params["oflags"] = "post"
    if order.get("display_qty") is not None:
        params["displayvol"] = _text(order.get("display_qty"))
    if order.get("cl_ord_id") is not None:
        params["cl_ord_id"] = _text(order.get("cl_ord_id"))
    if order.get("order_userref") is not None:
        params["userref"] = _text(order.get("order_userref"))
    if order.get("expire_time") is not None:
        params["expiretm"] = _unix_seconds(order.get("expire_time"), "expire_time")
    if order.get("deadline") is not None:
        params["deadline"] = _text(order.get("deadline"))
    if order.get("validate") is not None:
        params["validate"] = _text(order.get("validate"))
    return {key: value for key, value in params.items() if value is not None}
