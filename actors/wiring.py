"""Who publishes and who subscribes what: the one table the generated NATS authorization config
(``galfriday nats-config``) and the AsyncAPI document (``galfriday schema --asyncapi``) are
built from.

Subscriptions are not repeated here: they are each actor's own ``subscriptions()``. What an actor
publishes is declared below, next to the KV buckets it reads and writes; a test checks every
subject an actor's code publishes on appears here (see tests/unit/test_wiring.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from bus.actor import Actor, Subscription
from bus.jetstream import (
    BATCHES_BUCKET,
    BREAKER_SNAPSHOTS_BUCKET,
    BREAKERS_BUCKET,
    CLIENT_IDS_BUCKET,
    CONTROL_BUCKET,
    EXCHANGE_STATUS_BUCKET,
    LEASES_BUCKET,
)
from bus.subjects import Subjects
from schemas import (
    BatchCompleted,
    BatchRejected,
    CircuitBreakerStateChanged,
    ErrorStatistics,
    EventDeadLettered,
    ExchangeStatusChanged,
    ExchangeStatusQuery,
    ExchangeStatusReply,
    GalFridayConfig,
    KrakenCallFailed,
    KrakenCallSucceeded,
    MarketSessionChanged,
    Message,
    OrderBatchRequested,
    OrderFailed,
    OrderPlaced,
    OrderRejected,
    PriceQuery,
    PriceQueryReply,
    PriceRecovered,
    PriceStale,
    PriceUpdated,
    RetryVerdict,
    TradingHalted,
    TradingResumed,
    VerdictRequest,
)
from schemas.events import BookUpdated, KillSwitchAcknowledged, VolatilityUpdated

__all__ = ["CLI_USER", "Participant", "Publication", "participants"]

CLI_USER = "galfriday-cli"


@dataclass(frozen=True)
class Publication:
    subject: str
    carries: tuple[type[Message], ...]
    kind: Literal["event", "request", "reply"] = "event"
    """``reply`` answers a request on ``subject`` (sent to the requester's inbox)."""


@dataclass(frozen=True)
class Participant:
    """One NATS user: an actor, or the operator's command line."""

    name: str
    publishes: tuple[Publication, ...]
    subscribes: tuple[Subscription, ...]
    kv_writes: tuple[str, ...] = ()
    kv_reads: tuple[str, ...] = ()
    service: bool = True
    """Runs a NATS micro service (``$SRV.*`` discovery and ``<root>.svc.<name>.*``)."""
    reads: tuple[str, ...] = ()
    """Extra subscribe-only subject patterns (e.g. the CLI's ``tail``), not typed."""
    requests: tuple[str, ...] = ()
    """Extra request-only subject patterns without a payload type (e.g. health queries)."""


def _calls(subjects: Subjects) -> Publication:
    return Publication(subjects.kraken_calls_all(), (KrakenCallSucceeded, KrakenCallFailed))


def _dlq(subjects: Subjects, actor: str) -> Publication:
    return Publication(subjects.dlq(actor), (EventDeadLettered,))


def actors(config: GalFridayConfig) -> tuple[Actor, ...]:
    """An instance of each actor, built only to ask what it subscribes to (nothing is started)."""
    from actors.batch_router.shell import BatchRouterActor
    from actors.error_classifier.shell import ErrorClassifierActor
    from actors.market_data.shell import MarketDataActor

    return (
        MarketDataActor(),
        ErrorClassifierActor(config=config, rng=random.Random(0)),
        BatchRouterActor(config=config),
    )


def _publications(name: str, subjects: Subjects) -> tuple[Publication, ...]:
    if name == "market-data":
        return (
            Publication(subjects.price_all(), (PriceUpdated,)),
            Publication(subjects.book_all(), (BookUpdated,)),
            Publication(subjects.stale_all(), (PriceStale, PriceRecovered)),
            Publication(subjects.volatility_all(), (VolatilityUpdated,)),
            Publication(subjects.session(), (MarketSessionChanged,)),
            Publication(subjects.exchange_status(), (ExchangeStatusChanged,)),
            _calls(subjects),
            _dlq(subjects, name),
            Publication(subjects.price_query(), (PriceQueryReply,), "reply"),
            Publication(subjects.status_query(), (ExchangeStatusReply,), "reply"),
        )
    if name == "error-classifier":
        return (
            Publication(subjects.breakers_all(), (CircuitBreakerStateChanged,)),
            Publication(subjects.error_statistics(), (ErrorStatistics,)),
            _calls(subjects),
            _dlq(subjects, name),
            Publication(subjects.verdict(), (RetryVerdict,), "reply"),
        )
    if name == "batch-router":
        return (
            Publication(subjects.batch_completed(), (BatchCompleted,)),
            Publication(subjects.batch_rejected(), (BatchRejected,)),
            Publication(subjects.order_events_all(), (OrderPlaced, OrderRejected, OrderFailed)),
            Publication(subjects.kill_switch_ack(), (KillSwitchAcknowledged,)),
            _calls(subjects),
            _dlq(subjects, name),
            Publication(subjects.verdict(), (VerdictRequest,), "request"),
            Publication(subjects.price_query(), (PriceQuery,), "request"),  # warm-up
        )
    raise KeyError(name)


_KV: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # name: (writes, reads)
    "market-data": ((EXCHANGE_STATUS_BUCKET,), (BREAKERS_BUCKET,)),
    "error-classifier": (
        (BREAKERS_BUCKET, BREAKER_SNAPSHOTS_BUCKET, LEASES_BUCKET),
        (EXCHANGE_STATUS_BUCKET,),
    ),
    # The router writes its batch claims, the client ids it executed and its API-key lease
    # (in the control bucket).
    "batch-router": ((BATCHES_BUCKET, CLIENT_IDS_BUCKET, CONTROL_BUCKET), (BREAKERS_BUCKET,)),
}


def participants(
    subjects: Subjects, config: GalFridayConfig | None = None
) -> tuple[Participant, ...]:
    """Every NATS user of a deployment: the three actors and the command line."""
    config = config or GalFridayConfig()
    found: list[Participant] = []
    for actor in actors(config):
        writes, reads = _KV[actor.name]
        found.append(
            Participant(
                name=actor.name,
                publishes=_publications(actor.name, subjects),
                subscribes=tuple(actor.subscriptions(subjects)),
                kv_writes=writes,
                kv_reads=reads,
            )
        )
    found.append(_cli(subjects))
    return tuple(found)


def _cli(subjects: Subjects) -> Participant:
    """``galfriday submit``, ``halt``/``resume``, ``health``/``stats``, ``tail``/``record``, and
    price/status queries (for scripts and strategies that run as this user).

    ``replay`` publishes arbitrary recorded subjects: run it with an admin user, not this one.
    """
    return Participant(
        name=CLI_USER,
        publishes=(
            Publication(subjects.batch_requested(), (OrderBatchRequested,)),
            Publication(subjects.kill_switch(), (TradingHalted, TradingResumed)),
            Publication(subjects.price_query(), (PriceQuery,), "request"),
            Publication(subjects.status_query(), (ExchangeStatusQuery,), "request"),
        ),
        subscribes=(
            Subscription(subjects.batch_completed(), (BatchCompleted,)),
            Subscription(subjects.kill_switch_ack(), (KillSwitchAcknowledged,)),
        ),
        kv_writes=(CONTROL_BUCKET,),
        service=False,
        reads=(subjects.everything(),),
        requests=(subjects.service_endpoint("*", "*"), "$SRV.>"),
    )
