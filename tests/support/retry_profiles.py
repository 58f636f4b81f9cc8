"""The two fault profiles of issue 14 item 1, driven through the error classifier's pure core
with an injected clock: orders placed one after another, each retried while the verdict says
so. Shared by the retry-budget tests and ``bench.retries``."""

from __future__ import annotations

import random
from dataclasses import dataclass

from actors.error_classifier import KrakenErrorClassifier
from bus.clock import ManualClock
from schemas.config import BreakerConfig, GalFridayConfig
from schemas.events import KrakenCallFailed, KrakenCallSucceeded, OperationKind

__all__ = ["ORDERS", "START_NS", "Tally", "engine", "run_orders"]

START_NS = 1_700_000_000 * 1_000_000_000
CALL_SPACING_NS = 20_000_000
"""An order every 20 ms: 3 000 calls per 60 s window."""
ORDERS = 1_000
SCOPE = "kraken.trading"
TRANSIENT = ("EService:Unavailable", "EService:Busy")


@dataclass
class Tally:
    orders_failed: int = 0
    calls: int = 0
    retries: int = 0
    parked: int = 0


def engine(clock: ManualClock, breakers: BreakerConfig | None = None) -> KrakenErrorClassifier:
    config = GalFridayConfig() if breakers is None else GalFridayConfig(breakers=breakers)
    return KrakenErrorClassifier(config, clock=clock, rng=random.Random(3))


def _call(engine: KrakenErrorClassifier, clock: ManualClock, error: str | None) -> None:
    now = clock.now_ns
    if error is None:
        engine.on_call_succeeded(
            KrakenCallSucceeded(
                ts_event=now,
                ts_init=now,
                scope=SCOPE,
                endpoint="AddOrder",
                operation=OperationKind.PLACE,
                latency_ns=1,
            )
        )
    else:
        engine.on_call_failed(_failure(now, error))


def _failure(now: int, error: str) -> KrakenCallFailed:
    return KrakenCallFailed(
        ts_event=now,
        ts_init=now,
        scope=SCOPE,
        endpoint="AddOrder",
        operation=OperationKind.PLACE,
        latency_ns=1,
        errors=(error,),
    )


def run_orders(
    engine: KrakenErrorClassifier,
    clock: ManualClock,
    fails: random.Random | None,
    *,
    retries_on: bool,
    orders: int = ORDERS,
) -> Tally:
    """Each order: call; on failure ask for a verdict and call again while it says retry.
    A verdict refused because a breaker is open parks the order until the breaker admits a
    call again (what the router does up to the batch deadline), without using up a retry.
    ``fails=None`` is a full outage (every call fails), where parking ends the order."""
    tally = Tally()
    for _ in range(orders):
        attempt = 1
        while True:
            clock.now_ns += CALL_SPACING_NS
            tally.calls += 1
            error = None
            if fails is None or fails.random() < 0.2:
                error = TRANSIENT[tally.calls % 2]
            _call(engine, clock, error)
            if error is None:
                break
            failure = _failure(clock.now_ns, error)
            verdict = engine.should_retry(failure, OperationKind.PLACE, attempt)
            if retries_on and not verdict.retry and verdict.reason.startswith("circuit"):
                if fails is None:
                    tally.orders_failed += 1
                    break
                tally.parked += 1
                clock.now_ns = max(clock.now_ns, verdict.retry_not_before_ns or 0)
                continue
            if not (retries_on and verdict.retry):
                tally.orders_failed += 1
                break
            tally.retries += 1
            attempt += 1
    return tally
