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
# Optional WS fields passed on as text under their REST names.
_PASSED_AS_TEXT = (
    ("display_qty", "displayvol"),
    ("cl_ord_id", "cl_ord_id"),
    ("order_userref", "userref"),
    ("deadline", "deadline"),
    ("validate", "validate"),
)


def unsupported_field(name: str) -> str:
    """Kraken's WS answer to a field it does not know (KRAKEN.md §5, e.g. ``leverage``)."""
    return f"{UNSUPPORTED_FIELD}: '{name}'"


def _text(value: Any) -> str | None:
    if type(value) is str:
        return value
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
    get = order.get  # one lookup per field: every WS order passes through here
    ordertype = _text(get("order_type"))
    params: dict[str, Any] = {
        "type": _text(get("side")),
        "ordertype": ordertype,
        "volume": _text(get("order_qty")),
    }
    limit_price = get("limit_price")
    if ordertype in TRIGGER_TYPES:
        triggers = get("triggers")
        if not isinstance(triggers, dict):
            raise SimError(invalid_arguments("triggers"))
        params["price"] = _text(triggers.get("price"))
        params["trigger"] = _text(triggers.get("reference")) or "last"
        if limit_price is not None:
            params["price2"] = _text(limit_price)
    elif limit_price is not None:
        params["price"] = _text(limit_price)
    time_in_force = get("time_in_force")
    if time_in_force is not None:
        params["timeinforce"] = (_text(time_in_force) or "").upper()
    if get("post_only") is True:
        params["oflags"] = "post"
    expire_time = get("expire_time")
    if expire_time is not None:
        params["expiretm"] = _unix_seconds(expire_time, "expire_time")
    for wire_name, rest_name in _PASSED_AS_TEXT:
        value = get(wire_name)
        if value is not None:
            params[rest_name] = _text(value)
    return {key: value for key, value in params.items() if value is not None}
