"""Local validation: bad input is rejected with a reason and never reaches the exchange."""

from __future__ import annotations

from decimal import Decimal

import pytest

from schemas.config import ExecutionConfig
from schemas.events import BatchRejected, OrderOutcome
from schemas.orders import BatchStrategy, OrderRequest, OrderSide, OrderType, TimeInForce
from tests.support.batch_router_doubles import (
    PairRulesRecord,
    limit_order,
    make_router,
    market_order,
)


@pytest.mark.parametrize(
    ("order", "code"),
    [
        (limit_order(volume="-1"), "volume_not_positive"),
        (limit_order(volume="0"), "volume_not_positive"),
        (limit_order(price="-5"), "price_not_positive"),
        (limit_order(price="0"), "price_not_positive"),
        (limit_order(pair="DOGE/XYZ"), "unknown_pair"),
        (
            OrderRequest(
                pair="BTC/USD",
                side=OrderSide.BUY,
                order_type=OrderType.LIMIT,
                volume=Decimal("0.01"),
            ),
            "price_missing",
        ),
        (
            OrderRequest(
                pair="BTC/USD",
                side=OrderSide.SELL,
                order_type=OrderType.STOP_LOSS_LIMIT,
                volume=Decimal("0.01"),
                price=Decimal("49000"),
            ),
            "price_missing",
        ),
        (market_order(price=Decimal("50000")), "price_not_allowed"),
        (limit_order(price="50000.05"), "price_precision"),
        (limit_order(pair="ETH/USD", price="3000.005"), "price_precision"),
        (limit_order(volume="0.000000001"), "volume_precision"),
        (limit_order(volume="0.00001"), "volume_below_minimum"),
        (market_order(post_only=True), "post_only_not_allowed"),
        (limit_order(time_in_force=TimeInForce.GTD), "expire_time_missing"),
        (limit_order(cl_ord_id="x" * 19), "cl_ord_id_invalid"),
    ],
)
async def test_process_when_order_is_invalid_then_rejected_locally_without_calls(
    order: OrderRequest, code: str
) -> None:
    """Each bad-input kind becomes OrderRejected(category=local) and no gateway call."""
    router = make_router()

    completed = await router.processor.process_batch_orders(
        [order], BatchStrategy.SEQUENTIAL, batch_id="b-invalid"
    )

    assert router.exchange.calls == []
    [rejection] = router.sink.rejected()
    assert rejection.category == "local"
    assert rejection.reason.startswith(code), rejection.reason
    assert completed.rejected == 1
    assert completed.results[0].outcome is OrderOutcome.REJECTED


async def test_process_when_price_off_tick_then_rejected() -> None:
    """A price that is not a multiple of the tick size is refused before Kraken sees it."""
    router = make_router()
    router.exchange.pairs["BTC/USD"] = PairRulesRecord("BTC/USD", tick_size=Decimal("0.5"))

    await router.processor.process_batch_orders(
        [limit_order(price="50000.3")], BatchStrategy.SEQUENTIAL, batch_id="b-tick"
    )

    assert router.exchange.calls == []
    assert router.sink.rejected()[0].reason.startswith("price_tick")


async def test_process_when_cost_below_costmin_then_rejected() -> None:
    """Cost = volume x price must reach costmin; market orders use the reference price."""
    router = make_router()
    router.exchange.pairs["BTC/USD"] = PairRulesRecord("BTC/USD", costmin=Decimal("10"))

    await router.processor.process_batch_orders(
        [market_order(volume="0.0001")], BatchStrategy.SEQUENTIAL, batch_id="b-cost"
    )

    assert router.exchange.calls == []
    assert router.sink.rejected()[0].reason.startswith("cost_below_minimum")


async def test_process_when_pair_not_online_then_only_allowed_orders_go() -> None:
    """In post_only status only post-only limit orders are sent."""
    router = make_router()
    router.exchange.pairs["BTC/USD"] = PairRulesRecord("BTC/USD", status="post_only")

    completed = await router.processor.process_batch_orders(
        [limit_order(), limit_order(post_only=True)], BatchStrategy.SEQUENTIAL, batch_id="b-mode"
    )

    assert [r.outcome for r in completed.results] == [OrderOutcome.REJECTED, OrderOutcome.PLACED]
    assert completed.results[0].reason is not None
    assert completed.results[0].reason.startswith("pair_not_tradable")
    assert len(router.exchange.placement_calls) == 1


async def test_process_when_batch_too_large_then_batch_rejected_and_no_calls() -> None:
    """Over execution.max_batch_size: one BatchRejected, one BatchCompleted, zero calls."""
    router = make_router(ExecutionConfig(max_batch_size=3))

    completed = await router.processor.process_batch_orders(
        [limit_order() for _ in range(4)], BatchStrategy.PARALLEL, batch_id="b-big"
    )

    assert router.exchange.calls == []
    [refusal] = router.sink.of_type(BatchRejected)
    assert refusal.reason.startswith("batch_too_large")
    assert refusal.order_count == 4
    assert completed.rejected == 4
    assert router.sink.rejected() == []
    assert router.sink.completed() == [completed]


async def test_process_when_batch_empty_then_batch_rejected() -> None:
    """An empty batch is refused whole with a reason."""
    router = make_router()

    completed = await router.processor.process_batch_orders(
        [], BatchStrategy.SEQUENTIAL, batch_id="b-empty"
    )

    assert router.sink.of_type(BatchRejected)[0].reason.startswith("batch_empty")
    assert completed.total == 0


async def test_process_when_client_ids_duplicate_then_all_holders_rejected() -> None:
    """Two orders sharing a cl_ord_id are both rejected; the others still go."""
    router = make_router()
    orders = [limit_order(cl_ord_id="dup"), limit_order(), limit_order(cl_ord_id="dup")]

    completed = await router.processor.process_batch_orders(
        orders, BatchStrategy.SEQUENTIAL, batch_id="b-dup"
    )

    outcomes = [r.outcome for r in completed.results]
    assert outcomes == [OrderOutcome.REJECTED, OrderOutcome.PLACED, OrderOutcome.REJECTED]
    assert all(r.reason.startswith("duplicate_cl_ord_id") for r in router.sink.rejected())
    assert all("dup" not in ids for _, ids in router.exchange.calls)
