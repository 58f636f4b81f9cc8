"""Record ``market_data_session.gfl``: the market-data actor's output over a short live session
on the simulated exchange, with a pair that goes silent and an exchange status change.

Run from the repository root (about 10 s; overwrites the log next to this file)::

    .venv/bin/python -m tests.replay.record_market_data_session [output.gfl]

What it runs, all in this process except nats-server: a fresh nats-server (JetStream), the
simulated exchange (seed ``SIM_SEED``, ``auto_tick=False``: this script moves the prices), the
real ``MarketDataActor`` under ``ActorRunner`` (:func:`market_data_config`: 1 s and 2 s
volatility bars, 0.5 s staleness threshold; :func:`new_actor`: 50 ms timer) and a ``Recorder``
on every subject the actor publishes events on (:func:`recorded_subjects`).

The ``kraken.public`` breaker is put open in the breakers KV before the actor starts, so it
makes no REST call (no Ticker poll, no SystemStatus): the WebSocket is its only venue input,
and every quote and status report the core saw is a WS message. Each accepted quote is
published as the ``PriceUpdated`` it became (every field the core uses, ``ts_init`` = receive
time), and each status report that changed anything as an ``ExchangeStatusChanged`` with
``source="ws"``: the replay feeds these back as WS updates.

The session, once the WebSocket delivers data: ``WARM_UP_S`` of both pairs moving (a seeded
random walk, a ``set_price`` per pair every ``PRICE_STEP_S``); ``SILENCE_S`` with ETH/USD not
moving (so no WS update for it: ``PriceStale``), then both again (``PriceRecovered``); the sim
status set to ``maintenance`` and, ``MAINTENANCE_S`` later, back to ``online``; both pairs
moving a little longer; a clean stop (see :func:`stop_cleanly`).

Determinism: the walk, the sim and the subject root are seeded or fixed; times follow the wall
clock, so two recordings differ in times and in the number of quotes. Prices are never set in
the last ``GUARD_S`` of a second: a quote stamped just before a bar's end always reaches the
actor before that end, so a bar's content cannot depend on whether the timer or the next quote
closed it. After re-recording, run ``tests/replay/test_market_data_replay.py``.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import msgspec
import nats
from nats.aio.client import Client

from actors.market_data.shell import MarketDataActor
from bus import ActorRunner, Recorder, Sleep, Subjects, encode, read_event_log
from bus.codec import MESSAGES
from bus.jetstream import BREAKERS_BUCKET, ensure_key_value
from kraken.sim import RunningSim, SimOptions, running_sim
from schemas import GalFridayConfig, NatsConfig
from schemas.config import KrakenConfig, MarketDataConfig, VolatilityConfig
from schemas.events import (
    BreakerState,
    CircuitBreakerStateChanged,
    ExchangeStatusChanged,
    PriceRecovered,
    PriceStale,
    VolatilityUpdated,
)
from tests.support.recording import run_recording
from tests.support.waiting import eventually

__all__ = [
    "LOG_PATH",
    "PAIRS",
    "PUBLIC_BREAKER_SCOPE",
    "SILENCED_PAIR",
    "SUBJECT_ROOT",
    "TIMER_TICK_S",
    "breaker_held_open",
    "main",
    "market_data_config",
    "new_actor",
    "record",
    "recorded_subjects",
]

LOG_PATH = Path(__file__).with_name("market_data_session.gfl")
SUBJECT_ROOT = "gf"
SIM_SEED = 31
WALK_SEED = 37
PAIRS = ("BTC/USD", "ETH/USD")
SILENCED_PAIR = "ETH/USD"
START_PRICES = {"BTC/USD": Decimal(100_000), "ETH/USD": Decimal(3_500)}
STEP_SIGMA = 0.0008
"""Log-return standard deviation per price step of the walk."""
PRICE_STEP_S = 0.05
GUARD_S = 0.06
WARM_UP_S = 3.0
SILENCE_S = 1.5
RECOVERY_S = 1.0
MAINTENANCE_S = 0.5
TAIL_S = 1.5
SETTLE_S = 0.25
STOP_WINDOW = (0.1, 0.3)
"""The last step's place in its second: the next bar end is 0.7 s or more away."""
TIMER_TICK_S = 0.05
"""The live actor's timer period; the replay ticks on the same beat."""
STALENESS_S = 0.5
WS_LIVE_TIMEOUT_S = 20.0
PUBLIC_BREAKER_SCOPE = "kraken.public"


def market_data_config(
    rest_url: str = "http://127.0.0.1:1",
    ws_url: str = "ws://127.0.0.1:1/ws/v2",
    nats_url: str | None = None,
) -> GalFridayConfig:
    """The recorded actor's config; the replay uses the same one (it never reaches Kraken)."""
    nats_config = NatsConfig(subject_root=SUBJECT_ROOT)
    if nats_url is not None:
        nats_config = msgspec.structs.replace(nats_config, url=nats_url)
    return GalFridayConfig(
        nats=nats_config,
        kraken=KrakenConfig(rest_url=rest_url, ws_url=ws_url, request_timeout_s=5.0),
        market_data=MarketDataConfig(
            pairs=PAIRS,
            staleness_threshold_seconds=STALENESS_S,
            status_poll_interval_s=3600.0,
            rest_poll_interval_s=1800.0,
            volatility=VolatilityConfig(timeframes=("1s", "2s"), window_bars=4, ewma_lambda=0.9),
            holiday_calendars=(),
        ),
    )


def new_actor(sleep: Sleep = asyncio.sleep) -> MarketDataActor:
    """The recorded actor's tuning; the replay passes its own ``sleep`` to step the timer."""
    return MarketDataActor(
        feed_pairs=PAIRS,
        tick_interval_s=TIMER_TICK_S,
        ws_backoff_base_s=0.1,
        ws_backoff_cap_s=0.5,
        preload_holidays=False,
        rng=random.Random(SIM_SEED),
        sleep=sleep,
    )


def breaker_held_open(scope: str) -> CircuitBreakerStateChanged:
    """A breaker state for the KV, held open for the whole session."""
    return CircuitBreakerStateChanged(
        ts_event=1,
        ts_init=1,
        scope=scope,
        state=BreakerState.OPEN,
        previous=BreakerState.CLOSED,
        reason="recorded session: WebSocket input only",
        since_ns=1,
    )


def recorded_subjects(subjects: Subjects) -> list[str]:
    return [
        subjects.price_all(),
        subjects.stale_all(),
        subjects.volatility_all(),
        subjects.session(),
        subjects.exchange_status(),
    ]


# -- the price driver -----------------------------------------------------------------------------


class PriceWalk:
    """A seeded log-normal walk per pair, written to the sim's touch with ``set_price``."""

    def __init__(self, sim: RunningSim) -> None:
        self._sim = sim
        self._random = random.Random(WALK_SEED)
        self._prices = {pair: float(price) for pair, price in START_PRICES.items()}

    def step(self, pairs: Sequence[str]) -> None:
        for pair in pairs:
            self._prices[pair] *= math.exp(self._random.gauss(0.0, STEP_SIGMA))
            self._sim.exchange.set_price(pair, Decimal(f"{self._prices[pair]:.2f}"))

    def second_fraction(self) -> float:
        """Where the sim's clock is within its current second, 0 to 1."""
        return self._sim.exchange.clock() % 1_000_000_000 / 1e9

    def in_guard_band(self) -> bool:
        return self.second_fraction() >= 1.0 - GUARD_S

    async def run(self, pairs: Sequence[str], seconds: float) -> None:
        deadline = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < deadline:
            if not self.in_guard_band():
                self.step(pairs)
            await asyncio.sleep(PRICE_STEP_S)


async def stop_cleanly(walk: PriceWalk) -> None:
    """Keep stepping until a step lands early in a second, then settle briefly: the session
    ends with no bar end, no staleness deadline and no timer work pending, so the log holds
    nothing half-done."""
    while True:
        if not walk.in_guard_band():
            walk.step(PAIRS)
            if STOP_WINDOW[0] <= walk.second_fraction() < STOP_WINDOW[1]:
                break
        await asyncio.sleep(PRICE_STEP_S)
    await asyncio.sleep(SETTLE_S)


# -- recording ------------------------------------------------------------------------------------


async def hold_breaker_open(client: Client, subjects: Subjects, scope: str) -> None:
    store = await ensure_key_value(client.jetstream(), subjects.bucket_name(BREAKERS_BUCKET))
    await store.put(scope, encode(breaker_held_open(scope)))


async def record(path: Path, nats_url: str) -> None:
    subjects = Subjects(SUBJECT_ROOT)
    client = await nats.connect(nats_url)
    try:
        await hold_breaker_open(client, subjects, PUBLIC_BREAKER_SCOPE)
        options = SimOptions(seed=SIM_SEED, auto_tick=False, heartbeat_interval_s=0.2)
        async with running_sim(options) as sim:
            walk = PriceWalk(sim)
            walk.step(PAIRS)
            config = market_data_config(sim.rest_url, sim.ws_url, nats_url)
            actor = new_actor()
            async with (
                Recorder(client, path, recorded_subjects(subjects)),
                ActorRunner(actor, config),
            ):
                await eventually(lambda: actor.service.ws_connected, WS_LIVE_TIMEOUT_S)
                await walk.run(PAIRS, WARM_UP_S)
                await walk.run([p for p in PAIRS if p != SILENCED_PAIR], SILENCE_S)
                await walk.run(PAIRS, RECOVERY_S)
                sim.exchange.set_status("maintenance")
                await walk.run(PAIRS, MAINTENANCE_S)
                sim.exchange.set_status("online")
                await walk.run(PAIRS, TAIL_S)
                await stop_cleanly(walk)
                await client.flush()
            if sim.exchange.request_counts().keys() - {"ws"}:
                raise RuntimeError(f"the actor called REST: {sim.exchange.request_counts()}")
        check_session(path)
    finally:
        await client.drain()


def check_session(path: Path) -> None:
    """Fail loudly when the session does not show what it is meant to."""
    events = [MESSAGES.decode(r.payload) for r in read_event_log(path)]
    stale = [e.pair for e in events if isinstance(e, PriceStale)]
    recovered = [e.pair for e in events if isinstance(e, PriceRecovered)]
    if stale != [SILENCED_PAIR] or recovered != [SILENCED_PAIR]:
        raise RuntimeError(f"staleness: stale {stale}, recovered {recovered}")
    statuses = [(e.status.value, e.source) for e in events if isinstance(e, ExchangeStatusChanged)]
    if statuses[-2:] != [("maintenance", "ws"), ("online", "ws")]:
        raise RuntimeError(f"exchange status changes: {statuses}")
    with_ewma = {
        (e.pair, e.timeframe)
        for e in events
        if isinstance(e, VolatilityUpdated) and e.ewma is not None and e.realized is not None
    }
    if len(with_ewma) != len(PAIRS) * 2:
        raise RuntimeError(f"volatility readings only for {sorted(with_ewma)}")


def main() -> None:
    run_recording(record, LOG_PATH, None)


if __name__ == "__main__":
    main()
