"""Pair registry: the four Kraken names of a pair map to one another both ways."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kraken.models import AssetPair
from kraken.pairs import PairRegistry, v2_symbol_from_wsname


def _registry() -> PairRegistry:
    return PairRegistry(
        {
            "XXBTZUSD": AssetPair(
                altname="XBTUSD",
                wsname="XBT/USD",
                base="XXBT",
                quote="ZUSD",
                pair_decimals=1,
                lot_decimals=8,
                cost_decimals=5,
                ordermin=Decimal("0.0001"),
                costmin=Decimal("0.5"),
                tick_size=Decimal("0.1"),
                fees=[(Decimal(0), Decimal("0.4"))],
                fees_maker=[(Decimal(0), Decimal("0.25"))],
            ),
            "XDGUSD": AssetPair(
                altname="XDGUSD", wsname="XDG/USD", pair_decimals=7, status="post_only"
            ),
            "XETHZUSD": AssetPair(altname="ETHUSD", wsname="ETH/USD"),
        }
    )


@pytest.mark.parametrize("name", ["XXBTZUSD", "XBTUSD", "XBT/USD", "BTC/USD"])
def test_get_when_any_spelling_then_same_pair(name: str) -> None:
    """REST id, altname, wsname and v2 symbol all find the same pair."""
    info = _registry().require(name)

    assert (info.rest_id, info.altname, info.wsname, info.symbol) == (
        "XXBTZUSD",
        "XBTUSD",
        "XBT/USD",
        "BTC/USD",
    )


def test_conversions_when_v2_symbol_then_rest_names_and_back() -> None:
    """Converting to REST names and back returns the v2 symbol."""
    registry = _registry()

    assert registry.to_altname("BTC/USD") == "XBTUSD"
    assert registry.to_rest_id("BTC/USD") == "XXBTZUSD"
    assert registry.to_symbol("XXBTZUSD") == "BTC/USD"
    assert registry.to_symbol("XDGUSD") == "DOGE/USD"
    assert registry.to_symbol("ETHUSD") == "ETH/USD"


def test_metadata_when_registered_then_decimals_for_validation() -> None:
    """Order minimums, increments, status and fees are kept as Decimals."""
    info = _registry().require("BTC/USD")

    assert info.ordermin == Decimal("0.0001")
    assert info.costmin == Decimal("0.5")
    assert info.price_increment == Decimal("0.1")
    assert info.volume_increment == Decimal("0.00000001")
    assert info.taker_fees == ((Decimal(0), Decimal("0.4")),)
    assert info.maker_fees == ((Decimal(0), Decimal("0.25")),)


def test_price_increment_when_no_tick_size_then_from_decimals() -> None:
    """Without tick_size the increment comes from pair_decimals; status is kept."""
    info = _registry().require("DOGE/USD")

    assert info.price_increment == Decimal("0.0000001")
    assert info.status == "post_only"


def test_get_when_unknown_then_none_and_require_raises() -> None:
    """Unknown names are absent, not guessed."""
    registry = _registry()

    assert registry.get("SOL/USD") is None
    assert "SOL/USD" not in registry
    with pytest.raises(KeyError):
        registry.require("SOL/USD")


def test_v2_symbol_when_legacy_codes_then_renamed() -> None:
    """XBT→BTC and XDG→DOGE on either side of the slash; others unchanged."""
    assert v2_symbol_from_wsname("XBT/EUR") == "BTC/EUR"
    assert v2_symbol_from_wsname("ETH/XBT") == "ETH/BTC"
    assert v2_symbol_from_wsname("XDG/XBT") == "DOGE/BTC"
    assert v2_symbol_from_wsname("ALGO/USD") == "ALGO/USD"


def test_symbols_when_listed_then_all_v2_names() -> None:
    """symbols() lists every pair once."""
    assert sorted(_registry().symbols()) == ["BTC/USD", "DOGE/USD", "ETH/USD"]
