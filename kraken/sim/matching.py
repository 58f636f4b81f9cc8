"""The matching engine: orders of the simulated accounts against the pair's synthetic book.

* A market order, or a limit order that crosses, walks the book best price first: one trade per
  level it takes from, at that level's price, with the taker fee charged per trade. Its ``price``
  is the volume-weighted average of its trades.
* What a limit order cannot fill now rests (``vol_exec`` < ``vol`` while it is open). A market
  order or an IOC limit has its remainder cancelled (status ``canceled``, reason
  ``Unfilled IOC`` for an IOC limit, ``misc`` ``partial`` when something had filled; Kraken
  documents no reason string for a market order that exhausted the book, so the simulator gives
  none).
* A resting order fills as the book moves through it: when a rebuilt book offers liquidity at
  or through its price, it trades at its own price (maker fee), up to what crosses it, so it may
  fill over several moves.
* Funds are held while an order is open: the remaining base for a sell; for a buy, the remaining
  volume at its limit price plus the taker fee (an upper bound of what it can still cost).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from kraken.sim.book import SyntheticBook
from kraken.sim.fees import RollingVolume
from kraken.sim.orders import SimOrder
from kraken.sim.pairs import PairSpec
from kraken.sim.trades import LedgerRecord, SimTrade

if TYPE_CHECKING:
    from kraken.sim.exchange import Account

__all__ = ["Matcher"]

IdSource = Callable[[str], str]
UsdValue = Callable[[PairSpec, Decimal], Decimal]
UNFILLED_IOC = "Unfilled IOC"


class Matcher:
    """Applies fills to accounts and orders, and keeps the trade and ledger records."""

    def __init__(self, new_id: IdSource, clock: Callable[[], int], usd_value: UsdValue) -> None:
        self._new_id = new_id
        self._clock = clock
        self._usd_value = usd_value
        self.volumes = RollingVolume()
        self.trades: dict[str, SimTrade] = {}
        self.ledger: dict[str, LedgerRecord] = {}

    # -- holds ---------------------------------------------------------------------------

    @staticmethod
    def remaining(order: SimOrder) -> Decimal:
        return order.intent.volume - order.vol_exec

    @staticmethod
    def hold_for(order: SimOrder, unit_price: Decimal, taker_fee: Decimal) -> tuple[str, Decimal]:
        spec = order.pair
        left = order.intent.volume - order.vol_exec
        if order.intent.side == "buy":
            return (spec.quote, left * unit_price * (1 + taker_fee))
        return (spec.base, left)

    # -- fills ---------------------------------------------------------------------------

    def fill(
        self,
        account: Account,
        order: SimOrder,
        price: Decimal,
        volume: Decimal,
        fee_rate: Decimal,
        *,
        maker: bool,
    ) -> SimTrade:
        """Book one trade: balances, fee, the order's totals, two ledger entries."""
        spec = order.pair
        now = self._clock()
        cost = price * volume
        fee = cost * fee_rate
        sign = 1 if order.intent.side == "buy" else -1
        balances = account.balances
        balances[spec.base] = balances.get(spec.base, Decimal(0)) + sign * volume
        balances[spec.quote] = balances.get(spec.quote, Decimal(0)) - sign * cost - fee
        trade_id = self._new_id("T")
        base_id, quote_id = self._new_id("L"), self._new_id("L")
        self.ledger[base_id] = LedgerRecord(
            base_id, account.key, trade_id, now, "trade", spec.base, sign * volume, Decimal(0),
            balances[spec.base],
        )  # fmt: skip
        self.ledger[quote_id] = LedgerRecord(
            quote_id, account.key, trade_id, now, "trade", spec.quote, -sign * cost, fee,
            balances[spec.quote],
        )  # fmt: skip
        trade = SimTrade(
            trade_id=trade_id,
            ordertxid=order.txid,
            account=account.key,
            pair=spec,
            time_ns=now,
            side=order.intent.side,
            ordertype=order.intent.ordertype,
            price=price,
            volume=volume,
            fee=fee,
            maker=maker,
            ledger_ids=(base_id, quote_id),
        )
        self.trades[trade_id] = trade
        self.volumes.add(account.key, now, self._usd_value(spec, cost))
        order.vol_exec += volume
        order.cost += cost
        order.fee += fee
        order.trade_ids.append(trade_id)
        return trade

    def take(
        self,
        account: Account,
        order: SimOrder,
        book: SyntheticBook,
        limit: Decimal | None,
        fee_rate: Decimal,
    ) -> list[SimTrade]:
        """Walk ``book`` for the order's remaining volume within ``limit`` as a taker."""
        fills = book.take(order.intent.side, self.remaining(order), limit)
        return [
            self.fill(account, order, price, qty, fee_rate, maker=False) for price, qty in fills
        ]

    def rest_against(
        self, account: Account, order: SimOrder, book: SyntheticBook, fee_rate: Decimal
    ) -> list[SimTrade]:
        """A resting limit order meets the book that moved through it: fills at its own price."""
        price = order.limit_price
        assert price is not None
        fills = book.take(order.intent.side, self.remaining(order), price)
        volume = sum((qty for _, qty in fills), Decimal(0))
        if volume <= 0:
            return []
        return [self.fill(account, order, price, volume, fee_rate, maker=True)]
