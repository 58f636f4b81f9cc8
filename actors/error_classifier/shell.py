"""The error-classifier actor: binds :class:`KrakenErrorClassifier` to the bus.

Active/standby: every instance consumes every call report and status change through its own
consumer (so a standby's windows are as warm as the active's), but only the holder of the
``leases`` KV key (see :mod:`actors.error_classifier.lease`) publishes transitions and
statistics, probes ``kraken.public`` and answers verdicts. Two instances behave like one.

- Kraken call events (JetStream, in order) feed the breakers and the statistics; a call id
  seen before (a redelivery) is not counted again.
- Exchange-status changes (JetStream, in order) hold or release breakers.
- Verdict requests (core request/reply) reach every instance; only the active one answers.
- Every breaker transition is published durably on ``breaker.<scope>`` and stored in the KV
  bucket ``breakers`` (see :mod:`actors.error_classifier.persistence`); the state is restored
  from there on start.
- A timer ticks the breakers (OPEN → HALF_OPEN) and publishes ``ErrorStatistics``.

Transitions go through an outbox flushed under one lock, so they leave in the order the core
made them; a failed publish stays in the outbox and the timer retries it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from nats.js.errors import KeyNotFoundError

from actors.error_classifier.categories import SCOPE_PUBLIC
from actors.error_classifier.circuit_breaker import BreakerSnapshot
from actors.error_classifier.classifier import KrakenErrorClassifier
from actors.error_classifier.lease import Lease
from actors.error_classifier.metrics import record_breaker_transition, record_call
from actors.error_classifier.persistence import BreakerStore
from actors.error_classifier.seen_calls import SeenCalls
from bus.actor import Actor, Delivery, JetStreamConsumer, Subscription
from bus.codec import EVENTS, MESSAGES
from bus.jetstream import (
    BREAKER_SNAPSHOTS_BUCKET,
    BREAKERS_BUCKET,
    EXCHANGE_STATUS_BUCKET,
    LEASES_BUCKET,
)
from bus.ports import BusContext
from bus.subjects import Subjects
from kraken.rest import KrakenRestClient
from schemas import GalFridayConfig
from schemas.events import (
    BreakerState,
    CircuitBreakerStateChanged,
    ExchangeStatusChanged,
    KrakenCallFailed,
    KrakenCallSucceeded,
)
from schemas.queries import RetryVerdict, VerdictRequest

__all__ = ["ErrorClassifierActor", "build_actor"]

_LOGGER = logging.getLogger(__name__)
_NS_PER_S = 1_000_000_000
# nats-py raises KeyNotFoundError; ``bus.testing.MemoryKeyValue`` raises KeyError.
_ABSENT = (KeyNotFoundError, KeyError)
_CONSUMER_LINGER_S = 120.0
"""How long the server keeps a gone instance's own consumers."""


@dataclass
class ErrorClassifierActor(Actor):
    name = "error-classifier"
    description = "Kraken error classification, retry verdicts and circuit breakers"

    config: GalFridayConfig = field(default_factory=GalFridayConfig)
    rng: random.Random = field(default_factory=random.Random)
    tick_interval_s: float = 0.25
    status_refresh_s: float = 1.0
    """How often the current exchange status is re-read from KV."""
    probe_public: bool = True
    """Probe ``kraken.public`` (SystemStatus on ``kraken.rest_url``) while it is half-open."""
    lease_clock: Callable[[], int] = time.monotonic_ns
    """Measures the lease's durations (only differences of its own readings matter)."""
    _core: KrakenErrorClassifier | None = field(default=None, init=False, repr=False)
    _store: BreakerStore | None = field(default=None, init=False, repr=False)
    _outbox: list[CircuitBreakerStateChanged] = field(default_factory=list, init=False)
    _flush_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)
    _timer: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _published: int = field(default=0, init=False)
    _publish_failures: int = field(default=0, init=False)
    _kraken: KrakenRestClient | None = field(default=None, init=False, repr=False)
    _probe: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _probe_reports: list[KrakenCallSucceeded | KrakenCallFailed] = field(
        default_factory=list, init=False, repr=False
    )
    _probes_sent: int = field(default=0, init=False)
    _instance: str = field(default_factory=lambda: uuid.uuid4().hex[:12], init=False)
    _lease: Lease | None = field(default=None, init=False, repr=False)
    _lease_task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _seen: SeenCalls = field(default_factory=SeenCalls, init=False, repr=False)
    _transitions_dropped: int = field(default=0, init=False)

    @property
    def core(self) -> KrakenErrorClassifier:
        if self._core is None:
            raise RuntimeError("error-classifier is not running")
        return self._core

    def subscriptions(self, subjects: Subjects) -> Sequence[Subscription]:
        # The verdict endpoint comes last: once it answers, the consumers exist too.
        return (
            Subscription(
                subjects.kraken_calls_all(),
                (KrakenCallSucceeded, KrakenCallFailed),
                # One consumer per instance: a shared one would split the calls between them.
                consumer=JetStreamConsumer(
                    f"calls_{self._instance}",
                    max_deliver=3,
                    backoff_s=(0.2, 1.0),
                    deliver="new",
                    inactive_threshold_s=_CONSUMER_LINGER_S,
                ),
            ),
            Subscription(
                subjects.exchange_status(),
                (ExchangeStatusChanged,),
                consumer=JetStreamConsumer(
                    # The last status first: a first start learns an ongoing maintenance.
                    f"status_{self._instance}",
                    max_deliver=3,
                    backoff_s=(0.2, 1.0),
                    deliver="last_per_subject",
                    inactive_threshold_s=_CONSUMER_LINGER_S,
                ),
            ),
            Subscription(
                # No queue group: every instance gets each request, only the active answers.
                subjects.verdict(),
                (VerdictRequest,),
                concurrency=self.config.nats.handler_concurrency,
                replies=True,
            ),
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, context: BusContext) -> None:
        await super().start(context)
        self._core = KrakenErrorClassifier(self.config, clock=context.clock, rng=self.rng)
        self._store = BreakerStore(
            await context.key_value(BREAKERS_BUCKET),
            await context.key_value(BREAKER_SNAPSHOTS_BUCKET),
        )
        snapshots = await self._store.load_snapshots()
        self._core.restore(snapshots)
        if snapshots:
            _LOGGER.info(
                "breakers.restored %s",
                " ".join(f"{s.scope}={s.state}" for s in self._core.snapshot()),
            )
        self._lease = Lease(
            await context.key_value(LEASES_BUCKET),
            key=self.name,
            holder=self._instance,
            ttl_s=self.config.errors.lease_ttl_s,
            clock=self.lease_clock,
        )
        await self._lease.step()
        _LOGGER.info("lease.%s instance=%s", self.role, self._instance)
        await self._emit(self._core.tick(context.clock()))
        await self.refresh_exchange_status()
        self._kraken = KrakenRestClient(
            self.config.kraken,
            credentials=None,
            clock=context.clock,
            on_call=self._probe_reports.append,
        )
        await self._kraken.open()
        self._timer = asyncio.create_task(self._run_timer(), name="error-classifier-timer")
        self._lease_task = asyncio.create_task(self._run_lease(), name="error-classifier-lease")

    async def stop(self) -> None:
        if self._lease_task is not None:
            self._lease_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lease_task
            self._lease_task = None
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
            self._probe = None
        if self._kraken is not None:
            await self._kraken.close()
            self._kraken = None
        if self._core is not None:
            await self._flush()
        if self._lease is not None:
            await self._lease.release()

    # -- handlers --------------------------------------------------------------------------

    async def on_kraken_call_succeeded(
        self, event: KrakenCallSucceeded, delivery: Delivery
    ) -> None:
        if not self._seen.first_time(event.call_id):
            return
        record_call(event)
        await self._emit(self.core.on_call_succeeded(event))

    async def on_kraken_call_failed(self, event: KrakenCallFailed, delivery: Delivery) -> None:
        if not self._seen.first_time(event.call_id):
            return
        record_call(event)
        await self._emit(self.core.on_call_failed(event))

    async def on_exchange_status_changed(
        self, event: ExchangeStatusChanged, delivery: Delivery
    ) -> None:
        await self._emit(self.core.on_exchange_status(event))

    async def refresh_exchange_status(self) -> None:
        """Read the venue's current status from KV (market-data keeps it there): a lost status
        event cannot hold a breaker open longer than one refresh."""
        try:
            store = await self.context.key_value(EXCHANGE_STATUS_BUCKET)
            entry = await store.get(self.config.market_data.default_exchange)
        except _ABSENT:
            return
        try:
            event = MESSAGES.decode(entry.value or b"")
        except (msgspec.DecodeError, msgspec.ValidationError):
            _LOGGER.warning("exchange_status.undecodable_kv_entry")
            return
        if isinstance(event, ExchangeStatusChanged):
            await self._emit(self.core.on_exchange_status(event))

    async def on_verdict_request(
        self, request: VerdictRequest, delivery: Delivery
    ) -> RetryVerdict | None:
        if not self.active:
            return None  # the active instance answers; a reply from here could disagree
        return self.core.verdict(request, self.context.clock())

    # -- active/standby ----------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self._lease is None or self._lease.active()

    @property
    def role(self) -> str:
        return "active" if self.active else "standby"

    async def _run_lease(self) -> None:
        lease = self._lease
        assert lease is not None
        while True:
            await asyncio.sleep(lease.renew_interval_s)
            try:
                await self.lease_step()
            except Exception:
                _LOGGER.exception("lease.step_failed")

    async def lease_step(self) -> None:
        """Renew or watch the lease (the lease task's step); take over when it was won."""
        lease = self._lease
        assert lease is not None
        was_active = self.active
        if await lease.step() and not was_active:
            await self.take_over()

    async def take_over(self) -> None:
        """Become the active instance: adopt the breaker state the previous one stored, and
        publish whatever this instance knows better (a transition it made while standby that
        the stored state does not show)."""
        store = self._store
        assert store is not None
        core = self.core
        own = {snapshot.scope: snapshot for snapshot in core.snapshot()}
        stored = {snapshot.scope: snapshot for snapshot in await store.load_snapshots()}
        adopt = [
            snapshot
            for scope, snapshot in stored.items()
            if scope not in own or _stored_wins(snapshot, own[scope])
        ]
        # Both CLOSED: this instance saw the same calls; keeping its windows keeps a
        # half-counted outage counted. Own state newer than the stored one (the previous
        # active died between publishing a transition and storing it): keep own.
        core.restore(adopt)
        _LOGGER.info(
            "lease.took_over instance=%s adopted=%s",
            self._instance,
            " ".join(f"{s.scope}={s.state}" for s in adopt) or "-",
        )
        for snapshot in core.snapshot():
            previous = await self._last_published_state(snapshot.scope)
            if previous is not snapshot.state:
                self._outbox.append(_republished(snapshot, previous, self.context.clock()))
        await self.tick_once(self.context.clock())

    async def _last_published_state(self, scope: str) -> BreakerState:
        """What the bus last saw for ``scope`` (the breakers stream), else what KV stored: the
        previous active may have died between publishing a transition and storing it."""
        context = self.context
        try:
            payload = await context.last_stored("breakers", context.subjects.breaker(scope))
        except Exception:
            payload = None
        if payload is not None:
            with contextlib.suppress(Exception):
                event = EVENTS.decode(payload)
                if isinstance(event, CircuitBreakerStateChanged):
                    return event.state
        store = self._store
        assert store is not None
        change = await store.load_change(scope)
        return BreakerState.CLOSED if change is None else change.state

    # -- introspection ---------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        if self._core is None:
            return {"breakers": {}}
        return {
            "breakers": {
                snapshot.scope: {
                    "state": str(snapshot.state),
                    "since_ns": snapshot.since_ns,
                    "retry_at_ns": snapshot.retry_at_ns,
                    "reason": snapshot.reason,
                    "open_count": snapshot.open_count,
                }
                for snapshot in self._core.snapshot()
            },
            "transitions_pending": len(self._outbox),
            "transitions_published": self._published,
            "transitions_dropped_as_standby": self._transitions_dropped,
            "publish_failures": self._publish_failures,
            "role": self.role,
            "instance": self._instance,
            "duplicate_calls_ignored": self._seen.duplicates,
        }

    def stats(self) -> dict[str, Any]:
        return {} if self._core is None else self._core.statistics_dict()

    # -- transitions -----------------------------------------------------------------------

    async def tick_once(self, now_ns: int) -> None:
        """Advance the breakers to ``now_ns`` and publish/store what changed (the timer's step)."""
        self._outbox.extend(self.core.tick(now_ns))
        await self._flush()

    async def _emit(self, changes: list[CircuitBreakerStateChanged]) -> None:
        if changes:
            self._outbox.extend(changes)
            await self._flush()

    async def _flush(self) -> None:
        """Publish and store pending transitions in order; stop at the first failure.
        A standby publishes nothing: the active instance makes the same transitions."""
        async with self._flush_lock:
            if not self.active:
                self._transitions_dropped += len(self._outbox)
                self._outbox.clear()
                return
            while self._outbox:
                change = self._outbox[0]
                try:
                    await self._publish(change)
                except Exception:
                    self._publish_failures += 1
                    _LOGGER.exception(
                        "breaker.publish_failed scope=%s state=%s", change.scope, change.state
                    )
                    return
                self._outbox.pop(0)
                self._published += 1
                record_breaker_transition(change)

    async def _publish(self, change: CircuitBreakerStateChanged) -> None:
        context = self.context
        term = 0 if self._lease is None else self._lease.term
        change = msgspec.structs.replace(change, term=term)
        msg_id = f"{change.scope}-{change.ts_event}-{change.state}"
        await context.publish_durable(context.subjects.breaker(change.scope), change, msg_id=msg_id)
        store = self._store
        assert store is not None
        await store.save_change(change)
        for snapshot in self.core.snapshot():
            if snapshot.scope == change.scope:
                await store.save_snapshot(snapshot, context.clock(), term)
        _LOGGER.info(
            "breaker.transition scope=%s %s->%s reason=%s",
            change.scope,
            change.previous,
            change.state,
            change.reason,
        )

    # -- timer -----------------------------------------------------------------------------

    async def _run_timer(self) -> None:
        interval_ns = int(self.config.errors.statistics_interval_s * _NS_PER_S)
        next_statistics_ns = self.context.clock() + interval_ns
        refresh_ns = int(self.status_refresh_s * _NS_PER_S)
        next_refresh_ns = self.context.clock() + refresh_ns
        while True:
            await asyncio.sleep(self.tick_interval_s)
            try:
                now = self.context.clock()
                if now >= next_refresh_ns:
                    next_refresh_ns = now + refresh_ns
                    await self.refresh_exchange_status()
                await self.tick_once(now)
                self._start_probes(now)
                if now >= next_statistics_ns:
                    next_statistics_ns = now + interval_ns
                    await self._publish_statistics(now)
            except Exception:
                _LOGGER.exception("error_classifier.timer_failed")

    # -- probes -----------------------------------------------------------------------------

    def _start_probes(self, now_ns: int) -> None:
        """The classifier owns the probe of ``kraken.public``: nobody else may be calling
        public endpoints while it is half-open. ``kraken.ws`` is decided by market-data's
        reconnect, ``kraken.private``/``kraken.trading`` by the router's probes; every scope
        re-opens after ``half_open_timeout_s`` without an answer."""
        if not self.probe_public or (self._probe is not None and not self._probe.done()):
            return
        if not self.active:
            return
        if self.core.admit_probe(SCOPE_PUBLIC, now_ns):
            self._probe = asyncio.create_task(self._probe_public(), name="public-probe")

    async def _probe_public(self) -> None:
        assert self._kraken is not None
        await self._kraken.system_status(probe=True)
        reports, self._probe_reports[:] = list(self._probe_reports), []
        context = self.context
        for report in reports:
            # Published like every other call report: every instance learns the answer.
            self._probes_sent += 1
            outcome = "succeeded" if isinstance(report, KrakenCallSucceeded) else "failed"
            msg_id = f"{self.name}:probe:{self._instance}:{self._probes_sent}"
            try:
                await context.publish_durable(
                    context.subjects.kraken_call(outcome), report, msg_id=msg_id
                )
            except Exception:
                _LOGGER.exception("probe.report_publish_failed scope=%s", report.scope)

    async def _publish_statistics(self, now_ns: int) -> None:
        if not self.active:
            return
        statistics = self.core.get_error_statistics(now_ns)
        await self.context.publish_durable(
            self.context.subjects.error_statistics(),
            statistics,
            msg_id=f"error-statistics-{now_ns}",
        )


def _stored_wins(stored: BreakerSnapshot, own: BreakerSnapshot) -> bool:
    if stored.state is BreakerState.CLOSED and own.state is BreakerState.CLOSED:
        return False
    return stored.since_ns >= own.since_ns or own.state is BreakerState.CLOSED


def _republished(
    snapshot: BreakerSnapshot, previous: BreakerState, now_ns: int
) -> CircuitBreakerStateChanged:
    return CircuitBreakerStateChanged(
        ts_event=now_ns,
        ts_init=now_ns,
        scope=snapshot.scope,
        state=snapshot.state,
        previous=previous,
        reason=f"takeover: {snapshot.reason}"[:200],
        since_ns=snapshot.since_ns,
        retry_at_ns=snapshot.retry_at_ns,
        open_count=snapshot.open_count,
    )


def build_actor(config: GalFridayConfig) -> ErrorClassifierActor:
    """The ``galfriday actor error-classifier`` entry point. Jitter comes from an OS-seeded
    ``random.Random``; tests build the actor themselves with a seeded one."""
    return ErrorClassifierActor(config=config, rng=random.Random())
