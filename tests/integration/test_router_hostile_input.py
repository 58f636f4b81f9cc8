"""The batch router under hostile or buggy publishers (issue 9): the wrong event on the wrong
subject, a kill switch lifted by a forged timestamp, numbers that throw, garbage in KV, and a
stale mark that outlives fresh prices. Every order here is a market order, which FILLS, so a
second placement would really land on the simulator's ledger."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import msgspec
import pytest
import pytest_asyncio
from nats.aio.client import Client

from bus import Subjects, encode, ensure_topology
from bus.codec import EVENTS
from bus.jetstream import BREAKERS_BUCKET, CONTROL_BUCKET, MSG_ID_HEADER
from kraken.sim import RunningSim
from schemas import GalFridayConfig
from schemas.events import (
    BatchRejected,
    EventDeadLettered,
    PriceStale,
    TradingHalted,
    TradingResumed,
)
from schemas.orders import BatchStrategy, OrderRequest, OrderSide, OrderType
from tests.integration.test_batch_router_actor import (
    Observer,
    batch_of,
    price_event,
    router_config,
    sim,
    start_router,
    submit,
)
from tests.support.waiting import eventually

pytestmark = [pytest.mark.nats, pytest.mark.sim]
__all__ = ["sim"]  # the router actor tests' simulator fixture, shared

NEVER_NS = 2**63 - 1


def market_buy(cl_ord_id: str | None = None, volume: str = "0.001") -> OrderRequest:
    return OrderRequest(
        pair="BTC/USD",
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        volume=Decimal(volume),
        cl_ord_id=cl_ord_id,
    )


def filled_ids(sim: RunningSim) -> list[str | None]:
    return [entry.cl_ord_id for entry in sim.exchange.ledger()]


@pytest_asyncio.fixture
async def observer(client: Client, subject_root: str) -> Observer:
    seen = Observer()
    subjects = Subjects(subject_root)
    for subject in (
        subjects.order_events_all(),
        subjects.batch_completed(),
        subjects.batch_rejected(),
        subjects.dlq_all(),
    ):
        await client.subscribe(subject, cb=seen.on_message)
    return seen


def dead_letters(observer: Observer, reason: str) -> list[EventDeadLettered]:
    return [e for e in observer.of_type(EventDeadLettered) if reason in e.reason]


async def test_a_batch_on_a_state_subject_is_dead_lettered_never_executed(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    config = router_config(bus_config, sim)
    _, runner = await start_router(config, client, prices=True)
    subjects = runner.subjects
    hostile = batch_of("forged", [market_buy("forged-1")], BatchStrategy.SEQUENTIAL)
    wrong_subjects = [
        subjects.price("BTC/USD"),
        subjects.stale("BTC/USD"),
        subjects.volatility("BTC/USD"),
        subjects.breaker("kraken.trading"),
        subjects.kill_switch(),
    ]
    try:
        for subject in wrong_subjects:
            await client.publish(subject, encode(hostile))
        await eventually(
            lambda: len(dead_letters(observer, "unexpected_type_for_subject")) >= 5, timeout=10
        )
        # The same batch on its own subject is executed exactly once.
        await submit(client, subjects, hostile)
        completed = await observer.completed("forged")
    finally:
        await runner.stop()
    assert completed.placed == 1
    assert filled_ids(sim) == ["forged-1"]
    assert {e.subject for e in dead_letters(observer, "unexpected_type_for_subject")} == set(
        wrong_subjects
    )


async def test_a_forged_far_future_resume_cannot_disable_a_later_halt(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    config = router_config(bus_config, sim, risk_check_enabled=False)
    actor, runner = await start_router(config, client, prices=False)
    subjects = runner.subjects
    control = await client.jetstream().key_value(subjects.bucket_name(CONTROL_BUCKET))
    try:
        forged = TradingResumed(ts_event=NEVER_NS, ts_init=NEVER_NS, reason="forged")
        await control.put("trading", encode(forged))
        await client.publish(subjects.kill_switch(), encode(forged))
        await asyncio.sleep(0.3)
        # The operator halts, as `galfriday halt` does: KV first, then the event.
        halt = TradingHalted(ts_event=1_000, ts_init=1_000, reason="operator")
        await control.put("trading", encode(halt))
        await client.publish(subjects.kill_switch(), encode(halt))
        await eventually(actor.market.kill_switch_active, timeout=10)
        await submit(
            client, subjects, batch_of("after-halt", [market_buy()], BatchStrategy.SEQUENTIAL)
        )
        completed = await observer.completed("after-halt")
    finally:
        await runner.stop()
    assert completed.placed == 0
    assert sim.exchange.ledger() == []


async def test_a_resume_event_without_the_stored_state_does_not_lift_a_halt(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client
) -> None:
    subjects = Subjects(bus_config.nats.subject_root)
    js = client.jetstream()
    await ensure_topology(js, subjects)
    control = await js.key_value(subjects.bucket_name(CONTROL_BUCKET))
    await control.put("trading", encode(TradingHalted(ts_event=1, ts_init=1, reason="drill")))
    config = router_config(bus_config, sim, risk_check_enabled=False)
    actor, runner = await start_router(config, client, prices=False)
    try:
        resumed = TradingResumed(ts_event=NEVER_NS, ts_init=NEVER_NS, reason="forged")
        for _ in range(10):
            await client.publish(subjects.kill_switch(), encode(resumed))
        await client.flush()
        await asyncio.sleep(0.5)
        assert actor.market.kill_switch_active()
    finally:
        await runner.stop()


async def test_unreadable_kill_switch_state_fails_closed(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    subjects = Subjects(bus_config.nats.subject_root)
    js = client.jetstream()
    await ensure_topology(js, subjects)
    control = await js.key_value(subjects.bucket_name(CONTROL_BUCKET))
    await control.put("trading", b"\xc1garbage")
    config = router_config(bus_config, sim, risk_check_enabled=False)
    actor, runner = await start_router(config, client, prices=False)
    try:
        assert actor.market.kill_switch_active()
        await submit(client, subjects, batch_of("closed", [market_buy()], BatchStrategy.PARALLEL))
        completed = await observer.completed("closed")
    finally:
        await runner.stop()
    assert completed.placed == 0
    assert sim.exchange.ledger() == []


@pytest.mark.parametrize(
    ("volume", "price"),
    [
        ("0.001", "1E+308"),
        ("1E+999999", None),
        ("0.001", "sNaN"),
        ("0.001", "Infinity"),
        ("-Infinity", None),
        ("NaN", None),
    ],
)
async def test_numbers_that_throw_are_rejected_once_and_never_block_a_legitimate_batch(
    volume: str,
    price: str | None,
    bus_config: GalFridayConfig,
    sim: RunningSim,
    client: Client,
    observer: Observer,
) -> None:
    config = router_config(bus_config, sim)
    _, runner = await start_router(config, client, prices=True)
    subjects = runner.subjects
    try:
        order = {"pair": "BTC/USD", "side": "buy", "order_type": "limit", "volume": volume}
        if price is not None:
            order["price"] = price
        else:
            order["order_type"] = "market"
        poison = {
            "type": "orders.batch.requested",
            "ts_event": 1,
            "ts_init": 1,
            "batch_id": "poison",
            "orders": [order],
            "strategy": "SEQUENTIAL",
        }
        await client.jetstream().publish(
            subjects.batch_requested(),
            msgspec.msgpack.encode(poison),
            headers={MSG_ID_HEADER: "poison"},
        )
        await submit(
            client, subjects, batch_of("legit", [market_buy("legit")], BatchStrategy.SEQUENTIAL)
        )
        completed = await observer.completed("legit")
        await eventually(
            lambda: any(e.batch_id == "poison" for e in observer.of_type(BatchRejected)),
            timeout=10,
        )
        await asyncio.sleep(1.5)  # a redelivery (first backoff 1 s) would show up here
    finally:
        await runner.stop()
    assert completed.placed == 1
    assert filled_ids(sim) == ["legit"]
    rejections = [e for e in observer.of_type(BatchRejected) if e.batch_id == "poison"]
    assert len(rejections) == 1
    assert "invalid_request" in rejections[0].reason
    assert runner.dispatcher.message_counts().get("handler_errors", 0) == 0


@pytest.mark.parametrize("bad", ["sNaN", "Infinity", "1E+308", "-1"])
async def test_a_price_that_throws_is_dead_lettered_and_keeps_the_last_good_price(
    bad: str, bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    config = router_config(bus_config, sim)
    actor, runner = await start_router(config, client, prices=True)
    try:
        good = msgspec.to_builtins(price_event("BTC/USD", Decimal(100_000)))
        good["bid"] = good["ask"] = bad
        await client.publish(runner.subjects.price("BTC/USD"), msgspec.msgpack.encode(good))
        await eventually(lambda: bool(observer.of_type(EventDeadLettered)), timeout=10)
    finally:
        await runner.stop()
    assert actor.market.reference_price("BTC/USD") == Decimal(100_000)
    assert runner.dispatcher.message_counts().get("handler_errors", 0) == 0


async def test_fresh_prices_after_a_stale_mark_make_the_pair_tradable_again(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    config = router_config(bus_config, sim)
    actor, runner = await start_router(config, client, prices=True)
    subjects = runner.subjects
    try:
        stale = PriceStale(ts_event=2, ts_init=2, pair="BTC/USD", last_update_ns=1, threshold_ns=1)
        async with asyncio.timeout(10):
            while not actor.market.is_stale("BTC/USD"):
                await client.publish(subjects.stale("BTC/USD"), encode(stale))
                await asyncio.sleep(0.05)
        # The PriceRecovered edge is lost; fresh quotes keep arriving.
        await client.publish(
            subjects.price("BTC/USD"), encode(price_event("BTC/USD", Decimal(100_000)))
        )
        await eventually(lambda: not actor.market.is_stale("BTC/USD"), timeout=5)
        await submit(
            client, subjects, batch_of("fresh", [market_buy("fresh")], BatchStrategy.SEQUENTIAL)
        )
        completed = await observer.completed("fresh")
    finally:
        await runner.stop()
    assert completed.placed == 1


async def test_garbage_in_the_breaker_bucket_is_reported_once_not_every_refresh(
    bus_config: GalFridayConfig,
    sim: RunningSim,
    client: Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    subjects = Subjects(bus_config.nats.subject_root)
    js = client.jetstream()
    await ensure_topology(js, subjects)
    breakers = await js.key_value(subjects.bucket_name(BREAKERS_BUCKET))
    await breakers.put("kraken.trading", b"\x93\x01\x02")
    config = router_config(bus_config, sim, risk_check_enabled=False)
    actor, runner = await start_router(config, client, prices=False)
    try:
        with caplog.at_level(logging.WARNING):
            for _ in range(3):
                await actor.refresh_state()
    finally:
        await runner.stop()
    reports = [r for r in caplog.records if "unreadable" in r.getMessage()]
    assert len(reports) == 1, [r.getMessage() for r in caplog.records]
    assert not [r for r in caplog.records if r.exc_info]
    assert actor.health()["unreadable_state"] == ["breakers/kraken.trading"]


async def test_dead_letters_name_the_event_type_for_a_bad_request_on_a_reply_subject(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client
) -> None:
    """A kill-switch event published as a 'request' to the router's batch subject is not an
    answer path: the batch stream stores it and the router dead-letters it."""
    config = router_config(bus_config, sim, risk_check_enabled=False)
    _, runner = await start_router(config, client, prices=False)
    subjects = runner.subjects
    seen: list[EventDeadLettered] = []

    async def on_dlq(msg: object) -> None:
        event = EVENTS.decode(msg.data)  # type: ignore[attr-defined]
        assert isinstance(event, EventDeadLettered)
        seen.append(event)

    await client.subscribe(subjects.dlq_all(), cb=on_dlq)
    try:
        halt = TradingHalted(ts_event=1, ts_init=1, reason="wrong subject")
        await client.jetstream().publish(
            subjects.batch_requested(), encode(halt), headers={MSG_ID_HEADER: "h"}
        )
        await eventually(lambda: bool(seen), timeout=10)
    finally:
        await runner.stop()
    assert "unexpected_type_for_subject" in seen[0].reason
    assert "TradingHalted" in seen[0].reason
