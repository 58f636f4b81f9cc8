"""The kill switch as an operator uses it (issue 11.5): ``galfriday halt --cancel-all`` is
confirmed by every router instance and cancels resting orders; halt/resume from two hosts
whose clocks are 2 s apart follow the stored order; a control bucket that vanishes under a
running router fails closed."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import msgspec
import nats
import pytest
import pytest_asyncio
import yaml
from nats.aio.client import Client

from actors.batch_router.shell import BatchRouterActor
from actors.cli.main import main
from bus import ActorRunner, Subjects, encode, ensure_topology
from bus.jetstream import CONTROL_BUCKET, MSG_ID_HEADER
from kraken.credentials import Credentials
from kraken.rest import KrakenRestClient
from kraken.result import KrakenOk
from kraken.sim import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    AccountSetup,
    RunningSim,
    SimOptions,
    running_sim,
)
from kraken.sim.scenario import Scenario
from schemas import GalFridayConfig
from schemas.events import TradingHalted, TradingResumed
from schemas.orders import OrderSide, OrderType
from tests.integration.test_batch_router_actor import SIM_PRICES, router_config, sim_credentials
from tests.support.waiting import eventually

pytestmark = [pytest.mark.nats, pytest.mark.sim]

S = 1_000_000_000


SECOND_KEY = Credentials(
    api_key="second-router-key", api_secret=base64.b64encode(bytes(range(64))).decode()
)
"""A router per API key (one process per key): the second router's own account on the sim."""


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    accounts = (AccountSetup(key=SECOND_KEY.api_key, secret=SECOND_KEY.api_secret),)
    options = SimOptions(auto_tick=False, seed=12, scenario=Scenario(accounts=accounts))
    async with running_sim(options) as running:
        for pair, price in SIM_PRICES.items():
            running.exchange.set_price(pair, price)
        yield running


@pytest_asyncio.fixture
async def client(bus_config: GalFridayConfig) -> AsyncIterator[Client]:
    connection = await nats.connect(bus_config.nats.url)
    yield connection
    await connection.drain()


async def start_routers(config: GalFridayConfig, count: int) -> list[ActorRunner]:
    assert count <= 2, "the sim has two accounts here"
    runners = []
    for index in range(count):
        credentials = sim_credentials() if index == 0 else SECOND_KEY
        actor = BatchRouterActor(config=config, credentials=credentials, instance=f"router-{index}")
        runner = ActorRunner(actor, config)
        await runner.start()
        runners.append(runner)
    return runners


def config_file(tmp_path: Path, config: GalFridayConfig) -> str:
    path = tmp_path / "gf.yaml"
    path.write_text(yaml.safe_dump(msgspec.to_builtins(config)))
    return str(path)


async def publish_as_host(
    client: Client, subjects: Subjects, event: TradingHalted | TradingResumed
) -> None:
    """What `galfriday halt/resume` does on a host: store the state, then announce it."""
    js = client.jetstream()
    control = await js.key_value(subjects.bucket_name(CONTROL_BUCKET))
    await control.put("trading", encode(event))
    headers = {MSG_ID_HEADER: f"k-{event.ts_event}"}
    await js.publish(subjects.kill_switch(), encode(event), headers=headers)


async def test_halt_cancel_all_is_confirmed_by_every_router_and_cancels_resting_orders(
    bus_config: GalFridayConfig,
    sim: RunningSim,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = router_config(bus_config, sim)
    monkeypatch.setenv("KRAKEN_API_KEY", DEFAULT_API_KEY)
    monkeypatch.setenv("KRAKEN_API_SECRET", DEFAULT_API_SECRET)
    async with KrakenRestClient(config.kraken, credentials=sim_credentials()) as kraken:
        for price in ("1000", "1100"):  # far below the market: they rest
            placed = await kraken.add_order(
                pair="BTC/USD",
                side=OrderSide.BUY,
                ordertype=OrderType.LIMIT,
                volume=Decimal("0.01"),
                price=Decimal(price),
            )
            assert isinstance(placed, KrakenOk)
    runners = await start_routers(config, 2)
    try:
        argv = ["halt", "--config", config_file(tmp_path, config), "--cancel-all"]
        code = await asyncio.to_thread(main, [*argv, "--ack-timeout", "15"])
        for runner in runners:
            assert isinstance(runner.actor, BatchRouterActor)
            assert runner.actor.market.kill_switch_active()
    finally:
        for runner in runners:
            await runner.stop()
    out = capsys.readouterr().out
    assert code == 0, out
    assert "confirmed by 2 of 2 router instance(s): router-0, router-1" in out
    assert "cancelled 2 resting order(s)" in out
    async with KrakenRestClient(config.kraken, credentials=sim_credentials()) as kraken:
        still_open = await kraken.open_orders()
    assert isinstance(still_open, KrakenOk)
    assert still_open.value.open == {}


async def test_halt_and_resume_from_hosts_two_seconds_apart_follow_the_stored_order(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client
) -> None:
    config = router_config(bus_config, sim)
    subjects = Subjects(bus_config.nats.subject_root)
    [runner] = await start_routers(config, 1)
    router = runner.actor
    assert isinstance(router, BatchRouterActor)
    ahead, behind = 1_700_000_000 * S, 1_700_000_000 * S - 2 * S  # host B's clock is 2 s late
    try:
        await publish_as_host(
            client, subjects, TradingHalted(ts_event=ahead, ts_init=ahead, reason="A")
        )
        await eventually(router.market.kill_switch_active)
        # B resumes after A's halt, though B's clock says it is earlier: the resume stands.
        resume = TradingResumed(ts_event=behind + S, ts_init=behind + S, reason="B")
        await publish_as_host(client, subjects, resume)
        await eventually(lambda: not router.market.kill_switch_active())
        # A resumes (its clock: later), then B halts (its clock: before A's resume): halted.
        later = TradingResumed(ts_event=ahead + 2 * S, ts_init=ahead + 2 * S, reason="A")
        await publish_as_host(client, subjects, later)
        halt = TradingHalted(ts_event=behind + 3 * S, ts_init=behind + 3 * S, reason="B")
        await publish_as_host(client, subjects, halt)
        await eventually(router.market.kill_switch_active)
        await router.refresh_state()
        assert router.market.kill_switch_active()
    finally:
        await runner.stop()


async def test_a_control_bucket_deleted_under_a_running_router_fails_closed(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client
) -> None:
    config = router_config(bus_config, sim)
    subjects = Subjects(bus_config.nats.subject_root)
    js = client.jetstream()
    await ensure_topology(js, subjects)
    now = 1_700_000_000 * S
    await publish_as_host(client, subjects, TradingResumed(ts_event=now, ts_init=now, reason="go"))
    [runner] = await start_routers(config, 1)
    router = runner.actor
    assert isinstance(router, BatchRouterActor)
    try:
        assert not router.market.kill_switch_active()
        await js.delete_key_value(subjects.bucket_name(CONTROL_BUCKET))
        await router.refresh_state()  # what the periodic refresh does
        assert router.market.kill_switch_active()
        await router.refresh_state()
        assert router.market.kill_switch_active()  # still unreadable: still closed
        # An operator recreates the state (as `galfriday resume` does): trading resumes.
        await ensure_topology(js, subjects)
        later = now + S
        await publish_as_host(client, subjects, TradingResumed(ts_event=later, ts_init=later))
        await router.refresh_state()
        assert not router.market.kill_switch_active()
    finally:
        await runner.stop()
