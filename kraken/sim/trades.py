"""Trade-level records of the simulated accounts: fills and the ledger entries they book.

Shapes follow Kraken's TradesHistory / QueryTrades trade object and Ledgers entry: one trade per
fill (a taker order that walks three levels makes three trades), and each trade books two ledger
entries of type ``trade`` (base and quote); the fee is charged in the quote currency, on the quote
entry, as the simulator's orders all behave as ``fciq``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kraken.sim.pairs import ASSET_DECIMALS, PairSpec
from kraken.sim.wire import format_decimal, unix_seconds_float

__all__ = ["LedgerRecord", "SimTrade"]


@dataclass(frozen=True, slots=True)
class SimTrade:
    trade_id: str
    ordertxid: str
    account: str
    pair: PairSpec
    time_ns: int
    side: str
    ordertype: str
    price: Decimal
    volume: Decimal
    fee: Decimal
    maker: bool
    ledger_ids: tuple[str, str]

    @property
    def cost(self) -> Decimal:
        return self.price * self.volume

    def to_json(self) -> dict[str, Any]:
        pair = self.pair
        return {
            "ordertxid": self.ordertxid,
            "postxid": "T" + self.trade_id[1:7] + "-" + self.ordertxid[1:6],
            "pair": pair.pair_id,
            "time": unix_seconds_float(self.time_ns),
            "type": self.side,
            "ordertype": self.ordertype,
            "price": format_decimal(self.price, pair.pair_decimals),
            "cost": format_decimal(self.cost, pair.cost_decimals),
            "fee": format_decimal(self.fee, pair.cost_decimals),
            "vol": format_decimal(self.volume, pair.lot_decimals),
            "margin": format_decimal(Decimal(0), pair.cost_decimals),
            "leverage": "0",
            "misc": "",
            "trade_id": self.time_ns % 100_000_000,
            "maker": self.maker,
            "ledgers": list(self.ledger_ids),
        }


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    ledger_id: str
    account: str
    refid: str
    time_ns: int
    type: str
    asset: str
    amount: Decimal
    fee: Decimal
    balance: Decimal

    def to_json(self) -> dict[str, Any]:
        places = ASSET_DECIMALS.get(self.asset, 8)
        return {
            "aclass": "currency",
            "amount": format_decimal(self.amount, places),
            "asset": self.asset,
            "balance": format_decimal(self.balance, places),
            "fee": format_decimal(self.fee, places),
            "refid": self.refid,
            "time": unix_seconds_float(self.time_ns),
            "type": self.type,
            "subtype": "",
        }
