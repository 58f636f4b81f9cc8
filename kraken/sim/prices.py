"""A seeded price process per pair: a geometric random walk on the tick grid.

The quote is one tick wide: ``bid`` is the mid rounded down to the tick and ``ask = bid + tick``.
Each step draws one log-return and one simulated trade from the pair's own ``random.Random``, so
a seed gives the same path whatever other pairs or faults do.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal

from kraken.sim.pairs import PairSpec

__all__ = ["PriceProcess", "Quote", "Spread", "Trade"]

_DEFAULT_STEP_VOLATILITY = 0.0005
_KEPT_TRADES = 100_000
_KEPT_SPREADS = 1_000


@dataclass(frozen=True, slots=True)
class Trade:
    time_ns: int
    price: Decimal
    volume: Decimal
    side: str = "s"  # "b": the buyer took the ask, "s": the seller hit the bid


@dataclass(frozen=True, slots=True)
class Spread:
    time_ns: int
    bid: Decimal
    ask: Decimal


@dataclass(frozen=True, slots=True)
class Quote:
    """Everything the Ticker endpoint and the WS ticker channel show for one pair."""

    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal
    last: Decimal
    last_qty: Decimal
    open: Decimal
    low: Decimal
    high: Decimal
    volume: Decimal
    vwap: Decimal
    trades: int
    time_ns: int


def _on_tick(price: Decimal, tick: Decimal) -> Decimal:
    return (price / tick).to_integral_value(rounding=ROUND_FLOOR) * tick


class PriceProcess:
    def __init__(
        self,
        spec: PairSpec,
        seed: int,
        now_ns: int,
        step_volatility: float = _DEFAULT_STEP_VOLATILITY,
    ) -> None:
        self.spec = spec
        self._random = random.Random(f"{seed}:prices:{spec.pair_id}")
        self._volatility = step_volatility
        self._lot = Decimal(1).scaleb(-spec.lot_decimals)
        start = max(_on_tick(spec.initial_price, spec.tick_size), spec.tick_size)
        volume = self._quantity(Decimal(50))
        self.quote = Quote(
            bid=start,
            bid_qty=self._quantity(Decimal(2)),
            ask=start + spec.tick_size,
            ask_qty=self._quantity(Decimal(2)),
            last=start,
            last_qty=self._quantity(Decimal("0.1")),
            open=start,
            low=start,
            high=start,
            volume=volume,
            vwap=start,
            trades=1000,
            time_ns=now_ns,
        )
        self.trades: deque[Trade] = deque(maxlen=_KEPT_TRADES)
        self.trades.append(Trade(now_ns, start, self.quote.last_qty))
        self.spreads: deque[Spread] = deque(maxlen=_KEPT_SPREADS)
        self.spreads.append(Spread(now_ns, self.quote.bid, self.quote.ask))

    def _quantity(self, scale: Decimal) -> Decimal:
        raw = Decimal(str(self._random.uniform(0.01, 1.0))) * scale
        return max(raw.quantize(self._lot), self._lot)

    def step(self, now_ns: int) -> Quote:
        """Move the mid by one seeded log-return and record one trade at the new touch."""
        mid = (self.quote.bid + self.quote.ask) / 2
        factor = Decimal(str(math.exp(self._random.gauss(0.0, self._volatility))))
        bid = max(_on_tick(mid * factor, self.spec.tick_size), self.spec.tick_size)
        buyer_initiated = self._random.random() < 0.5
        trade_qty = self._quantity(Decimal("0.5"))
        return self._trade(
            bid=bid,
            last=bid + self.spec.tick_size if buyer_initiated else bid,
            trade_qty=trade_qty,
            now_ns=now_ns,
        )

    def set_price(self, price: Decimal, now_ns: int) -> Quote:
        """Put the touch at ``price``: ``bid = price`` (on the tick grid), ``ask = bid + tick``."""
        bid = max(_on_tick(price, self.spec.tick_size), self.spec.tick_size)
        return self._trade(bid=bid, last=bid, trade_qty=self._lot, now_ns=now_ns)

    def _trade(self, *, bid: Decimal, last: Decimal, trade_qty: Decimal, now_ns: int) -> Quote:
        old = self.quote
        volume = old.volume + trade_qty
        vwap = (old.vwap * old.volume + last * trade_qty) / volume
        self.quote = replace(
            old,
            bid=bid,
            bid_qty=self._quantity(Decimal(2)),
            ask=bid + self.spec.tick_size,
            ask_qty=self._quantity(Decimal(2)),
            last=last,
            last_qty=trade_qty,
            low=min(old.low, last),
            high=max(old.high, last),
            volume=volume,
            vwap=vwap,
            trades=old.trades + 1,
            time_ns=now_ns,
        )
        self.trades.append(Trade(now_ns, last, trade_qty, "b" if last > bid else "s"))
        self.spreads.append(Spread(now_ns, self.quote.bid, self.quote.ask))
        return self.quote
