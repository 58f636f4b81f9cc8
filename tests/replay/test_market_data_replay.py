"""Replay ``market_data_session.gfl`` through the real ``MarketDataActor`` on a ``MemoryBus`` and
check it derives the events the live actor published.

Inputs (:func:`replay_inputs`). The live actor's only venue input was the WebSocket (its
``kraken.public`` breaker was held open, so no REST call was made), and the bus shows every WS
input that mattered: each accepted ticker update as the ``PriceUpdated`` it became (pair,
prices, sizes, exchange time, ``ts_init`` = the actor's receive time), each status report that
changed the exchange status as an ``ExchangeStatusChanged`` with ``source="ws"`` (a report
that changed nothing has no effect on any event: no maintenance windows are configured). These
are turned back into ``TickerUpdate``/``StatusUpdate`` and handed to the actor's public
``handle_ws_update`` in time order, the ``ManualClock`` at the live receive time first. Ticker
fields the mapping ignores (``low``, ``high``, ``change``, ``change_pct``) are not on the bus
and are filled with placeholders.

Timer (:class:`SteppedTimer`). The actor's own timer loop runs its real ``_tick`` body, but
its ``sleep`` is stepped by the replay: one tick at the session start, then one every
``TIMER_TICK_S`` of recorded time, each before the inputs received at or after it. The live
actor's start is not on the bus; its first tick stamped the first ``MarketSessionChanged``
and ``ExchangeStatusChanged``, the earliest times in the log, so the replay starts there. Both
breakers are put open in the replay's KV so the actor never opens a socket or calls REST
(breaker states gate only Kraken I/O, no derived event).

Comparison (:func:`mismatches`): per event type, both lists sorted by :data:`RULES`' key, then
pairwise. Every field is compared exactly except:

- floats of ``VolatilityUpdated`` (realized, EWMA, Parkinson): within ``REL_TOL`` relative;
- ``VolatilityUpdated.ts_init``: when the bar was closed — live by a quote arriving or by a
  timer tick, whichever came first, in replay by the replay's tick; ``ts_event`` (= the bar's
  end) and the bar's content are compared exactly;
- times set by a timer tick (``PriceStale`` ``ts_event``/``ts_init``, a mid-session
  ``MarketSessionChanged``): within one tick plus ``SKEW_NS``, since the live and the replayed
  timer beat at the same period but not in phase;
- times the core reads from its clock just after the shell stamped ``ts_init`` (staleness
  bookkeeping: ``PriceStale.last_update_ns``, ``PriceRecovered`` times and ``stale_for_ns``):
  within ``SKEW_NS``: live the two reads are microseconds apart, in replay equal.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pytest

from actors.market_data.shell import MarketDataActor
from bus import LogRecord, ManualClock, Subjects, encode, read_event_log
from bus.codec import MESSAGES
from bus.jetstream import BREAKERS_BUCKET
from bus.testing import MemoryBus, subject_matches
from kraken.sim.wire import rfc3339_micros
from kraken.ws import StatusUpdate, TickerUpdate, WsUpdate
from schemas import GalFridayConfig
from schemas.base import Event
from schemas.events import (
    ExchangeStatus,
    ExchangeStatusChanged,
    MarketSessionChanged,
    PriceRecovered,
    PriceSource,
    PriceStale,
    PriceUpdated,
    VolatilityUpdated,
)
from tests.replay.record_market_data_session import (
    LOG_PATH,
    PAIRS,
    PUBLIC_BREAKER_SCOPE,
    SILENCED_PAIR,
    SUBJECT_ROOT,
    TIMER_TICK_S,
    breaker_held_open,
    market_data_config,
    new_actor,
    recorded_subjects,
)

_NS_PER_S = 1_000_000_000
TICK_NS = round(TIMER_TICK_S * _NS_PER_S)
SKEW_NS = 100_000_000
"""Scheduling noise on a live actor (two clock reads in one handler, a late timer wake-up):
microseconds in the recordings so far, 100 ms leaves room for a loaded machine and stays well
under the 0.5 s staleness threshold and the 1 s bars the exact checks pin."""
TIMER_LAG_NS = TICK_NS + SKEW_NS
REL_TOL = 1e-12
STEP_TIMEOUT_S = 10.0
"""Generous bound on one replayed tick, so a hung actor fails the test instead of stalling."""
WS_BREAKER_SCOPE = "kraken.ws"
_OUTPUTS = recorded_subjects(Subjects(SUBJECT_ROOT))


# -- loading and inputs ---------------------------------------------------------------------------


def load_events(path: Path = LOG_PATH) -> list[Event]:
    records: list[LogRecord] = list(read_event_log(path))
    events = [MESSAGES.decode(r.payload) for r in records]
    return [e for e in events if isinstance(e, Event)]


def ticker_update(quote: PriceUpdated) -> TickerUpdate:
    """The WS ticker update the actor turned into ``quote``."""
    exchange_ns = quote.exchange_ts_ns
    return TickerUpdate(
        symbol=quote.pair,
        bid=quote.bid,
        bid_qty=quote.bid_size,
        ask=quote.ask,
        ask_qty=quote.ask_size,
        last=quote.last,
        volume=quote.volume_24h,
        vwap=quote.vwap_24h,
        low=quote.bid,
        high=quote.ask,
        change=quote.last - quote.last,
        change_pct=quote.last - quote.last,
        timestamp=None if exchange_ns is None else rfc3339_micros(exchange_ns),
        received_ns=quote.ts_event,
    )


def replay_inputs(events: Sequence[Event]) -> list[tuple[int, WsUpdate]]:
    """The WS updates behind the recorded events, with their live receive time, in time order."""
    inputs: list[tuple[int, WsUpdate]] = []
    for event in events:
        match event:
            case PriceUpdated(source=PriceSource.WS):
                inputs.append((event.ts_init, ticker_update(event)))
            case ExchangeStatusChanged(source="ws"):
                inputs.append((event.ts_event, StatusUpdate(system=event.status.value)))
            case ExchangeStatusChanged(source="schedule"):
                pass  # made by the timer, not an input
            case PriceUpdated() | ExchangeStatusChanged():
                raise ValueError(f"not a WebSocket input: {event!r}")
            case _:
                pass
    return sorted(inputs, key=lambda item: item[0])


def session_start_ns(events: Sequence[Event]) -> int:
    """The live actor's first timer tick: the earliest ``ts_init`` (the actor's clock; a
    quote's ``ts_event`` is the exchange's) on any recorded event."""
    return min(e.ts_init for e in events)


# -- the replay -----------------------------------------------------------------------------------


@dataclass
class SteppedTimer:
    """The actor's ``sleep``: its timer loop parks after each tick until :meth:`tick` lets it
    run one more; the other loops (REST and status polls, which do nothing here) park for good."""

    tick_interval_s: float
    _release: asyncio.Future[None] | None = None
    _parked: asyncio.Event = field(default_factory=asyncio.Event)

    async def sleep(self, seconds: float) -> None:
        if seconds != self.tick_interval_s:
            await asyncio.Event().wait()
        release = asyncio.get_running_loop().create_future()
        self._release = release
        self._parked.set()
        await release

    async def parked(self) -> None:
        async with asyncio.timeout(STEP_TIMEOUT_S):
            await self._parked.wait()

    async def tick(self) -> None:
        await self.parked()
        self._parked.clear()
        assert self._release is not None
        self._release.set_result(None)
        await self.parked()


async def replay_session(
    events: Sequence[Event], config: GalFridayConfig | None = None
) -> list[Event]:
    """Feed the recorded WS inputs to a fresh actor; return the events it published."""
    config = config or market_data_config()
    start_ns = session_start_ns(events)
    end_ns = max(e.ts_init for e in events)
    clock = ManualClock(start_ns)
    bus = MemoryBus(config=config, clock=clock)
    breakers = bus.bucket(BREAKERS_BUCKET)
    for scope in (PUBLIC_BREAKER_SCOPE, WS_BREAKER_SCOPE):
        await breakers.put(scope, encode(breaker_held_open(scope)))
    timer = SteppedTimer(TIMER_TICK_S)
    actor: MarketDataActor = new_actor(sleep=timer.sleep)
    await bus.attach(actor)
    try:
        await timer.parked()
        next_tick_ns = start_ns + TICK_NS

        async def tick_until(until_ns: int) -> None:
            nonlocal next_tick_ns
            while next_tick_ns <= until_ns:
                clock.set(next_tick_ns)
                await timer.tick()
                next_tick_ns += TICK_NS

        for at_ns, update in replay_inputs(events):
            await tick_until(at_ns)
            clock.set(at_ns)
            await actor.handle_ws_update(update)
        await tick_until(end_ns)
    finally:
        await actor.stop()
    published = [p for p in bus.published if any(subject_matches(s, p.subject) for s in _OUTPUTS)]
    return [p.message for p in published if isinstance(p.message, Event)]


# -- comparison -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """How one event type is compared; fields not named here must be equal."""

    order: tuple[str, ...]
    near: dict[str, int] = field(default_factory=dict)
    """Field → allowed absolute difference in ns."""
    floats: tuple[str, ...] = ()
    """Compared within ``REL_TOL`` relative."""
    excluded: tuple[str, ...] = ()


RULES: dict[type[Event], Rule] = {
    PriceUpdated: Rule(order=("pair", "ts_init")),
    VolatilityUpdated: Rule(
        order=("pair", "timeframe", "bar_close_ns"),
        floats=("realized", "ewma", "parkinson"),
        excluded=("ts_init",),
    ),
    PriceStale: Rule(
        order=("pair", "ts_event"),
        near={"ts_event": TIMER_LAG_NS, "ts_init": TIMER_LAG_NS, "last_update_ns": SKEW_NS},
    ),
    PriceRecovered: Rule(
        order=("pair", "ts_event"),
        near={"ts_event": SKEW_NS, "ts_init": SKEW_NS, "stale_for_ns": SKEW_NS},
    ),
    ExchangeStatusChanged: Rule(order=("ts_event",)),
    MarketSessionChanged: Rule(
        order=("ts_event",), near={"ts_event": TIMER_LAG_NS, "ts_init": TIMER_LAG_NS}
    ),
}


def _tag(event_type: type[Event]) -> str:
    return str(event_type.__struct_config__.tag)


def _floats_differ(recorded: object, replayed: object) -> bool:
    if recorded is None or replayed is None:
        return recorded is not replayed
    assert isinstance(recorded, float)
    assert isinstance(replayed, float)
    return not math.isclose(recorded, replayed, rel_tol=REL_TOL, abs_tol=0.0)


def _near_differ(recorded: object, replayed: object, tolerance_ns: int) -> bool:
    if recorded is None or replayed is None:
        return recorded is not replayed
    assert isinstance(recorded, int)
    assert isinstance(replayed, int)
    return abs(recorded - replayed) > tolerance_ns


def _field_mismatches(rule: Rule, recorded: Event, replayed: Event) -> list[str]:
    found: list[str] = []
    for name in recorded.__struct_fields__:
        if name in rule.excluded:
            continue
        live, again = getattr(recorded, name), getattr(replayed, name)
        if name in rule.floats:
            differs = _floats_differ(live, again)
        elif name in rule.near:
            differs = _near_differ(live, again, rule.near[name])
        else:
            differs = live != again
        if differs:
            found.append(f"{name}: recorded {live!r}, replayed {again!r}")
    return found


def _by_type(events: Sequence[Event]) -> dict[type[Event], list[Event]]:
    grouped: dict[type[Event], list[Event]] = defaultdict(list)
    for event in events:
        grouped[type(event)].append(event)
    return grouped


def mismatches(recorded: Sequence[Event], replayed: Sequence[Event]) -> list[str]:
    """Every difference between the live and the replayed events; empty when they agree."""
    live, again = _by_type(recorded), _by_type(replayed)
    found: list[str] = []
    for event_type in sorted(live.keys() | again.keys(), key=_tag):
        rule = RULES.get(event_type)
        tag = _tag(event_type)
        if rule is None:
            found.append(f"{tag}: no comparison rule")
            continue

        def key(event: Event, rule: Rule = rule) -> tuple[object, ...]:
            return tuple(getattr(event, name) for name in rule.order)

        expected = sorted(live.get(event_type, []), key=key)
        actual = sorted(again.get(event_type, []), key=key)
        if len(expected) != len(actual):
            found.append(f"{tag}: {len(expected)} recorded, {len(actual)} replayed")
        for index, (one, other) in enumerate(zip(expected, actual, strict=False)):
            found += [f"{tag} #{index} {line}" for line in _field_mismatches(rule, one, other)]
    return found


def with_market_data(**changes: object) -> GalFridayConfig:
    config = market_data_config()
    market_data = config.market_data
    volatility_keys = {"ewma_lambda", "window_bars", "timeframes"}
    volatility = msgspec.structs.replace(
        market_data.volatility, **{k: v for k, v in changes.items() if k in volatility_keys}
    )
    market_data = msgspec.structs.replace(
        market_data,
        volatility=volatility,
        **{k: v for k, v in changes.items() if k not in volatility_keys},
    )
    return msgspec.structs.replace(config, market_data=market_data)


# -- tests ----------------------------------------------------------------------------------------


def test_recorded_log_holds_quotes_staleness_volatility_and_a_status_change() -> None:
    """The log is not vacuous: both pairs quoted over WS, one stale episode, volatility
    readings on both timeframes, the maintenance round trip and the session announcement."""
    events = load_events()
    quotes = [e for e in events if isinstance(e, PriceUpdated)]
    assert {q.pair for q in quotes} == set(PAIRS)
    assert all(q.source is PriceSource.WS and q.exchange_ts_ns is not None for q in quotes)
    assert [e.pair for e in events if isinstance(e, PriceStale)] == [SILENCED_PAIR]
    assert [e.pair for e in events if isinstance(e, PriceRecovered)] == [SILENCED_PAIR]
    readings = [e for e in events if isinstance(e, VolatilityUpdated) and e.ewma is not None]
    timeframes = market_data_config().market_data.volatility.timeframes
    assert {(e.pair, e.timeframe) for e in readings} == {(p, t) for p in PAIRS for t in timeframes}
    statuses = [(e.status, e.source) for e in events if isinstance(e, ExchangeStatusChanged)]
    assert statuses == [
        (ExchangeStatus.ONLINE, "schedule"),
        (ExchangeStatus.MAINTENANCE, "ws"),
        (ExchangeStatus.ONLINE, "ws"),
    ]
    assert len([e for e in events if isinstance(e, MarketSessionChanged)]) == 1


async def test_replay_when_fed_the_recorded_inputs_then_events_match_the_live_actor() -> None:
    events = load_events()

    replayed = await replay_session(events)

    assert mismatches(events, replayed) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"ewma_lambda": 0.8}, "md.volatility.updated #"),
        ({"window_bars": 3}, "md.volatility.updated #"),
        ({"staleness_threshold_seconds": 0.3}, "md.price.stale #0 threshold_ns"),
        ({"staleness_threshold_seconds": 5.0}, "md.price.stale: 1 recorded, 0 replayed"),
    ],
    ids=["ewma-lambda", "window-bars", "staleness-lower", "staleness-higher"],
)
async def test_replay_when_market_data_config_differs_then_events_mismatch(
    changes: dict[str, object], expected: str
) -> None:
    events = load_events()

    replayed = await replay_session(events, with_market_data(**changes))

    found = mismatches(events, replayed)
    assert any(line.startswith(expected) for line in found), found


async def test_replay_when_ewma_lambda_differs_then_only_ewma_fields_mismatch() -> None:
    """EWMA's decay touches the EWMA readings and nothing else in the session."""
    events = load_events()

    replayed = await replay_session(events, with_market_data(ewma_lambda=0.8))

    found = mismatches(events, replayed)
    assert found
    assert all(line.startswith("md.volatility.updated #") and " ewma: " in line for line in found)


def _first(events: Sequence[Event], predicate: Callable[[Event], bool]) -> int:
    return next(i for i, e in enumerate(events) if predicate(e))


def test_mismatches_when_a_volatility_float_moves_past_the_tolerance_then_reported() -> None:
    events = load_events()
    index = _first(events, lambda e: isinstance(e, VolatilityUpdated) and e.ewma is not None)
    reading = events[index]
    assert isinstance(reading, VolatilityUpdated)
    ewma = reading.ewma
    assert ewma is not None

    def with_ewma(factor: float) -> list[Event]:
        changed = list(events)
        changed[index] = msgspec.structs.replace(reading, ewma=ewma * factor)
        return changed

    assert mismatches(events, with_ewma(1 + 1e-14)) == []
    found = mismatches(events, with_ewma(1 + 1e-9))
    assert len(found) == 1
    assert " ewma: " in found[0]


def test_mismatches_when_only_excluded_or_tolerated_times_differ_then_nothing_is_reported() -> None:
    """A bar closed at another moment, a stale pair noticed one tick later: not a difference."""
    events = load_events()

    def shift(event: Event) -> Event:
        if isinstance(event, VolatilityUpdated):
            return msgspec.structs.replace(event, ts_init=event.ts_init + 10 * _NS_PER_S)
        if isinstance(event, PriceStale):
            return msgspec.structs.replace(
                event, ts_event=event.ts_event + TICK_NS, ts_init=event.ts_init + TICK_NS
            )
        return event

    shifted = [shift(event) for event in events]

    assert mismatches(events, shifted) == []


def test_mismatches_when_a_stale_pair_is_noticed_too_late_then_reported() -> None:
    events = load_events()
    index = _first(events, lambda e: isinstance(e, PriceStale))
    stale = events[index]
    late = list(events)
    late[index] = msgspec.structs.replace(stale, ts_event=stale.ts_event + 2 * TIMER_LAG_NS)

    found = mismatches(events, late)

    assert len(found) == 1
    assert found[0].startswith("md.price.stale #0 ts_event: ")
