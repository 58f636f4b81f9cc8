"""Pre-trade risk fails closed: reference price, exposure, collar, order notional, kill switch."""

from __future__ import annotations

from decimal import Decimal

from schemas.config import ExecutionConfig
from schemas.events import OrderOutcome
from schemas.orders import BatchStrategy, OrderRequest, OrderSide, OrderType
from tests.support.batch_router_doubles import START_NS, limit_order, make_router, market_order


async def test_process_when_reference_price_missing_then_rejected_without_calls() -> None:
    """No reference price means no order (fail closed)."""
    router = make_router()
    del router.market.prices["BTC/USD"]

    await router.processor.process_batch_orders(
        [market_order()], BatchStrategy.SEQUENTIAL, batch_id="r-missing"
    )

    assert router.exchange.calls == []
    assert router.sink.rejected()[0].reason.startswith("risk_reference_missing")


async def test_process_when_reference_price_stale_then_rejected_without_calls() -> None:
    """A stale reference price rejects the order."""
    router = make_router()
    router.market.stale_until_ns["BTC/USD"] = START_NS + 10**12

    await router.processor.process_batch_orders(
        [limit_order()], BatchStrategy.PARALLEL, batch_id="r-stale"
    )

    assert router.exchange.calls == []
    assert router.sink.rejected()[0].reason.startswith("risk_reference_stale")


async def test_process_when_batch_exposure_exceeded_then_later_orders_rejected() -> None:
    """Cumulative absolute notional stays within execution.max_batch_exposure."""
    router = make_router(ExecutionConfig(max_batch_exposure=Decimal("1200")))
    orders = [limit_order(volume="0.01") for _ in range(3)]  # 500 each

    completed = await router.processor.process_batch_orders(
        orders, BatchStrategy.SEQUENTIAL, batch_id="r-exposure"
    )

    outcomes = [r.outcome for r in completed.results]
    assert outcomes == [OrderOutcome.PLACED, OrderOutcome.PLACED, OrderOutcome.REJECTED]
    assert router.sink.rejected()[0].reason.startswith("risk_exposure_limit")
    assert completed.exposure_used == Decimal("1000.00")
    assert len(router.exchange.placement_calls) == 2


async def test_process_when_limit_price_outside_collar_then_rejected() -> None:
    """A fat-finger limit price (10% off with a 5% collar) is refused."""
    router = make_router()

    completed = await router.processor.process_batch_orders(
        [limit_order(price="55000"), limit_order(price="52000")],
        BatchStrategy.SEQUENTIAL,
        batch_id="r-collar",
    )

    assert [r.outcome for r in completed.results] == [OrderOutcome.REJECTED, OrderOutcome.PLACED]
    assert router.sink.rejected()[0].reason.startswith("risk_price_collar")


async def test_process_when_stop_limit_far_from_its_trigger_then_rejected() -> None:
    """For stop-limit orders the collar compares price2 with the trigger price."""
    router = make_router()
    far = OrderRequest(
        pair="BTC/USD",
        side=OrderSide.SELL,
        order_type=OrderType.STOP_LOSS_LIMIT,
        volume=Decimal("0.01"),
        price=Decimal("45000"),
        price2=Decimal("30000"),
    )
    near = OrderRequest(
        pair="BTC/USD",
        side=OrderSide.SELL,
        order_type=OrderType.STOP_LOSS_LIMIT,
        volume=Decimal("0.01"),
        price=Decimal("45000"),
        price2=Decimal("44900"),
    )

    completed = await router.processor.process_batch_orders(
        [far, near], BatchStrategy.SEQUENTIAL, batch_id="r-stop"
    )

    assert [r.outcome for r in completed.results] == [OrderOutcome.REJECTED, OrderOutcome.PLACED]


async def test_process_when_order_notional_too_large_then_rejected() -> None:
    """execution.max_order_notional bounds a single order."""
    router = make_router(ExecutionConfig(max_order_notional=Decimal("1000")))

    await router.processor.process_batch_orders(
        [market_order(volume="0.03")], BatchStrategy.SEQUENTIAL, batch_id="r-notional"
    )

    assert router.exchange.calls == []
    assert router.sink.rejected()[0].reason.startswith("risk_order_notional")


async def test_process_when_kill_switch_active_then_every_order_rejected() -> None:
    """The kill switch rejects all new orders, with risk checks on or off."""
    router = make_router(ExecutionConfig(risk_check_enabled=False))
    router.market.kill_switch = True

    completed = await router.processor.process_batch_orders(
        [limit_order(), market_order()], BatchStrategy.PARALLEL, batch_id="r-kill"
    )

    assert router.exchange.calls == []
    assert completed.rejected == 2
    assert all(r.reason.startswith("kill_switch") for r in router.sink.rejected())


async def test_process_when_kill_switch_flips_mid_batch_then_rest_rejected() -> None:
    """The kill switch is re-read before each placement."""
    router = make_router()

    def halt(_cl_ord_id: str, _probe: bool) -> None:
        router.market.kill_switch = True

    router.exchange.after_add_order = halt

    completed = await router.processor.process_batch_orders(
        [limit_order(), limit_order(), limit_order()],
        BatchStrategy.SEQUENTIAL,
        batch_id="r-kill-mid",
    )

    assert [r.outcome for r in completed.results] == [
        OrderOutcome.PLACED,
        OrderOutcome.REJECTED,
        OrderOutcome.REJECTED,
    ]


async def test_process_when_risk_disabled_then_missing_reference_is_not_fatal() -> None:
    """With risk checks off, a limit order goes without a reference price."""
    router = make_router(ExecutionConfig(risk_check_enabled=False))
    router.market.prices.clear()

    completed = await router.processor.process_batch_orders(
        [limit_order()], BatchStrategy.SEQUENTIAL, batch_id="r-off"
    )

    assert completed.placed == 1
    assert completed.results[0].notional == Decimal("500.00")
