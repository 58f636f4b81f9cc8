"""Fee tiers from 30-day trade volume, as AssetPairs ``fees``/``fees_maker`` and TradeVolume show.

Kraken counts 30-day volume in USD across pairs (``fee_volume_currency`` ``ZUSD``). The simulator
counts a trade's cost as USD when the pair is quoted in ZUSD or USDT, and converts an
XBT-quoted trade at XBTUSD's last price.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from kraken.sim.pairs import MAKER_FEES, TAKER_FEES
from kraken.sim.trades import SimTrade
from kraken.sim.wire import NANOS_PER_SECOND

__all__ = ["THIRTY_DAYS_NS", "fee_rate", "fee_tier", "thirty_day_volume"]

THIRTY_DAYS_NS = 30 * 86_400 * NANOS_PER_SECOND
_USD_QUOTES = frozenset({"ZUSD", "USDT"})


def thirty_day_volume(
    trades: Iterable[SimTrade], account: str, now_ns: int, xbt_usd: Decimal
) -> Decimal:
    total = Decimal(0)
    for trade in trades:
        if trade.account != account or trade.time_ns < now_ns - THIRTY_DAYS_NS:
            continue
        cost = trade.cost
        total += cost if trade.pair.quote in _USD_QUOTES else cost * xbt_usd
    return total


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
