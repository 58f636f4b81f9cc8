"""Fee tiers from 30-day volume, as AssetPairs' ``fees``/``fees_maker`` tables give them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kraken.sim.fees import fee_rate, fee_tier
from kraken.sim.pairs import MAKER_FEES, TAKER_FEES


@pytest.mark.parametrize("maker", [False, True])
def test_each_tier_starts_at_its_threshold_and_ends_just_below_the_next(maker: bool) -> None:
    table = MAKER_FEES if maker else TAKER_FEES
    for index, (threshold, percent) in enumerate(table):
        following = Decimal(table[index + 1][0]) if index + 1 < len(table) else None
        expected = (Decimal(str(percent)), Decimal(threshold), following)
        assert fee_tier(Decimal(threshold), maker=maker) == expected
        assert fee_rate(Decimal(threshold), maker=maker) == Decimal(str(percent)) / 100
        if following is not None:
            assert fee_tier(following - Decimal("0.0001"), maker=maker) == expected


def test_fee_rate_examples() -> None:
    assert fee_rate(Decimal(0), maker=False) == Decimal("0.004")
    assert fee_rate(Decimal(0), maker=True) == Decimal("0.0025")
    assert fee_rate(Decimal("10000.5"), maker=False) == Decimal("0.0035")
    assert fee_rate(Decimal(10) ** 12, maker=True) == Decimal(0)
    assert fee_tier(Decimal(10) ** 12, maker=False) == (
        Decimal("0.1"),
        Decimal(10_000_000),
        None,
    )
