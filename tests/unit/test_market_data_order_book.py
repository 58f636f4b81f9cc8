"""The market-data L2 book: Kraken's checksum on every message, resync on mismatch, throttling."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from actors.market_data.order_book import L2Book, OrderBooks
from kraken.ws import BookUpdate, decode_ws_message
from schemas.config import BookConfig
from tests.support.sim import KRAKEN_FIXTURES

RECORDING = "ws_v2_book_BTCUSD_depth10_2023-07-30_prefix_python-kraken-sdk.json"


def _messages() -> list[Any]:
    recorded = json.loads((KRAKEN_FIXTURES / RECORDING).read_text())
    return [recorded["init"], *recorded["updates"]]


def _decoded(message: Any) -> BookUpdate:
    [update] = decode_ws_message(json.dumps(message), 1) or []
    assert isinstance(update, BookUpdate)
    return update


def test_recorded_real_book_verifies_on_every_message() -> None:
    book = L2Book("BTC/USD", 1, 8, depth=10)
    assert all(book.apply(_decoded(message)) for message in _messages())
    assert book.synced
    assert book.asks.best() == Decimal("29430.3")
    assert book.mid() == (Decimal("29430.2") + Decimal("29430.3")) / 2
    assert book.spread() == Decimal("0.1")


def test_a_corrupted_update_drops_the_book_until_the_next_snapshot() -> None:
    messages = _messages()
    book = L2Book("BTC/USD", 1, 8, depth=10)
    assert book.apply(_decoded(messages[0]))
    corrupted = json.loads(json.dumps(messages[1]))
    corrupted["data"][0]["asks"][2]["qty"] = 0.002  # Kraken sent 0.001 (a top-10 level)
    assert not book.apply(_decoded(corrupted))
    assert not book.synced
    assert book.mid() is None
    assert book.apply(_decoded(messages[2]))  # ignored while waiting for a snapshot
    assert not book.synced
    assert book.apply(_decoded(messages[0]))
    assert book.synced


def test_order_books_count_resyncs_and_throttle_book_updated() -> None:
    books = OrderBooks({"BTC/USD": (1, 8)}, depth=10, top_n=3, min_interval_ns=100)
    messages = [_decoded(m) for m in _messages()]
    event, resubscribe = books.on_update(messages[0], now_ns=1_000)
    assert event is not None
    assert not resubscribe
    assert [level.price for level in event.asks] == [
        Decimal("29430.3"),
        Decimal("29430.4"),
        Decimal("29430.5"),
    ]
    assert event.bids[0].price == Decimal("29430.2")
    assert books.on_update(messages[1], now_ns=1_050) == (None, False)  # throttled
    metrics = books.metrics["BTC/USD"]
    assert metrics.spread == Decimal("0.1")
    assert metrics.depth_ask > 0
    bad = msgspec.structs.replace(messages[2], checksum=messages[2].checksum ^ 1)
    assert books.on_update(bad, now_ns=1_200) == (None, True)
    assert books.resyncs == {"BTC/USD": 1}
    assert "BTC/USD" not in books.metrics
    event, _ = books.on_update(messages[0], now_ns=1_300)
    assert event is not None
    assert event.resyncs == 1
    assert books.health()["checksum_failures"] == 1


def test_expected_fill_walks_the_opposite_side() -> None:
    book = L2Book("BTC/USD", 1, 8, depth=10)
    book.apply(_decoded(_messages()[0]))
    # 8.25215653 at 29430.3, then 2.55637606 at 29430.4
    fill = book.expected_fill("buy", Decimal(9))
    assert fill is not None
    assert Decimal("29430.3") < fill < Decimal("29430.4")
    assert book.expected_fill("sell", Decimal(1000)) is None


def test_book_config_accepts_only_kraken_depths() -> None:
    assert BookConfig(depth=1000).depth == 1000
    with pytest.raises(ValueError, match=r"book\.depth must be one of"):
        BookConfig(depth=7)
    with pytest.raises(ValueError, match="depth_bps"):
        BookConfig(depth_bps=Decimal(0))
