"""Trigger orders: relative prices, trigger references and when a trigger fires.

Kraken's AddOrder rules (KRAKEN.md §3.2 and the AddOrder reference it cites): ``price`` is the
trigger price of ``stop-loss``, ``take-profit``, their ``-limit`` variants and the trailing stops;
``price2`` is the limit price of the ``-limit`` types. Either may be relative to the last traded
price: ``+`` adds, ``-`` subtracts, ``#`` adds or subtracts "depending on the direction and order
type", and a ``%`` suffix makes the amount a percentage.

Choices where Kraken's docs are silent:

* ``#`` on ``price`` points away from the market for the order's purpose: a buy limit or buy
  take-profit below it (``-``), a buy stop-loss above it (``+``), and the mirror for sells. On
  ``price2`` of a stop/take-profit-limit, ``#`` gives the fill room: ``+`` for a buy, ``-`` for a
  sell.
* A trailing stop's ``price`` must be ``+<offset>[%]`` (Kraken: "must use a relative price ...
  namely the + prefix"); the stop trails the best reference seen since placement. A
  trailing-stop-limit's ``price2`` must be ``+`` or ``-`` and offsets the limit from the trigger
  price at the moment it fires.
* ``trigger=last`` reads the last traded price; ``trigger=index`` reads the mid of the touch (the
  simulator has no index feed). Pairs quoted in XBT have no index (Kraken's
  ``EGeneral:Invalid arguments:Index unavailable``).
* Resolved relative prices are rounded to the pair's tick size.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from kraken.sim.errors import SimError, invalid_arguments
from kraken.sim.pairs import PairSpec

__all__ = [
    "INDEX_UNAVAILABLE",
    "LIMIT_TYPES",
    "MARKET_ON_TRIGGER",
    "TRAILING_TYPES",
    "TRIGGER_TYPES",
    "RelativePrice",
    "TriggerState",
    "parse_price_text",
    "resolve_price",
    "trigger_fires",
]

INDEX_UNAVAILABLE = "EGeneral:Invalid arguments:Index unavailable"
TRIGGER_TYPES = frozenset(
    {
        "stop-loss",
        "take-profit",
        "stop-loss-limit",
        "take-profit-limit",
        "trailing-stop",
        "trailing-stop-limit",
    }
)
TRAILING_TYPES = frozenset({"trailing-stop", "trailing-stop-limit"})
LIMIT_TYPES = frozenset({"stop-loss-limit", "take-profit-limit", "trailing-stop-limit"})
MARKET_ON_TRIGGER = TRIGGER_TYPES - LIMIT_TYPES
_NO_INDEX_QUOTES = frozenset({"XXBT"})


@dataclass(frozen=True, slots=True)
class RelativePrice:
    """A ``price``/``price2`` as sent: ``sign`` is ``""`` for an absolute price."""

    sign: str
    amount: Decimal
    percent: bool

    @property
    def absolute(self) -> bool:
        return self.sign == ""

    def offset_from(self, reference: Decimal) -> Decimal:
        return reference * self.amount / 100 if self.percent else self.amount


def parse_price_text(text: str | None, field: str) -> RelativePrice:
    if text is None or not text.strip():
        raise SimError(invalid_arguments(field))
    body = text.strip()
    sign = body[0] if body[0] in "+-#" else ""
    body = body[len(sign) :]
    percent = body.endswith("%")
    if percent:
        body = body[:-1]
    if percent and not sign:
        raise SimError(invalid_arguments(field))
    try:
        amount = Decimal(body)
    except InvalidOperation:
        raise SimError(invalid_arguments(field)) from None
    if not amount.is_finite() or amount < 0 or (not sign and amount == 0):
        raise SimError(invalid_arguments(field))
    return RelativePrice(sign, amount, percent)


def _hash_sign(ordertype: str, side: str, field: str) -> str:
    if field == "price2":
        return "+" if side == "buy" else "-"
    below = side == "buy"  # limit / take-profit: a buy waits below the market
    if ordertype.startswith("stop-loss"):
        below = not below
    return "-" if below else "+"


def _on_tick(value: Decimal, spec: PairSpec) -> Decimal:
    return (value / spec.tick_size).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) * spec.tick_size


def resolve_price(
    price: RelativePrice,
    *,
    reference: Decimal,
    spec: PairSpec,
    ordertype: str,
    side: str,
    field: str,
) -> Decimal:
    """An absolute price from ``price`` relative to ``reference`` (the last traded price)."""
    if price.absolute:
        return price.amount
    sign = _hash_sign(ordertype, side, field) if price.sign == "#" else price.sign
    offset = price.offset_from(reference)
    resolved = _on_tick(reference + offset if sign == "+" else reference - offset, spec)
    if resolved <= 0:
        raise SimError(invalid_arguments(field))
    return resolved


def index_available(spec: PairSpec) -> bool:
    return spec.quote not in _NO_INDEX_QUOTES


@dataclass(slots=True)
class TriggerState:
    """What an untriggered order waits for; trailing stops move ``stop`` as ``extreme`` moves."""

    ordertype: str
    side: str
    reference: str  # "last" | "index"
    stop: Decimal
    trail: RelativePrice | None = None
    extreme: Decimal | None = None

    def observe(self, price: Decimal) -> None:
        """Trail the best price seen: the high for a sell stop, the low for a buy stop."""
        if self.trail is None:
            return
        if self.extreme is None:
            self.extreme = price
        elif self.side == "sell":
            self.extreme = max(self.extreme, price)
        else:
            self.extreme = min(self.extreme, price)
        offset = self.trail.offset_from(self.extreme)
        self.stop = self.extreme - offset if self.side == "sell" else self.extreme + offset


def trigger_fires(state: TriggerState, price: Decimal) -> bool:
    """Stop-loss and trailing stops fire on an adverse move, take-profit on a favourable one."""
    state.observe(price)
    adverse = not state.ordertype.startswith("take-profit")
    if (state.side == "sell") == adverse:
        return price <= state.stop
    return price >= state.stop
