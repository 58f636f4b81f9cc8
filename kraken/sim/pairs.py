"""AssetPairs metadata of the simulated exchange, modelled on live Kraken answers.

XBTUSDT is the recorded fixture ``rest_assetpairs_XBTUSDT_2025-11_nautilus.json`` field for field;
XXBTZUSD, XETHXXBT and SOLUSD copy a live 2026 catalog capture (decimals, ordermin, costmin,
tick_size, position limits); XETHZUSD follows the same pattern (values not checked against a
capture). Fee tables are the fixture's schedule for every pair, since the sim needs a taker and a
maker rate. The WS v2 symbol uses ``BTC`` where REST and ``wsname`` use ``XBT``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = [
    "ASSET_DECIMALS",
    "MAKER_FEES",
    "PAIRS",
    "PAIR_STATUSES",
    "TAKER_FEES",
    "PairSpec",
    "find_pair",
    "find_ws_pair",
    "result_key",
]

PAIR_STATUSES = frozenset({"online", "cancel_only", "post_only", "limit_only", "reduce_only"})

# Balance decimals per asset, as /0/public/Assets reports them.
ASSET_DECIMALS: dict[str, int] = {"ZUSD": 4, "XXBT": 10, "XETH": 10, "SOL": 10, "USDT": 8}

_TAKER_FEES: tuple[tuple[int, float], ...] = (
    (0, 0.4),
    (10000, 0.35),
    (50000, 0.24),
    (100000, 0.22),
    (250000, 0.2),
    (500000, 0.18),
    (1000000, 0.16),
    (2500000, 0.14),
    (5000000, 0.12),
    (10000000, 0.1),
)
_MAKER_FEES: tuple[tuple[int, float], ...] = (
    (0, 0.25),
    (10000, 0.2),
    (50000, 0.14),
    (100000, 0.12),
    (250000, 0.1),
    (500000, 0.08),
    (1000000, 0.06),
    (2500000, 0.04),
    (5000000, 0.02),
    (10000000, 0.0),
)

# Fee schedules (30-day volume in USD, percent), as AssetPairs ``fees`` / ``fees_maker`` show them.
TAKER_FEES = _TAKER_FEES
MAKER_FEES = _MAKER_FEES


@dataclass(frozen=True, slots=True)
class PairSpec:
    pair_id: str
    altname: str
    wsname: str
    ws_symbol: str
    base: str
    quote: str
    cost_decimals: int
    pair_decimals: int
    lot_decimals: int
    leverage: tuple[int, ...]
    ordermin: Decimal
    costmin: Decimal
    tick_size: Decimal
    long_position_limit: int
    short_position_limit: int
    initial_price: Decimal
    status: str = "online"

    @property
    def taker_fee_rate(self) -> Decimal:
        """The first tier of ``fees`` as a fraction (0.4 % → 0.004)."""
        return Decimal(str(_TAKER_FEES[0][1])) / 100

    @property
    def maker_fee_rate(self) -> Decimal:
        return Decimal(str(_MAKER_FEES[0][1])) / 100

    def asset_pair_json(self, status: str | None = None) -> dict[str, Any]:
        """The AssetPairs entry, in Kraken's key order and JSON types."""
        return {
            "altname": self.altname,
            "wsname": self.wsname,
            "aclass_base": "currency",
            "base": self.base,
            "aclass_quote": "currency",
            "quote": self.quote,
            "lot": "unit",
            "cost_decimals": self.cost_decimals,
            "pair_decimals": self.pair_decimals,
            "lot_decimals": self.lot_decimals,
            "lot_multiplier": 1,
            "leverage_buy": list(self.leverage),
            "leverage_sell": list(self.leverage),
            "fees": [list(tier) for tier in _TAKER_FEES],
            "fees_maker": [list(tier) for tier in _MAKER_FEES],
            "fee_volume_currency": "ZUSD",
            "margin_call": 80,
            "margin_stop": 40,
            "ordermin": str(self.ordermin),
            "costmin": str(self.costmin),
            "tick_size": str(self.tick_size),
            "status": status or self.status,
            "long_position_limit": self.long_position_limit,
            "short_position_limit": self.short_position_limit,
        }


def _spec(**fields: Any) -> PairSpec:
    for name in ("ordermin", "costmin", "tick_size", "initial_price"):
        fields[name] = Decimal(fields[name])
    return PairSpec(**fields)


PAIRS: tuple[PairSpec, ...] = (
    _spec(
        pair_id="XXBTZUSD",
        altname="XBTUSD",
        wsname="XBT/USD",
        ws_symbol="BTC/USD",
        base="XXBT",
        quote="ZUSD",
        cost_decimals=5,
        pair_decimals=1,
        lot_decimals=8,
        leverage=(2, 3, 4, 5, 6, 7, 8, 9, 10),
        ordermin="0.00005",
        costmin="0.5",
        tick_size="0.1",
        long_position_limit=350,
        short_position_limit=250,
        initial_price="100000.0",
    ),
    _spec(
        pair_id="XETHZUSD",
        altname="ETHUSD",
        wsname="ETH/USD",
        ws_symbol="ETH/USD",
        base="XETH",
        quote="ZUSD",
        cost_decimals=5,
        pair_decimals=2,
        lot_decimals=8,
        leverage=(2, 3, 4, 5, 6, 7, 8, 9, 10),
        ordermin="0.002",
        costmin="0.5",
        tick_size="0.01",
        long_position_limit=3000,
        short_position_limit=2000,
        initial_price="3500.00",
    ),
    _spec(
        pair_id="XBTUSDT",
        altname="XBTUSDT",
        wsname="XBT/USDT",
        ws_symbol="BTC/USDT",
        base="XXBT",
        quote="USDT",
        cost_decimals=5,
        pair_decimals=1,
        lot_decimals=8,
        leverage=(2, 3, 4, 5, 6, 7, 8, 9, 10),
        ordermin="0.00005",
        costmin="0.5",
        tick_size="0.1",
        long_position_limit=80,
        short_position_limit=80,
        initial_price="100010.0",
    ),
    _spec(
        pair_id="SOLUSD",
        altname="SOLUSD",
        wsname="SOL/USD",
        ws_symbol="SOL/USD",
        base="SOL",
        quote="ZUSD",
        cost_decimals=5,
        pair_decimals=2,
        lot_decimals=8,
        leverage=(2, 3, 4, 5, 6, 7, 8, 9, 10),
        ordermin="0.06",
        costmin="0.5",
        tick_size="0.01",
        long_position_limit=37000,
        short_position_limit=24000,
        initial_price="150.00",
    ),
    _spec(
        pair_id="XETHXXBT",
        altname="ETHXBT",
        wsname="ETH/XBT",
        ws_symbol="ETH/BTC",
        base="XETH",
        quote="XXBT",
        cost_decimals=10,
        pair_decimals=6,
        lot_decimals=8,
        leverage=(2, 3, 4, 5),
        ordermin="0.001",
        costmin="0.00002",
        tick_size="0.000001",
        long_position_limit=1000,
        short_position_limit=800,
        initial_price="0.035000",
    ),
)

# Live Kraken REST answers to the v2 symbol (``BTC/USD``) but refuses the legacy ``XBT/USD`` wsname.
_BY_REST_NAME = {
    name: spec for spec in PAIRS for name in (spec.pair_id, spec.altname, spec.ws_symbol)
}
_BY_WS_SYMBOL = {spec.ws_symbol: spec for spec in PAIRS}


def find_pair(name: str) -> PairSpec | None:
    """A pair by REST id (``XXBTZUSD``), altname (``XBTUSD``) or v2 symbol (``BTC/USD``)."""
    return _BY_REST_NAME.get(name.strip().upper())


def find_ws_pair(symbol: str) -> PairSpec | None:
    """A pair by WS v2 symbol (``BTC/USD``); live Kraken refuses the ``XBT/USD`` wsname on WS."""
    return _BY_WS_SYMBOL.get(symbol)


def result_key(asked: str, spec: PairSpec) -> str:
    """How Kraken keys a per-pair result: by the slash name when asked by one, else by pair id."""
    return asked if "/" in asked else spec.pair_id
