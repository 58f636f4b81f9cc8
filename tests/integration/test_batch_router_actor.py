"""The batch-router actor against a real nats-server and the simulated Kraken exchange:
strategies end to end, risk and validation rejections, lost responses, a silent classifier and
a kill -9 of the router process in the middle of a batch."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import msgspec
import pytest
import pytest_asyncio
import yaml
from nats.aio.client import Client

from actors.batch_router.shell import BatchRouterActor
from bus import ActorRunner, Subjects, encode, ensure_topology
from bus.codec import EVENTS
from bus.jetstream import BREAKERS_BUCKET, CONTROL_BUCKET, MSG_ID_HEADER
from kraken.credentials import Credentials
from kraken.sim import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    LatencyFault,
    LoseResponseFault,
    OutageFault,
    RunningSim,
    SimOptions,
    running_sim,
)
from schemas import AnyEvent, GalFridayConfig
from schemas.config import KrakenConfig, OrderEntry
from schemas.events import (
    BatchCompleted,
    BatchRejected,
    BreakerState,
    CircuitBreakerStateChanged,
    KrakenCallSucceeded,
    OrderBatchRequested,
    OrderOutcome,
    OrderPlaced,
    OrderRejected,
    PriceStale,
    TradingHalted,
    TradingResumed,
)
from schemas.orders import BatchStrategy, OrderRequest, OrderSide, OrderType
from tests.support.batch_router_doubles import price_event
from tests.support.waiting import eventually

pytestmark = [pytest.mark.nats, pytest.mark.sim]

BTC_PRICE = Decimal(100_000)
ETH_PRICE = Decimal(3_500)
SIM_PRICES = {"BTC/USD": BTC_PRICE, "ETH/USD": ETH_PRICE}
REPO_ROOT = Path(__file__).resolve().parents[2]
_E = TypeVar("_E")


# -- helpers ------------------------------------------------------------------------------------


def resting_buy(pair: str = "BTC/USD", volume: str = "0.001", **changes: object) -> OrderRequest:
    """A limit buy 1 % under the sim's price: valid, inside the collar, rests on the book."""
    price = SIM_PRICES[pair] * Decimal("0.99")
    order = OrderRequest(
        pair=pair,
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        volume=Decimal(volume),
        price=price,
    )
    return msgspec.structs.replace(order, **changes)


def batch_of(
    batch_id: str, orders: Sequence[OrderRequest], strategy: BatchStrategy
) -> OrderBatchRequested:
    return OrderBatchRequested(
        ts_event=1, ts_init=1, batch_id=batch_id, orders=tuple(orders), strategy=strategy
    )


def router_config(
    bus_config: GalFridayConfig, sim: RunningSim, **execution: object
) -> GalFridayConfig:
    kraken = KrakenConfig(rest_url=sim.rest_url, ws_url=sim.ws_url, request_timeout_s=3.0)
    settings = {"reconcile_delay_s": 0.1, "verdict_timeout_s": 0.3, **execution}
    return msgspec.structs.replace(
        bus_config,
        kraken=kraken,
        execution=msgspec.structs.replace(bus_config.execution, **settings),
    )


def rest_entry(config: GalFridayConfig) -> GalFridayConfig:
    """``kraken.order_entry: rest``, for tests of what REST's answers (HTTP 5xx) mean."""
    kraken = msgspec.structs.replace(config.kraken, order_entry=OrderEntry.REST)
    return msgspec.structs.replace(config, kraken=kraken)


def sim_credentials() -> Credentials:
    return Credentials(api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET)


def ledger_ids(sim: RunningSim) -> Counter[str | None]:
    return Counter(entry.cl_ord_id for entry in sim.exchange.ledger())


class Observer:
    """Every outcome event the router publishes, decoded, in arrival order (core NATS)."""

    def __init__(self) -> None:
        self.events: list[AnyEvent] = []

    async def on_message(self, msg: object) -> None:
        self.events.append(EVENTS.decode(msg.data))  # type: ignore[attr-defined]

    def of_type(self, kind: type[_E]) -> list[_E]:
        return [event for event in self.events if isinstance(event, kind)]

    async def completed(self, batch_id: str, timeout: float = 20.0) -> BatchCompleted:
        def done() -> list[BatchCompleted]:
            return [e for e in self.of_type(BatchCompleted) if e.batch_id == batch_id]

        await eventually(lambda: bool(done()), timeout=timeout)
        return done()[0]


async def submit(client: Client, subjects: Subjects, batch: OrderBatchRequested) -> None:
    await client.jetstream().publish(
        subjects.batch_requested(), encode(batch), headers={MSG_ID_HEADER: batch.batch_id}
    )


# -- fixtures -----------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with running_sim(SimOptions(auto_tick=False, seed=11)) as running:
        for pair, price in SIM_PRICES.items():
            running.exchange.set_price(pair, price)
        yield running


@pytest_asyncio.fixture
async def observer(client: Client, subject_root: str) -> Observer:
    seen = Observer()
    subjects = Subjects(subject_root)
    for subject in (
        subjects.order_events_all(),
        subjects.batch_completed(),
        subjects.batch_rejected(),
    ):
        await client.subscribe(subject, cb=seen.on_message)
    return seen


async def start_router(
    config: GalFridayConfig, client: Client, *, prices: bool
) -> tuple[BatchRouterActor, ActorRunner]:
    actor = BatchRouterActor(config=config, credentials=sim_credentials())
    runner = ActorRunner(actor, config)
    await runner.start()
    try:
        if prices:
            await _feed_prices(actor, client, Subjects(config.nats.subject_root))
    except BaseException:
        await runner.stop()
        raise
    return actor, runner


async def _feed_prices(actor: BatchRouterActor, client: Client, subjects: Subjects) -> None:
    # Core NATS: the router's subscription may reach the server after a first publish, so
    # the quotes are repeated until the router has them.
    async with asyncio.timeout(10):
        while not all(actor.market.reference_price(pair) for pair in SIM_PRICES):
            for pair, price in SIM_PRICES.items():
                await client.publish(subjects.price(pair), encode(price_event(pair, price)))
            await asyncio.sleep(0.05)


# -- strategies ---------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", list(BatchStrategy))
async def test_each_strategy_places_every_order_exactly_once(
    strategy: BatchStrategy,
    bus_config: GalFridayConfig,
    sim: RunningSim,
    client: Client,
    observer: Observer,
) -> None:
    """Risk checks on, live reference prices: all orders reach the sim once each."""
    config = router_config(bus_config, sim)
    _, runner = await start_router(config, client, prices=True)
    try:
        orders = [resting_buy("BTC/USD")] * 3 + [resting_buy("ETH/USD", "0.01")] * 3
        await submit(client, runner.subjects, batch_of(f"s-{strategy}", orders, strategy))
        completed = await observer.completed(f"s-{strategy}")
    finally:
        await runner.stop()
    assert completed.placed == 6, completed.results
    ids = ledger_ids(sim)
    assert set(ids) == {result.cl_ord_id for result in completed.results}
    assert set(ids.values()) == {1}
    assert {r.txid for r in completed.results} == {e.txid for e in sim.exchange.ledger()}
    assert len(observer.of_type(BatchCompleted)) == 1


async def test_smart_routing_groups_orders_of_a_pair_into_add_order_batch(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    config = router_config(bus_config, sim, risk_check_enabled=False)
    _, runner = await start_router(config, client, prices=False)
    try:
        orders = [resting_buy("BTC/USD")] * 4 + [resting_buy("ETH/USD", "0.01")] * 3
        await submit(
            client, runner.subjects, batch_of("smart", orders, BatchStrategy.SMART_ROUTING)
        )
        completed = await observer.completed("smart")
    finally:
        await runner.stop()
    counts = sim.exchange.request_counts()
    assert completed.placed == 7
    assert counts.get("AddOrderBatch", 0) + counts.get("ws:batch_add", 0) >= 2
    assert counts.get("AddOrder", 0) + counts.get("ws:add_order", 0) == 0
    assert len(sim.exchange.ledger()) == 7


# -- risk and validation ------------------------------------------------------------------------


async def test_orders_beyond_the_batch_exposure_limit_are_rejected_and_never_sent(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    # Each order is worth 0.001 * 99 000 = 99 USD; the limit admits two.
    config = router_config(bus_config, sim, max_batch_exposure=Decimal(200))
    _, runner = await start_router(config, client, prices=True)
    try:
        orders = [resting_buy("BTC/USD")] * 4
        await submit(client, runner.subjects, batch_of("exp", orders, BatchStrategy.SEQUENTIAL))
        completed = await observer.completed("exp")
    finally:
        await runner.stop()
    assert (completed.placed, completed.rejected) == (2, 2)
    rejections = observer.of_type(OrderRejected)
    assert len(rejections) == 2
    assert all(r.reason.startswith("risk_exposure_limit") for r in rejections)
    assert len(sim.exchange.ledger()) == 2


async def test_stale_reference_price_rejects_the_orders_of_that_pair(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    config = router_config(bus_config, sim)
    actor, runner = await start_router(config, client, prices=True)
    try:
        stale = PriceStale(ts_event=2, ts_init=2, pair="ETH/USD", last_update_ns=1, threshold_ns=1)
        async with asyncio.timeout(10):
            while not actor.market.is_stale("ETH/USD"):
                await client.publish(runner.subjects.stale("ETH/USD"), encode(stale))
                await asyncio.sleep(0.05)
        orders = [resting_buy("BTC/USD"), resting_buy("ETH/USD", "0.01")]
        await submit(client, runner.subjects, batch_of("stale", orders, BatchStrategy.PARALLEL))
        completed = await observer.completed("stale")
    finally:
        await runner.stop()
    by_pair = {result.pair: result for result in completed.results}
    assert by_pair["BTC/USD"].outcome is OrderOutcome.PLACED
    assert by_pair["ETH/USD"].outcome is OrderOutcome.REJECTED
    assert (by_pair["ETH/USD"].reason or "").startswith("risk_reference_stale")
    assert [entry.pair for entry in sim.exchange.ledger()] == ["XXBTZUSD"]


async def test_invalid_orders_are_rejected_with_a_reason_and_never_reach_the_exchange(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    config = router_config(bus_config, sim, risk_check_enabled=False)
    _, runner = await start_router(config, client, prices=False)
    try:
        orders = [
            resting_buy(volume="0"),
            msgspec.structs.replace(resting_buy(), pair="DOGE/EUR"),
            resting_buy(cl_ord_id="twin-1"),
            resting_buy(cl_ord_id="twin-1"),
        ]
        await submit(client, runner.subjects, batch_of("bad", orders, BatchStrategy.PARALLEL))
        completed = await observer.completed("bad")
    finally:
        await runner.stop()
    assert completed.rejected == 4
    reasons = {r.index: r.reason for r in observer.of_type(OrderRejected)}
    assert sorted(reasons) == [0, 1, 2, 3]
    assert "duplicate_cl_ord_id" in reasons[2]
    assert "duplicate_cl_ord_id" in reasons[3]
    assert all(reasons.values())
    assert sim.exchange.placement_requests() == 0
    assert sim.exchange.ledger() == []


async def test_batch_with_too_many_orders_is_rejected_as_a_whole(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    config = router_config(bus_config, sim, risk_check_enabled=False, max_batch_size=3)
    _, runner = await start_router(config, client, prices=False)
    try:
        orders = [resting_buy()] * 4
        await submit(client, runner.subjects, batch_of("big", orders, BatchStrategy.SEQUENTIAL))
        completed = await observer.completed("big")
    finally:
        await runner.stop()
    (rejection,) = observer.of_type(BatchRejected)
    assert rejection.batch_id == "big"
    assert rejection.order_count == 4
    assert rejection.reason
    assert completed.rejected == 4
    assert sim.exchange.placement_requests() == 0


# -- kill switch, breaker, dead man's switch, call reports -------------------------------------


async def test_kill_switch_stored_in_kv_before_start_blocks_every_order(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    subjects = Subjects(bus_config.nats.subject_root)
    js = client.jetstream()
    await ensure_topology(js, subjects)
    control = await js.key_value(subjects.bucket_name(CONTROL_BUCKET))
    await control.put("trading", encode(TradingHalted(ts_event=1, ts_init=1, reason="drill")))
    config = router_config(bus_config, sim, risk_check_enabled=False)
    _, runner = await start_router(config, client, prices=False)
    try:
        orders = [resting_buy()] * 2
        await submit(client, subjects, batch_of("halted", orders, BatchStrategy.PARALLEL))
        completed = await observer.completed("halted")
    finally:
        await runner.stop()
    assert completed.rejected == 2
    assert all(r.reason.startswith("kill_switch") for r in observer.of_type(OrderRejected))
    assert sim.exchange.ledger() == []


async def test_a_stored_resume_announced_by_event_lifts_a_halt_read_from_kv(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    subjects = Subjects(bus_config.nats.subject_root)
    js = client.jetstream()
    await ensure_topology(js, subjects)
    control = await js.key_value(subjects.bucket_name(CONTROL_BUCKET))
    await control.put("trading", encode(TradingHalted(ts_event=1, ts_init=1, reason="drill")))
    config = router_config(bus_config, sim, risk_check_enabled=False)
    actor, runner = await start_router(config, client, prices=False)
    try:
        assert actor.market.kill_switch_active()
        resumed = encode(TradingResumed(ts_event=2, ts_init=2, reason="drill over"))
        await control.put("trading", resumed)  # as `galfriday resume` does: stored, then sent
        async with asyncio.timeout(10):
            while actor.market.kill_switch_active():
                await client.publish(subjects.kill_switch(), resumed)
                await asyncio.sleep(0.05)
        await submit(client, subjects, batch_of("go", [resting_buy()], BatchStrategy.SEQUENTIAL))
        completed = await observer.completed("go")
    finally:
        await runner.stop()
    assert completed.placed == 1
    assert len(sim.exchange.ledger()) == 1


async def test_open_trading_breaker_from_kv_holds_orders_until_the_batch_timeout(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    subjects = Subjects(bus_config.nats.subject_root)
    js = client.jetstream()
    await ensure_topology(js, subjects)
    breakers = await js.key_value(subjects.bucket_name(BREAKERS_BUCKET))
    opened = CircuitBreakerStateChanged(
        ts_event=1,
        ts_init=1,
        scope="kraken.trading",
        state=BreakerState.OPEN,
        previous=BreakerState.CLOSED,
        reason="test",
        since_ns=1,
    )
    await breakers.put("kraken.trading", encode(opened))
    config = router_config(bus_config, sim, risk_check_enabled=False, batch_timeout=1.0)
    _, runner = await start_router(config, client, prices=False)
    try:
        await submit(client, subjects, batch_of("held", [resting_buy()], BatchStrategy.PARALLEL))
        completed = await observer.completed("held")
    finally:
        await runner.stop()
    assert completed.failed == 1
    assert completed.results[0].reason == "circuit_open"
    assert sim.exchange.placement_requests() == 0


async def test_dead_mans_switch_is_armed_while_running_and_disarmed_on_stop(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client
) -> None:
    subjects = Subjects(bus_config.nats.subject_root)
    reports: list[AnyEvent] = []

    async def on_report(msg: object) -> None:
        reports.append(EVENTS.decode(msg.data))  # type: ignore[attr-defined]

    await client.subscribe(subjects.kraken_calls_all(), cb=on_report)
    # Refresh (60 s) longer than the test: exactly one arming call, then the disarm on stop.
    config = router_config(
        bus_config,
        sim,
        dead_mans_switch=True,
        dead_mans_switch_refresh_s=60.0,
        dead_mans_switch_timeout_s=120,
    )
    actor, runner = await start_router(config, client, prices=False)
    try:
        await eventually(lambda: actor.health()["dead_mans_switch_armed"] is True)
        armed_calls = sim.exchange.request_counts().get("CancelAllOrdersAfter", 0)
    finally:
        await runner.stop()
    assert armed_calls == 1
    assert sim.exchange.request_counts().get("CancelAllOrdersAfter", 0) == 2
    await eventually(
        lambda: (
            {"AssetPairs", "CancelAllOrdersAfter"}
            <= {e.endpoint for e in reports if isinstance(e, KrakenCallSucceeded)}
        )
    )


# -- unknown outcomes ---------------------------------------------------------------------------


async def test_lost_responses_never_duplicate_an_order(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    """10 % of placements are accepted but their answer is lost; reconciliation finds them."""
    sim.exchange.faults.add(LoseResponseFault(probability=0.1, mode="drop"))
    config = router_config(bus_config, sim, risk_check_enabled=False)
    _, runner = await start_router(config, client, prices=False)
    try:
        orders = [resting_buy()] * 20
        await submit(client, runner.subjects, batch_of("lossy", orders, BatchStrategy.PARALLEL))
        completed = await observer.completed("lossy", timeout=40.0)
    finally:
        await runner.stop()
    ids = ledger_ids(sim)
    assert set(ids.values()) == {1}
    placed = {r.cl_ord_id for r in completed.results if r.outcome is OrderOutcome.PLACED}
    assert placed == set(ids)
    assert completed.placed == 20


async def test_silent_classifier_sends_again_only_what_is_proven_absent(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, observer: Observer
) -> None:
    """No classifier answers: unknown outcomes (5xx, lost answers) are reconciled; the orders
    found are placed, the ones proven absent (deadline + margin passed) are sent again, and
    nothing is placed twice."""
    sim.exchange.faults.add(OutageFault(endpoints=("AddOrder",), calls=2))
    sim.exchange.faults.add(LoseResponseFault(endpoints=("AddOrder",), mode="http_502", calls=2))
    # Two lookup rounds keep the reconciliations inside the REST call budget (no rate waits).
    config = rest_entry(
        router_config(bus_config, sim, risk_check_enabled=False, reconcile_attempts=2)
    )
    _, runner = await start_router(config, client, prices=False)
    try:
        orders = [resting_buy()] * 8
        await submit(client, runner.subjects, batch_of("mute", orders, BatchStrategy.SEQUENTIAL))
        completed = await observer.completed("mute", timeout=40.0)
    finally:
        await runner.stop()
    ids = ledger_ids(sim)
    assert set(ids.values()) == {1}
    placed = {r.cl_ord_id for r in completed.results if r.outcome is OrderOutcome.PLACED}
    assert placed == set(ids)
    assert completed.placed == 8, completed.results
    assert len(ids) == 8


# -- crash and resume ---------------------------------------------------------------------------


def _spawn_router(config_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "GF_CONFIG": str(config_path),
        "KRAKEN_API_KEY": DEFAULT_API_KEY,
        "KRAKEN_API_SECRET": DEFAULT_API_SECRET,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "actors.cli.main", "actor", "batch-router"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _wait_until_serving(client: Client, subjects: Subjects) -> None:
    async with asyncio.timeout(30):
        while True:
            try:
                await client.request(
                    subjects.service_endpoint("batch-router", "health"), b"", timeout=0.5
                )
                return
            except Exception:  # not up yet: no responders or timeout
                await asyncio.sleep(0.1)


async def _stored_completions(client: Client, subjects: Subjects) -> int:
    info = await client.jetstream().stream_info(
        subjects.stream_name("orders"), subjects_filter=subjects.batch_completed()
    )
    return (info.state.subjects or {}).get(subjects.batch_completed(), 0)


async def test_router_killed_mid_batch_resumes_without_losing_or_duplicating_orders(
    bus_config: GalFridayConfig,
    sim: RunningSim,
    client: Client,
    observer: Observer,
    tmp_path: Path,
) -> None:
    subjects = Subjects(bus_config.nats.subject_root)
    slow = sim.exchange.faults.add(LatencyFault(endpoints=("AddOrder",), ms=600))
    config_path = tmp_path / "router.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "nats": {"url": bus_config.nats.url, "subject_root": subjects.root},
                "kraken": {"rest_url": sim.rest_url, "ws_url": sim.ws_url},
                "execution": {
                    "risk_check_enabled": False,
                    "reconcile_delay_s": 0.1,
                    # the crashed batch is redelivered to the restarted router after this
                    "batch_ack_wait_s": 3.0,
                },
            }
        )
    )
    total = 8
    router = _spawn_router(config_path)
    try:
        await _wait_until_serving(client, subjects)
        orders = [resting_buy()] * total
        await submit(client, subjects, batch_of("crash", orders, BatchStrategy.SEQUENTIAL))
        await eventually(lambda: len(sim.exchange.ledger()) >= 2, timeout=20)
        router.send_signal(signal.SIGKILL)
        router.wait(timeout=10)
        assert len(sim.exchange.ledger()) < total  # really killed in the middle
        sim.exchange.faults.remove(slow)
        router = _spawn_router(config_path)
        completed = await observer.completed("crash", timeout=40.0)
    finally:
        router.terminate()
        router.wait(timeout=15)
    ids = ledger_ids(sim)
    assert len(ids) == total
    assert set(ids.values()) == {1}
    assert completed.placed == total
    # The restarted router took the orders sent before the kill from their stored outcomes (or
    # found them) instead of sending them again: each reported with its one exchange txid.
    txids = {entry.cl_ord_id: entry.txid for entry in sim.exchange.ledger()}
    reported = {(placed.cl_ord_id, placed.txid) for placed in observer.of_type(OrderPlaced)}
    assert reported == set(txids.items())
    assert await _stored_completions(client, subjects) == 1
