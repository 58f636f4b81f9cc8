"""Running the simulated exchange: options, the aiohttp application and its lifetime."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from aiohttp import web

from kraken.sim.auth import ApiCredential
from kraken.sim.book import BookProfile
from kraken.sim.clock import Clock, system_clock
from kraken.sim.control import add_control_routes
from kraken.sim.credentials import DEFAULT_API_KEY, DEFAULT_API_SECRET
from kraken.sim.exchange import SimExchange
from kraken.sim.fault_middleware import SHUTDOWN_KEY, fault_middleware
from kraken.sim.faults import FaultInjector
from kraken.sim.pairs import PAIRS
from kraken.sim.rest import EXCHANGE_KEY, add_rest_routes
from kraken.sim.rest_market import add_market_routes
from kraken.sim.scenario import Scenario, load_scenario
from kraken.sim.ws import WS_HUB_KEY, WsHub
from kraken.sim.ws_auth import WS_AUTH_HUB_KEY, WS_AUTH_PATH, WsAuthHub
from schemas.config import KrakenTier

__all__ = ["RunningSim", "SimOptions", "build_app", "build_exchange", "running_sim"]

WS_PATH = "/ws/v2"


@dataclass(frozen=True, kw_only=True)
class SimOptions:
    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 7
    api_key: str = DEFAULT_API_KEY
    api_secret: str = field(default=DEFAULT_API_SECRET, repr=False)
    tier: str = "starter"
    nonce_window: int = 0
    scenario: str | Path | Scenario | None = None
    tick_interval_s: float = 0.25
    auto_tick: bool = True
    """Run the background loop (price steps, timeline, dead man's switch) every tick interval."""
    clock: Clock | None = None
    """Injected Unix-ns clock (e.g. ``ManualClock``); defaults to the system clock."""
    heartbeat_interval_s: float = 1.0
    step_volatility: float = 0.0005
    balances: Mapping[str, Decimal] | None = None
    book_profile: BookProfile | None = None
    """The synthetic order book's shape; ``BookProfile.infinite()`` for the old unlimited touch."""


def _scenario(options: SimOptions) -> Scenario:
    if options.scenario is None:
        return Scenario()
    if isinstance(options.scenario, Scenario):
        return options.scenario
    return load_scenario(options.scenario)


def build_exchange(options: SimOptions) -> SimExchange:
    """The exchange state for these options, with the scenario's faults and prices applied."""
    scenario = _scenario(options)
    exchange = SimExchange(
        seed=scenario.seed if scenario.seed is not None else options.seed,
        clock=options.clock or system_clock,
        tier=KrakenTier(options.tier),
        credentials=[ApiCredential(options.api_key, options.api_secret, options.nonce_window)],
        balances=dict(options.balances) if options.balances is not None else None,
        step_volatility=options.step_volatility,
        book_profile=options.book_profile,
        extra_accounts=[
            (
                ApiCredential(setup.key, setup.secret, setup.nonce_window),
                KrakenTier(setup.tier),
                None if setup.balances is None else dict(setup.balances),
            )
            for setup in scenario.accounts
        ],
        shared_keys={
            setup.key: setup.account_of
            for setup in scenario.accounts
            if setup.account_of is not None
        },
    )
    for pair, price in scenario.prices.items():
        exchange.set_price(pair, price)
    exchange.faults.add_scenario(scenario)
    return exchange


async def _tick_forever(exchange: SimExchange, interval_s: float) -> None:
    """``exchange.tick()`` in slices: a request arriving meanwhile waits for one pair's step
    (a book rebuild, well under a millisecond), not for every pair's."""
    while True:
        await asyncio.sleep(interval_s)
        for spec in PAIRS:
            exchange.step_pair(spec)
            await asyncio.sleep(0)
        exchange.process_time()


def build_app(exchange: SimExchange, options: SimOptions) -> web.Application:
    app = web.Application(middlewares=[fault_middleware])
    app[EXCHANGE_KEY] = exchange
    app[SHUTDOWN_KEY] = asyncio.Event()
    hub = WsHub(exchange, options.heartbeat_interval_s)
    app[WS_HUB_KEY] = hub
    add_rest_routes(app)
    add_market_routes(app)
    add_control_routes(app)
    app.router.add_get(WS_PATH, hub.handle)
    auth_hub = WsAuthHub(exchange, options.heartbeat_interval_s)
    app[WS_AUTH_HUB_KEY] = auth_hub
    app.router.add_get(WS_AUTH_PATH, auth_hub.handle)

    async def background(app: web.Application) -> AsyncIterator[None]:
        task = (
            asyncio.create_task(_tick_forever(exchange, options.tick_interval_s))
            if options.auto_tick
            else None
        )
        yield
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def on_shutdown(app: web.Application) -> None:
        app[SHUTDOWN_KEY].set()
        await hub.close_all()
        await auth_hub.close_all()

    app.cleanup_ctx.append(background)
    app.on_shutdown.append(on_shutdown)
    return app


@dataclass(frozen=True)
class RunningSim:
    """A started simulator: where it listens and its state."""

    host: str
    port: int
    exchange: SimExchange
    options: SimOptions

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}{WS_PATH}"

    @property
    def ws_auth_url(self) -> str:
        """The authenticated WS v2 endpoint (Kraken's separate ``ws-auth`` host)."""
        return f"ws://{self.host}:{self.port}{WS_AUTH_PATH}"

    @property
    def control_url(self) -> str:
        return f"http://{self.host}:{self.port}/sim"

    @property
    def faults(self) -> FaultInjector:
        return self.exchange.faults

    @property
    def api_key(self) -> str:
        return self.options.api_key


@asynccontextmanager
async def running_sim(options: SimOptions | None = None) -> AsyncIterator[RunningSim]:
    """Start the simulator on ``options.host``/``options.port`` (0 = a free port)."""
    options = options or SimOptions()
    exchange = build_exchange(options)
    runner = web.AppRunner(build_app(exchange, options), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, options.host, options.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield RunningSim(host=str(host), port=int(port), exchange=exchange, options=options)
    finally:
        await runner.cleanup()
