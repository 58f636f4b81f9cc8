"""Simulated orders: parsing AddOrder arguments and rendering Kraken's order JSON."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from kraken.sim.errors import (
    COST_MINIMUM_NOT_MET,
    ORDER_MINIMUM_NOT_MET,
    TICK_SIZE_CHECK_FAILED,
    UNSUPPORTED_SETTLE_POSITION,
    SimError,
    invalid_arguments,
)
from kraken.sim.pairs import PairSpec
from kraken.sim.triggers import (
    INDEX_UNAVAILABLE,
    LIMIT_TYPES,
    TRAILING_TYPES,
    TRIGGER_TYPES,
    RelativePrice,
    TriggerState,
    index_available,
    parse_price_text,
    resolve_price,
)
from kraken.sim.wire import NANOS_PER_SECOND, format_decimal, unix_seconds_float

__all__ = ["OrderIntent", "SimOrder", "parse_flag", "parse_order", "text_param"]

_SIDES = frozenset({"buy", "sell"})
_SUPPORTED_TYPES = frozenset({"market", "limit", "iceberg"}) | TRIGGER_TYPES
_KNOWN_TYPES = _SUPPORTED_TYPES | {"settle-position"}
_LIMIT_PRICED = frozenset({"limit", "iceberg"})
_TRIGGERS = frozenset({"last", "index"})
# Kraken: an iceberg's displayed volume is at least 1/15 of the order's volume.
_ICEBERG_MIN_DISPLAY_FRACTION = Decimal(1) / 15
# ``viqc`` (volume in quote) is not simulated, so it is refused like an unknown flag.
_SUPPORTED_FLAGS = frozenset({"post", "fcib", "fciq", "nompp"})
_TIME_IN_FORCE = frozenset({"GTC", "IOC", "GTD"})
_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)
_FREE_TEXT_CL_ORD_ID = re.compile(r"^[\x20-\x7e]{1,18}$")
_INT32_MAX = 2**31 - 1


def text_param(value: Any) -> str | None:
    """A request parameter as text, whether it came form-encoded or as a JSON scalar."""
    if type(value) is str:  # most parameters, most of the time: ``str(value)`` is ``value``
        return value
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise SimError(invalid_arguments())


def parse_flag(value: Any) -> bool:
    text = text_param(value)
    return text is not None and text.lower() in {"true", "1"}


def _decimal(value: Any, field_name: str) -> Decimal:
    text = text_param(value)
    stripped = None if text is None else text.strip()
    if not stripped:
        raise SimError(invalid_arguments(field_name))
    try:
        parsed = Decimal(stripped)
    except InvalidOperation:
        raise SimError(invalid_arguments(field_name)) from None
    if not parsed.is_finite() or parsed <= 0:
        raise SimError(invalid_arguments(field_name))
    return parsed


def _decimal_places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """A validated AddOrder (or AddOrderBatch entry), not yet placed."""

    pair: PairSpec
    side: str
    ordertype: str
    volume: Decimal
    price: Decimal | None
    oflags: tuple[str, ...]
    timeinforce: str
    expiretm_ns: int | None
    cl_ord_id: str | None
    userref: int | None
    # Trigger orders: ``price`` is the (resolved) trigger price, ``price2`` the limit price of a
    # ``-limit`` type (None for a trailing-stop-limit, whose limit is ``limit_offset`` from the
    # trigger price when it fires); ``trail`` is a trailing stop's offset.
    price2: Decimal | None = None
    trigger: str = "last"
    trail: RelativePrice | None = None
    limit_offset: RelativePrice | None = None
    displayvol: Decimal | None = None

    @property
    def post_only(self) -> bool:
        return "post" in self.oflags

    @property
    def is_trigger(self) -> bool:
        return self.ordertype in TRIGGER_TYPES

    def describe(self) -> str:
        """``descr.order``: ``buy 1.25000000 XBTUSD @ limit 37500.0``."""
        volume = format_decimal(self.volume, self.pair.lot_decimals)
        head = f"{self.side} {volume} {self.pair.altname} @ {self.ordertype}"
        if self.trail is not None:
            unit = "%" if self.trail.percent else ""
            return f"{head} +{self.trail.amount}{unit}"
        if self.price is None:
            return head
        text = f"{head} {format_decimal(self.price, self.pair.pair_decimals)}"
        if self.price2 is not None:
            text += f" -> limit {format_decimal(self.price2, self.pair.pair_decimals)}"
        return text


def _parse_cl_ord_id(value: Any) -> str | None:
    text = text_param(value)
    if text is None:
        return None
    if _FREE_TEXT_CL_ORD_ID.match(text) or _UUID.match(text):
        return text
    raise SimError(invalid_arguments("cl_ord_id"))


def _parse_userref(value: Any) -> int | None:
    text = text_param(value)
    if text is None:
        return None
    try:
        userref = int(text)
    except ValueError:
        raise SimError(invalid_arguments("userref")) from None
    if abs(userref) > _INT32_MAX:
        raise SimError(invalid_arguments("userref"))
    return userref


def _parse_expiry(value: Any, now_ns: int) -> int | None:
    text = text_param(value)
    if text is None or text == "0":
        return None
    try:
        if text.startswith("+"):
            return now_ns + round(float(text[1:]) * NANOS_PER_SECOND)
        return round(float(text) * NANOS_PER_SECOND)
    except ValueError:
        raise SimError(invalid_arguments("expiretm")) from None


def _trigger_prices(
    params: Mapping[str, Any], pair: PairSpec, ordertype: str, side: str, last: Decimal
) -> tuple[Decimal | None, Decimal | None, RelativePrice | None, RelativePrice | None]:
    """``(price, price2, trail, limit_offset)`` for a trigger order, relative prices resolved."""
    raw_price = text_param(params.get("price"))
    raw_price2 = text_param(params.get("price2"))
    if ordertype in TRAILING_TYPES:
        trail = parse_price_text(raw_price, "price")
        if trail.sign != "+" or trail.amount <= 0:
            raise SimError(invalid_arguments("price"))
        limit_offset: RelativePrice | None = None
        if ordertype in LIMIT_TYPES:
            limit_offset = parse_price_text(raw_price2, "price2")
            if limit_offset.sign not in {"+", "-"}:
                raise SimError(invalid_arguments("price2"))
        elif raw_price2 is not None:
            raise SimError(invalid_arguments("price2"))
        return None, None, trail, limit_offset

    def resolved(raw: str | None, field: str) -> Decimal:
        return resolve_price(
            parse_price_text(raw, field),
            reference=last,
            spec=pair,
            ordertype=ordertype,
            side=side,
            field=field,
        )

    price = resolved(raw_price, "price")
    price2: Decimal | None = None
    if ordertype in LIMIT_TYPES:
        price2 = resolved(raw_price2, "price2")
    elif raw_price2 is not None:
        raise SimError(invalid_arguments("price2"))
    return price, price2, None, None


def parse_order(
    params: Mapping[str, Any],
    pair: PairSpec,
    reference_price: Decimal,
    now_ns: int,
    *,
    last_price: Decimal | None = None,
) -> OrderIntent:
    """Validate one order's arguments against the pair (``reference_price`` prices market orders).

    Relative prices (``+``, ``-``, ``#``, ``%``) resolve against ``last_price`` (the last traded
    price; ``reference_price`` when not given). Raises ``SimError`` with Kraken's error string for
    the first problem found.
    """
    last = reference_price if last_price is None else last_price
    side = text_param(params.get("type"))
    if side not in _SIDES:
        raise SimError(invalid_arguments("type"))
    ordertype = text_param(params.get("ordertype"))
    if ordertype not in _KNOWN_TYPES:
        raise SimError(invalid_arguments("ordertype"))
    if ordertype not in _SUPPORTED_TYPES:
        # Only settle-position: it closes a margin position, and simulated accounts have none.
        raise SimError(UNSUPPORTED_SETTLE_POSITION)
    volume = _decimal(params.get("volume"), "volume")
    if _decimal_places(volume) > pair.lot_decimals:
        raise SimError(invalid_arguments("volume"))
    price: Decimal | None = None
    price2: Decimal | None = None
    trail: RelativePrice | None = None
    limit_offset: RelativePrice | None = None
    if ordertype in _LIMIT_PRICED:
        price = resolve_price(
            parse_price_text(text_param(params.get("price")), "price"),
            reference=last,
            spec=pair,
            ordertype=ordertype,
            side=side,
            field="price",
        )
    elif ordertype in TRIGGER_TYPES:
        price, price2, trail, limit_offset = _trigger_prices(params, pair, ordertype, side, last)
    trigger = text_param(params.get("trigger")) or "last"
    if trigger not in _TRIGGERS:
        raise SimError(invalid_arguments("trigger"))
    if trigger == "index" and ordertype in TRIGGER_TYPES and not index_available(pair):
        raise SimError(INDEX_UNAVAILABLE)
    displayvol: Decimal | None = None
    if ordertype == "iceberg":
        displayvol = _decimal(params.get("displayvol"), "displayvol")
        if displayvol > volume or displayvol < volume * _ICEBERG_MIN_DISPLAY_FRACTION:
            raise SimError(invalid_arguments("displayvol"))
    flags_text = text_param(params.get("oflags"))
    oflags = tuple(flag for flag in flags_text.split(",") if flag.strip()) if flags_text else ()
    if any(flag not in _SUPPORTED_FLAGS for flag in oflags) or (
        "post" in oflags and ordertype not in _LIMIT_PRICED
    ):
        raise SimError(invalid_arguments("oflags"))
    timeinforce = (text_param(params.get("timeinforce")) or "GTC").upper()
    if timeinforce not in _TIME_IN_FORCE:
        raise SimError(invalid_arguments("timeinforce"))
    expiretm_ns = _parse_expiry(params.get("expiretm"), now_ns)
    if (timeinforce == "GTD") != (expiretm_ns is not None):
        raise SimError(invalid_arguments("expiretm"))
    cl_ord_id = _parse_cl_ord_id(params.get("cl_ord_id"))
    userref = _parse_userref(params.get("userref"))
    if cl_ord_id is not None and userref is not None:
        raise SimError(invalid_arguments("cl_ord_id"))
    if volume < pair.ordermin:
        raise SimError(ORDER_MINIMUM_NOT_MET)
    for checked in (price, price2):
        if checked is not None and checked % pair.tick_size != 0:
            raise SimError(TICK_SIZE_CHECK_FAILED)
    cost_price = price2 if price2 is not None else price
    if volume * (cost_price if cost_price is not None else reference_price) < pair.costmin:
        raise SimError(COST_MINIMUM_NOT_MET)
    return OrderIntent(
        pair=pair,
        side=side,
        ordertype=ordertype,
        volume=volume,
        price=price,
        oflags=oflags,
        timeinforce=timeinforce,
        expiretm_ns=expiretm_ns,
        cl_ord_id=cl_ord_id,
        userref=userref,
        price2=price2,
        trigger=trigger,
        trail=trail,
        limit_offset=limit_offset,
        displayvol=displayvol,
    )


@dataclass(slots=True)
class SimOrder:
    """A placed order and its lifecycle."""

    txid: str
    account: str
    intent: OrderIntent
    opentm_ns: int
    status: str = "open"
    vol_exec: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    closetm_ns: int | None = None
    reason: str | None = None
    # Funds reserved while the order rests: (asset, amount).
    hold: tuple[str, Decimal] | None = field(default=None)
    trade_ids: list[str] = field(default_factory=list)
    # A trigger order waits (``triggered`` False) with ``stopprice`` as its current trigger
    # price; once triggered it trades as a market order or as a limit at ``limitprice``.
    triggered: bool = False
    stopprice: Decimal | None = None
    limitprice: Decimal | None = None
    trigger_state: TriggerState | None = None
    amended: bool = False
    placed_seq: int = 0
    """Placement order on the exchange (since its last reset)."""

    @property
    def pair(self) -> PairSpec:
        return self.intent.pair

    @property
    def limit_price(self) -> Decimal | None:
        """The price this order trades at or better now (None: any price, a market order)."""
        if self.intent.is_trigger:
            return self.limitprice
        return self.intent.price if self.intent.ordertype != "market" else None

    @property
    def waiting_for_trigger(self) -> bool:
        return self.intent.is_trigger and not self.triggered

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def average_price(self) -> Decimal:
        return self.cost / self.vol_exec if self.vol_exec else Decimal(0)

    def to_json(self, *, with_trades: bool = False) -> dict[str, Any]:
        """The order object of OpenOrders / ClosedOrders / QueryOrders (``trades=true``: ids)."""
        intent, pair = self.intent, self.pair
        oflags = [flag for flag in intent.oflags if flag not in {"fcib", "fciq"}] + ["fciq"]
        body: dict[str, Any] = {"refid": None, "userref": intent.userref or 0}
        if intent.cl_ord_id is not None:
            body["cl_ord_id"] = intent.cl_ord_id
        body |= {
            "status": self.status,
            "opentm": unix_seconds_float(self.opentm_ns),
            "starttm": 0,
            "expiretm": 0 if intent.expiretm_ns is None else unix_seconds_float(intent.expiretm_ns),
            "descr": {
                "pair": pair.altname,
                "type": intent.side,
                "ordertype": intent.ordertype,
                "price": "0"
                if intent.price is None
                else format_decimal(intent.price, pair.pair_decimals),
                "price2": "0"
                if intent.price2 is None
                else format_decimal(intent.price2, pair.pair_decimals),
                "leverage": "none",
                "order": intent.describe(),
                "close": "",
            },
            "vol": format_decimal(intent.volume, pair.lot_decimals),
            "vol_exec": format_decimal(self.vol_exec, pair.lot_decimals),
            "cost": format_decimal(self.cost, pair.cost_decimals),
            "fee": format_decimal(self.fee, pair.cost_decimals),
            "price": format_decimal(self.average_price(), pair.pair_decimals),
            "stopprice": format_decimal(self.stopprice or Decimal(0), pair.pair_decimals),
            "limitprice": format_decimal(self.limitprice or Decimal(0), pair.pair_decimals),
            "misc": self._misc(),
            "oflags": ",".join(oflags),
            "trigger": intent.trigger,
            # Kraken sends ``reason`` on every order, null until it closes for a reason.
            "reason": self.reason,
        }
        if self.closetm_ns is not None:
            body["closetm"] = unix_seconds_float(self.closetm_ns)
        if with_trades and self.trade_ids:
            body["trades"] = list(self.trade_ids)
        return body

    def _misc(self) -> str:
        misc = []
        if self.amended:
            misc.append("amended")
        if self.triggered:
            misc.append("touched")
        if self.vol_exec and self.vol_exec < self.intent.volume:
            misc.append("partial")
        return ",".join(misc)
