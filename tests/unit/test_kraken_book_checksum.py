"""Kraken's WS v2 book checksum against the recorded real BTC/USD book (snapshot + 5 updates)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from kraken.book_checksum import book_checksum, checksum_text
from tests.support.sim import KRAKEN_FIXTURES

RECORDING = "ws_v2_book_BTCUSD_depth10_2023-07-30_prefix_python-kraken-sdk.json"
DEPTH = 10


def _recording() -> dict[str, object]:
    text = (KRAKEN_FIXTURES / RECORDING).read_text()
    loaded: dict[str, object] = json.loads(text, parse_float=Decimal)
    return loaded


def _apply(side: dict[Decimal, Decimal], levels: list[dict[str, Decimal]]) -> None:
    for level in levels:
        if level["qty"] == 0:
            side.pop(level["price"], None)
        else:
            side[level["price"]] = level["qty"]


def _top(side: dict[Decimal, Decimal], *, reverse: bool) -> list[tuple[Decimal, Decimal]]:
    return sorted(side.items(), reverse=reverse)[:DEPTH]


def test_snapshot_checksum_matches_kraken() -> None:
    [data] = _recording()["init"]["data"]  # type: ignore[index]
    asks = [(level["price"], level["qty"]) for level in data["asks"]]
    bids = [(level["price"], level["qty"]) for level in data["bids"]]
    assert book_checksum(asks, bids, price_decimals=1, qty_decimals=8) == data["checksum"]
    text = checksum_text(asks, bids, price_decimals=1, qty_decimals=8)
    assert text.startswith("294303825215653")  # 29430.3 x 8.25215653, dot and zeros gone


def test_every_recorded_update_checksum_matches_after_applying_and_truncating() -> None:
    recording = _recording()
    [snapshot] = recording["init"]["data"]  # type: ignore[index]
    asks = {level["price"]: level["qty"] for level in snapshot["asks"]}
    bids = {level["price"]: level["qty"] for level in snapshot["bids"]}
    updates = recording["updates"]
    assert isinstance(updates, list)
    for message in updates:
        [data] = message["data"]
        _apply(asks, data["asks"])
        _apply(bids, data["bids"])
        asks = dict(_top(asks, reverse=False))
        bids = dict(_top(bids, reverse=True))
        got = book_checksum(
            _top(asks, reverse=False), _top(bids, reverse=True), price_decimals=1, qty_decimals=8
        )
        assert got == data["checksum"]


@pytest.mark.parametrize("qty", [Decimal("0.1"), Decimal("0.10000000")])
def test_formatting_uses_pair_decimals_not_the_wire_text(qty: Decimal) -> None:
    assert checksum_text([(Decimal("5.5"), qty)], [], price_decimals=2, qty_decimals=8) == (
        "550" + "10000000"
    )
