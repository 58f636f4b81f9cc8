"""Fee tiers from 30-day trade volume, as AssetPairs ``fees``/``fees_maker`` and TradeVolume show.

Kraken counts 30-day volume in USD across pairs (``fee_volume_currency`` ``ZUSD``). The simulator
counts a trade's cost as USD when the pair is quoted in ZUSD or USDT, and converts an
XBT-quoted trade at XBTUSD's last price at the time of the trade.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from kraken.sim.pairs import MAKER_FEES, TAKER_FEES, PairSpec
from kraken.sim.wire import NANOS_PER_SECOND

__all__ = ["THIRTY_DAYS_NS", "RollingVolume", "fee_rate", "fee_tier", "usd_value"]

THIRTY_DAYS_NS = 30 * 86_400 * NANOS_PER_SECOND
_USD_QUOTES = frozenset({"ZUSD", "USDT"})


def usd_value(spec: PairSpec, cost: Decimal, xbt_usd: Decimal) -> Decimal:
    return cost if spec.quote in _USD_QUOTES else cost * xbt_usd


class RollingVolume:
    """Each account's USD volume over the last 30 days, kept as a running sum."""

    def __init__(self) -> None:
        self._trades: dict[str, deque[tuple[int, Decimal]]] = {}
        self._totals: dict[str, Decimal] = {}

    def add(self, account: str, time_ns: int, usd: Decimal) -> None:
        self._trades.setdefault(account, deque()).append((time_ns, usd))
        self._totals[account] = self._totals.get(account, Decimal(0)) + usd

    def total(self, account: str, now_ns: int) -> Decimal:
        trades = self._trades.get(account)
        if not trades:
            return Decimal(0)
        while trades and trades[0][0] < now_ns - THIRTY_DAYS_NS:
            self._totals[account] -= trades.popleft()[1]
        return self._totals[account] if trades else Decimal(0)


@dataclass(frozen=True, slots=True)
class _FeeTable:
    """One ``fees``/``fees_maker`` table as Decimals, parsed once (every placement asks)."""

    thresholds: tuple[Decimal, ...]
    percents: tuple[Decimal, ...]
    rates: tuple[Decimal, ...]

    @classmethod
    def of(cls, table: tuple[tuple[int, float], ...]) -> _FeeTable:
        thresholds = tuple(Decimal(threshold) for threshold, _ in table)
        if list(thresholds) != sorted(set(thresholds)):
            raise ValueError("fee tiers must be in increasing volume order")
        percents = tuple(Decimal(str(percent)) for _, percent in table)
        return cls(thresholds, percents, tuple(percent / 100 for percent in percents))

    def index(self, volume_usd: Decimal) -> int:
        """The highest tier whose threshold the volume reaches."""
        index = bisect_right(self.thresholds, volume_usd) - 1
        if index < 0:
            raise ValueError(f"no fee tier for a 30-day volume of {volume_usd}")
        return index


_TAKER_TABLE = _FeeTable.of(TAKER_FEES)
_MAKER_TABLE = _FeeTable.of(MAKER_FEES)


def fee_tier(volume_usd: Decimal, *, maker: bool) -> tuple[Decimal, Decimal, Decimal | None]:
    """``(percent, tier_volume, next_tier_volume)`` for this 30-day volume."""
    table = _MAKER_TABLE if maker else _TAKER_TABLE
    index = table.index(volume_usd)
    thresholds = table.thresholds
    following = thresholds[index + 1] if index + 1 < len(thresholds) else None
    return table.percents[index], thresholds[index], following


def fee_rate(volume_usd: Decimal, *, maker: bool) -> Decimal:
    """The fee as a fraction of cost (0.4 % -> 0.004)."""
    table = _MAKER_TABLE if maker else _TAKER_TABLE
    return table.rates[table.index(volume_usd)]
