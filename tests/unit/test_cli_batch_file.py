"""Batch files: strict keys, one reason for a refused size, relative prices resolved on the tick."""

from __future__ import annotations

from decimal import Decimal

import pytest

from actors.cli.batch_file import BatchFileError, Reference, parse_batch_file
from actors.cli.result_table import render_outcome
from schemas import BatchCompleted, BatchRejected, BatchStrategy
from schemas.events import OrderOutcome, OrderResult

HEAD = b"batch_id: b\nstrategy: SEQUENTIAL\norders:\n"
RELATIVE = b"""
batch_id: rel-1
strategy: PARALLEL
orders:
  - {pair: BTC/USD, side: buy, order_type: limit, volume: "0.01", price: "-1%", post_only: true}
  - {pair: ETH/USD, side: sell, order_type: limit, volume: "0.1", price: "+0.5%"}
  - {pair: ETH/USD, side: buy, order_type: market, volume: "0.1"}
"""


def test_unknown_order_key_is_named_with_its_path_and_a_suggestion() -> None:
    text = (
        HEAD + b'  - {pair: BTC/USD, side: buy, order_type: market, volume: "1", post_onyl: true}\n'
    )
    with pytest.raises(
        BatchFileError,
        match=r"`orders\[0\]\.post_onyl` \(did you mean `orders\[0\]\.post_only`\?\)",
    ):
        parse_batch_file(text, max_batch_size=50, now_ns=1)


def test_a_type_error_names_the_key_without_the_dollar() -> None:
    text = HEAD + b"  - {pair: BTC/USD, side: up, order_type: market, volume: '1'}\n"
    with pytest.raises(BatchFileError, match=r"`orders\[0\]\.side`"):
        parse_batch_file(text, max_batch_size=50, now_ns=1)


@pytest.mark.parametrize("price", ['"-1"', '"1 %"', '"abc%"', '"-100%"'])
def test_malformed_relative_prices_are_refused(price: str) -> None:
    order = f"  - {{pair: BTC/USD, side: buy, order_type: limit, volume: '1', price: {price}}}\n"
    text = HEAD.decode() + order
    if price == '"-1"':  # an absolute price, fine as far as the file goes
        assert parse_batch_file(text.encode(), max_batch_size=50, now_ns=1).relative == ()
        return
    with pytest.raises(BatchFileError, match=r"orders\[0\]\.price"):
        parse_batch_file(text.encode(), max_batch_size=50, now_ns=1)


def test_relative_prices_resolve_from_the_mid_on_the_quote_tick() -> None:
    draft = parse_batch_file(RELATIVE, max_batch_size=50, now_ns=5)
    assert draft.pairs_to_price() == ("BTC/USD", "ETH/USD")
    references = {
        "BTC/USD": Reference.from_quote(Decimal("100000.0"), Decimal("100000.3")),
        "ETH/USD": Reference.from_quote(Decimal("3500.00"), Decimal("3500.02")),
    }
    batch = draft.resolve(references, now_ns=5)
    assert batch.orders[0].price == Decimal("99000.1")  # 100000.15 * 0.99 = 99000.1485
    assert batch.orders[0].post_only is True
    assert batch.orders[1].price == Decimal("3517.51")  # 3500.01 * 1.005 = 3517.51005
    assert batch.orders[2].price is None
    assert batch.ts_event == 5


def test_size_refusals_are_one_reason() -> None:
    empty = b"batch_id: b\nstrategy: SEQUENTIAL\norders: []\n"
    with pytest.raises(BatchFileError, match=r"^batch_empty"):
        parse_batch_file(empty, max_batch_size=50, now_ns=1)
    with pytest.raises(BatchFileError, match=r"^batch_too_large: 3 orders"):
        parse_batch_file(RELATIVE, max_batch_size=2, now_ns=1)


def test_the_result_table_has_a_line_per_order() -> None:
    draft = parse_batch_file(RELATIVE, max_batch_size=50, now_ns=5)
    reference = Reference(mid=Decimal("100"), tick=Decimal("0.01"))
    batch = draft.resolve({"BTC/USD": reference, "ETH/USD": reference}, now_ns=5)
    completed = BatchCompleted(
        ts_event=1,
        ts_init=1,
        batch_id="rel-1",
        strategy=BatchStrategy.PARALLEL,
        results=(
            OrderResult(
                index=1,
                pair="ETH/USD",
                cl_ord_id="b",
                outcome=OrderOutcome.REJECTED,
                reason="risk_price_collar: far",
            ),
            OrderResult(
                index=0,
                pair="BTC/USD",
                cl_ord_id="a",
                outcome=OrderOutcome.PLACED,
                txid="OAAAAA-BBBBB-CCCCCC",
            ),
        ),
        total=2,
        placed=1,
        rejected=1,
        failed=0,
        success_rate=0.5,
        duration_ns=42_000_000,
        retries=0,
        api_calls=2,
        exposure_used=Decimal(0),
    )
    assert render_outcome(batch, completed).splitlines() == [
        "batch rel-1 (PARALLEL): 1 placed, 1 rejected, 0 failed in 42 ms",
        "#  pair     side  outcome   txid                 reason",
        "0  BTC/USD  buy   placed    OAAAAA-BBBBB-CCCCCC",
        "1  ETH/USD  sell  rejected  -                    risk_price_collar: far",
    ]
    rejected = BatchRejected(
        ts_event=1, ts_init=1, batch_id="x", reason="batch_empty: none", order_count=0
    )
    assert (
        render_outcome(batch, rejected)
        == "batch x rejected whole (0 orders, none sent): batch_empty: none"
    )


def test_a_file_without_batch_id_gets_the_default_one() -> None:
    order = b"  - {pair: BTC/USD, side: buy, order_type: market, volume: 1}"
    text = b"strategy: SEQUENTIAL\norders:\n" + order
    draft = parse_batch_file(text, max_batch_size=5, now_ns=1, default_batch_id="ex-17")
    assert draft.batch_id == "ex-17"
    with pytest.raises(BatchFileError, match="batch_id"):
        parse_batch_file(text, max_batch_size=5, now_ns=1)
