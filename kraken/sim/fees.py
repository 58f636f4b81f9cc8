"""Fee tiers from 30-day trade volume, as AssetPairs ``fees``/``fees_maker`` and TradeVolume show.

Kraken counts 30-day volume in USD across pairs (``fee_volume_currency`` ``ZUSD``). The simulator
counts a trade's cost as USD when the pair is quoted in ZUSD or USDT, and converts an
XBT-quoted trade at XBTUSD's last price at the time of the trade.
"""

from __future__ import annotations

from collections import deque
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


def fee_tier(volume_usd: Decimal, *, maker: bool) -> tuple[Decimal, Decimal, Decimal | None]:
    """``(percent, tier_volume, next_tier_volume)`` for this 30-day volume."""
    table = MAKER_FEES if maker else TAKER_FEES
    index = max(i for i, (threshold, _) in enumerate(table) if volume_usd >= threshold)
    threshold, percent = table[index]
    following = Decimal(table[index + 1][0]) if index + 1 < len(table) else None
    return Decimal(str(percent)), Decimal(threshold), following


def fee_rate(volume_usd: Decimal, *, maker: bool) -> Decimal:
    """The fee as a fraction of cost (0.4 % -> 0.004)."""
    return fee_tier(volume_usd, maker=maker)[0] / 100
