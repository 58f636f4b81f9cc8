"""Record ``batch_router_session.gfl``: a scripted trading session through the batch router.

Run from the repository root (a few seconds; overwrites the log next to this file)::

    .venv/bin/python -m tests.replay.record_batch_router_session [output.gfl]

What it runs, all in this process except nats-server: a fresh nats-server (JetStream), the
simulated exchange (seed ``SIM_SEED``, ``auto_tick=False`` and the touch of each pair set to
``SIM_PRICES``, so nothing moves by itself), the real ``BatchRouterActor`` under
``ActorRunner`` with :func:`router_config` and the sim's dev key, and a ``Recorder`` on the
router's inputs (:func:`input_subjects`) and outputs (:func:`output_subjects`).

The session (:func:`session_script`) is published one step at a time: a market or control
event is published on core NATS once and the next step waits until the router has applied it;
a batch is published durably (msg id = batch id) and the next step waits for its
``BatchCompleted``. Steps, in order: reference prices for both pairs; one batch per strategy
(sequential, parallel, smart routing, risk-aware), all placed; a batch with a zero-volume
order (rejected locally, its sibling placed); a batch breaching ``EXPOSURE_LIMIT`` (the third
order rejected); a batch over ``MAX_BATCH_SIZE`` (``BatchRejected``); an open ``kraken.public``
breaker (not the router's gate: nothing changes) and a stale ETH price with a batch in it
(ETH rejected, BTC placed), then the recovery; a kill-switch halt with a batch (all rejected),
the resume and a last batch (placed).

Determinism: the sim's txids come from one seeded generator in the order orders reach it, and
the Kraken client serializes private calls per key (``nonce_window`` 0, a FIFO lock), so the
same config and inputs give the same txids; batch ids, and hence the derived ``cl_ord_id``s,
are fixed. Only times differ between two recordings. The script checks the outcomes it
expects and fails loudly otherwise. After re-recording, run
``tests/replay/test_batch_router_replay.py``; the replay must match it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import msgspec
import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from actors.batch_router.bus_ports import KILL_SWITCH_KEY
from actors.batch_router.shell import BatchRouterActor
from bus import ActorRunner, Recorder, Subjects, encode
from bus.codec import MESSAGES
from bus.jetstream import CONTROL_BUCKET, MSG_ID_HEADER
from kraken.credentials import Credentials
from kraken.sim import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    RunningSim,
    SimOptions,
    running_sim,
)
from schemas import AnyMessage, Event, GalFridayConfig, NatsConfig
from schemas.config import KrakenConfig, MarketDataConfig
from schemas.events import (
    BatchCompleted,
    BatchRejected,
    BreakerState,
    CircuitBreakerStateChanged,
    OrderBatchRequested,
    OrderOutcome,
    PriceRecovered,
    PriceSource,
    PriceStale,
    PriceUpdated,
    TradingHalted,
    TradingResumed,
)
from schemas.orders import BatchStrategy, OrderRequest, OrderSide, OrderType
from tests.support.recording import run_recording
from tests.support.waiting import eventually

__all__ = [
    "EXPOSURE_LIMIT",
    "LOG_PATH",
    "SUBJECT_ROOT",
    "input_subjects",
    "main",
    "output_subjects",
    "prepare_sim",
    "record",
    "router_config",
    "session_script",
    "sim_credentials",
    "sim_options",
]

LOG_PATH = Path(__file__).with_name("batch_router_session.gfl")
SUBJECT_ROOT = "gf"
SIM_SEED = 23
SIM_PRICES = {"BTC/USD": Decimal(100_000), "ETH/USD": Decimal(3_500)}
EXPOSURE_LIMIT = Decimal(1_000)
"""Per-batch notional cap: every batch fits except ``exposure``, whose third order does not."""
MAX_BATCH_SIZE = 8
STALENESS_S = 600.0
"""Far above the session's length, so prices never age out between steps while recording."""
BATCH_TIMEOUT_S = 20.0
STEP_TIMEOUT_S = 20.0


def sim_options() -> SimOptions:
    return SimOptions(seed=SIM_SEED, auto_tick=False)


def prepare_sim(sim: RunningSim) -> None:
    """Freeze the sim's touch at the session prices (no ticking: nothing moves afterwards)."""
    for pair, price in SIM_PRICES.items():
        sim.exchange.set_price(pair, price)


def sim_credentials() -> Credentials:
    return Credentials(api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET)


def router_config(
    rest_url: str,
    ws_url: str,
    nats_url: str | None = None,
    execution: Mapping[str, object] | None = None,
) -> GalFridayConfig:
    """The recorded router's config; the replay uses the same one with its own sim's URLs.

    ``execution`` overrides recorded ``execution`` settings (the replay's negative tests).
    """
    nats_config = NatsConfig(subject_root=SUBJECT_ROOT)
    if nats_url is not None:
        nats_config = msgspec.structs.replace(nats_config, url=nats_url)
    base = GalFridayConfig()
    settings: dict[str, object] = {
        "max_batch_exposure": EXPOSURE_LIMIT,
        "max_batch_size": MAX_BATCH_SIZE,
        "batch_timeout": BATCH_TIMEOUT_S,
        **(execution or {}),
    }
    return msgspec.structs.replace(
        base,
        nats=nats_config,
        kraken=KrakenConfig(rest_url=rest_url, ws_url=ws_url, request_timeout_s=5.0),
        market_data=MarketDataConfig(staleness_threshold_seconds=STALENESS_S),
        execution=msgspec.structs.replace(base.execution, **settings),
    )


def input_subjects(subjects: Subjects) -> list[str]:
    return [
        subjects.batch_requested(),
        subjects.price_all(),
        subjects.stale_all(),
        subjects.breakers_all(),
        subjects.kill_switch(),
    ]


def output_subjects(subjects: Subjects) -> list[str]:
    return [subjects.order_events_all(), subjects.batch_completed(), subjects.batch_rejected()]


# -- the session ----------------------------------------------------------------------------------


def resting_buy(pair: str, volume: str) -> OrderRequest:
    """A limit buy 1 % under the session price: valid, inside the collar, rests on the book."""
    return OrderRequest(
        pair=pair,
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        volume=Decimal(volume),
        price=SIM_PRICES[pair] * Decimal("0.99"),
    )


BTC = "BTC/USD"
ETH = "ETH/USD"


def _price(ts: int, pair: str) -> PriceUpdated:
    price = SIM_PRICES[pair]
    return PriceUpdated(
        ts_event=ts,
        ts_init=ts,
        pair=pair,
        bid=price,
        ask=price,
        last=price,
        bid_size=Decimal(1),
        ask_size=Decimal(1),
        volume_24h=Decimal(10),
        vwap_24h=price,
        source=PriceSource.WS,
    )


def _batch(
    ts: int, batch_id: str, strategy: BatchStrategy, *orders: OrderRequest
) -> OrderBatchRequested:
    return OrderBatchRequested(
        ts_event=ts, ts_init=ts, batch_id=batch_id, orders=orders, strategy=strategy
    )


def session_script(subjects: Subjects) -> list[tuple[str, Event]]:
    """Every input of the session as (subject, event), in publishing order; ``ts`` = step."""

    def batch(
        ts: int, batch_id: str, strategy: BatchStrategy, *orders: OrderRequest
    ) -> tuple[str, Event]:
        return subjects.batch_requested(), _batch(ts, batch_id, strategy, *orders)

    steps: list[Callable[[int], tuple[str, Event]]] = [
        lambda ts: (subjects.price(BTC), _price(ts, BTC)),
        lambda ts: (subjects.price(ETH), _price(ts, ETH)),
        lambda ts: batch(
            ts,
            "sequential",
            BatchStrategy.SEQUENTIAL,
            resting_buy(BTC, "0.001"),
            resting_buy(BTC, "0.002"),
            resting_buy(ETH, "0.01"),
        ),
        lambda ts: batch(
            ts,
            "parallel",
            BatchStrategy.PARALLEL,
            resting_buy(BTC, "0.001"),
            resting_buy(ETH, "0.01"),
            resting_buy(ETH, "0.02"),
            resting_buy(BTC, "0.001"),
        ),
        lambda ts: batch(
            ts,
            "smart",
            BatchStrategy.SMART_ROUTING,
            resting_buy(BTC, "0.001"),
            resting_buy(ETH, "0.01"),
            resting_buy(BTC, "0.001"),
            resting_buy(ETH, "0.01"),
            resting_buy(BTC, "0.001"),
        ),
        lambda ts: batch(
            ts,
            "risk-aware",
            BatchStrategy.RISK_AWARE,
            resting_buy(BTC, "0.003"),
            resting_buy(ETH, "0.05"),
            resting_buy(BTC, "0.001"),
        ),
        lambda ts: batch(
            ts,
            "invalid",
            BatchStrategy.SEQUENTIAL,
            resting_buy(BTC, "0"),
            resting_buy(BTC, "0.001"),
        ),
        lambda ts: batch(
            ts,
            "exposure",
            BatchStrategy.PARALLEL,
            resting_buy(BTC, "0.004"),
            resting_buy(BTC, "0.004"),
            resting_buy(BTC, "0.004"),
        ),
        lambda ts: batch(
            ts,
            "oversize",
            BatchStrategy.SEQUENTIAL,
            *[resting_buy(BTC, "0.001")] * (MAX_BATCH_SIZE + 1),
        ),
        lambda ts: (
            subjects.breaker("kraken.public"),
            CircuitBreakerStateChanged(
                ts_event=ts,
                ts_init=ts,
                scope="kraken.public",
                state=BreakerState.OPEN,
                previous=BreakerState.CLOSED,
                reason="recorded session: market-data outage",
                since_ns=ts,
            ),
        ),
        lambda ts: (
            subjects.stale(ETH),
            PriceStale(ts_event=ts, ts_init=ts, pair=ETH, last_update_ns=2, threshold_ns=1),
        ),
        lambda ts: batch(
            ts,
            "stale",
            BatchStrategy.PARALLEL,
            resting_buy(BTC, "0.001"),
            resting_buy(ETH, "0.01"),
        ),
        lambda ts: (
            subjects.stale(ETH),
            PriceRecovered(ts_event=ts, ts_init=ts, pair=ETH, stale_for_ns=1),
        ),
        lambda ts: (
            subjects.kill_switch(),
            TradingHalted(ts_event=ts, ts_init=ts, reason="recorded drill", by="recorder"),
        ),
        lambda ts: batch(
            ts,
            "halted",
            BatchStrategy.PARALLEL,
            resting_buy(BTC, "0.001"),
            resting_buy(ETH, "0.01"),
        ),
        lambda ts: (
            subjects.kill_switch(),
            TradingResumed(ts_event=ts, ts_init=ts, reason="drill over", by="recorder"),
        ),
        lambda ts: batch(ts, "resumed", BatchStrategy.SEQUENTIAL, resting_buy(BTC, "0.001")),
    ]

    return [step(ts) for ts, step in enumerate(steps, start=1)]


# -- recording ------------------------------------------------------------------------------------


@dataclass
class OutputWatch:
    """Every router output seen on the bus, decoded, in arrival order."""

    events: list[AnyMessage] = field(default_factory=list)

    async def on_message(self, msg: Msg) -> None:
        self.events.append(MESSAGES.decode(msg.data))

    def completed(self, batch_id: str) -> BatchCompleted | None:
        for event in self.events:
            if isinstance(event, BatchCompleted) and event.batch_id == batch_id:
                return event
        return None


def applied(actor: BatchRouterActor, event: Event) -> Callable[[], bool]:
    """When the router holds the state ``event`` carries (its handlers have run)."""
    market = actor.market
    match event:
        case PriceUpdated():
            return lambda: market.reference_price(event.pair) == (event.bid + event.ask) / 2
        case PriceStale():
            return lambda: market.is_stale(event.pair)
        case PriceRecovered():
            return lambda: not market.is_stale(event.pair)
        case TradingHalted():
            return market.kill_switch_active
        case TradingResumed():
            return lambda: not market.kill_switch_active()
        case _:
            # A non-trading breaker scope leaves no trace in the router: nothing to wait for.
            return lambda: True


async def publish_step(
    client: Client, actor: BatchRouterActor, watch: OutputWatch, subject: str, event: Event
) -> None:
    if isinstance(event, OrderBatchRequested):
        await client.jetstream().publish(
            subject, encode(event), headers={MSG_ID_HEADER: event.batch_id}
        )
        await eventually(lambda: watch.completed(event.batch_id) is not None, STEP_TIMEOUT_S)
        return
    if isinstance(event, TradingHalted | TradingResumed):
        # As `galfriday halt/resume` do: the state is stored, then announced.
        subjects = actor.context.subjects
        control = await client.jetstream().key_value(subjects.bucket_name(CONTROL_BUCKET))
        await control.put(KILL_SWITCH_KEY, encode(event))
    await client.publish(subject, encode(event))
    await client.flush()
    await eventually(applied(actor, event), STEP_TIMEOUT_S)


EXPECTED_COUNTS = {
    "sequential": (3, 0, 0),
    "parallel": (4, 0, 0),
    "smart": (5, 0, 0),
    "risk-aware": (3, 0, 0),
    "invalid": (1, 1, 0),
    "exposure": (2, 1, 0),
    "oversize": (0, MAX_BATCH_SIZE + 1, 0),
    "stale": (1, 1, 0),
    "halted": (0, 2, 0),
    "resumed": (1, 0, 0),
}
"""(placed, rejected, failed) per batch: what the session is meant to show."""


def check_outcomes(watch: OutputWatch) -> None:
    for batch_id, expected in EXPECTED_COUNTS.items():
        completed = watch.completed(batch_id)
        assert completed is not None
        seen = (completed.placed, completed.rejected, completed.failed)
        if seen != expected:
            raise RuntimeError(f"batch {batch_id!r}: (placed, rejected, failed) {seen}")
        for result in completed.results:
            if result.outcome is OrderOutcome.PLACED and not result.txid:
                raise RuntimeError(f"batch {batch_id!r}: order {result.index} has no txid")
    if not any(isinstance(e, BatchRejected) for e in watch.events):
        raise RuntimeError("the oversize batch was not rejected whole")


async def record(path: Path, nats_url: str) -> None:
    subjects = Subjects(SUBJECT_ROOT)
    client = await nats.connect(nats_url)
    watch = OutputWatch()
    try:
        async with running_sim(sim_options()) as sim:
            prepare_sim(sim)
            config = router_config(sim.rest_url, sim.ws_url, nats_url)
            actor = BatchRouterActor(config=config, credentials=sim_credentials())
            async with (
                ActorRunner(actor, config),
                Recorder(
                    client, path, input_subjects(subjects) + output_subjects(subjects)
                ) as recorder,
            ):
                for subject in output_subjects(subjects):
                    await client.subscribe(subject, cb=watch.on_message)
                await client.flush()
                script = session_script(subjects)
                for subject, event in script:
                    await publish_step(client, actor, watch, subject, event)
                writer = recorder.writer
                assert writer is not None
                expected = len(script) + len(watch.events)
                await eventually(lambda: writer.count >= expected)
        check_outcomes(watch)
    finally:
        await client.drain()


def _describe(event: AnyMessage) -> str | None:
    if not isinstance(event, BatchCompleted):
        return None
    return (
        f"{event.batch_id} {event.strategy}: placed={event.placed}"
        f" rejected={event.rejected} failed={event.failed}"
        f" txids={[r.txid for r in event.results if r.txid]}"
    )


def main() -> None:
    run_recording(record, LOG_PATH, _describe)


if __name__ == "__main__":
    main()
