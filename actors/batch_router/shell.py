"""The batch-router actor process: ``OrderBatchRequested`` in, Kraken orders and outcomes out.

A batch request is handled from a durable JetStream pull consumer shared by every router
process; the runtime acks it only after the handler returned, i.e. after ``BatchCompleted``
was stored. A redelivery (crash, timeout) runs the batch in resume mode: each order is looked
up by its deterministic ``cl_ord_id`` before anything is placed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from actors.batch_router.batch_claims import BatchClaims, ClaimKind
from actors.batch_router.bus_ports import (
    BusBreakerView,
    BusEventSink,
    BusMarketView,
    BusVerdictSource,
)
from actors.batch_router.client_id_claims import ClientIdClaims
from actors.batch_router.key_lease import ApiKeyInUse, ApiKeyLease, Inherited
from actors.batch_router.kraken_gateway import KrakenGateway
from actors.batch_router.metrics import record_batch
from actors.batch_router.ports import OwnershipLost
from actors.batch_router.processor import OptimizedBatchProcessor
from actors.batch_router.ws_gateway import WsOrderGateway
from bus.actor import Actor, Delivery, JetStreamConsumer, Subscription
from bus.errors import WorkHandedOver
from bus.jetstream import BATCHES_BUCKET, CLIENT_IDS_BUCKET, CONTROL_BUCKET
from bus.ports import BusContext, KeyValueStore
from bus.subjects import Subjects
from kraken.credentials import Credentials, load_credentials
from kraken.errors import MissingCredentialsError
from kraken.nonce import PROCESS_NONCES, NonceSource
from kraken.pairs import PairRegistry
from kraken.rest import KrakenRestClient
from kraken.result import KrakenOk
from kraken.sim import DEFAULT_API_KEY, DEFAULT_API_SECRET
from kraken.venue_clock import UNKNOWN_AHEAD_NS
from kraken.ws_trading import WS_TRADING_SCOPE, KrakenWsTrading, auth_url_for
from schemas.config import ConfigError, GalFridayConfig, KrakenConfig, OrderEntry
from schemas.events import (
    BatchCompleted,
    BatchRejected,
    BookUpdated,
    BreakerState,
    CircuitBreakerStateChanged,
    KillSwitchAcknowledged,
    KrakenCallFailed,
    KrakenCallSucceeded,
    OrderBatchRequested,
    PriceRecovered,
    PriceStale,
    PriceUpdated,
    TradingHalted,
    TradingResumed,
    VolatilityUpdated,
)
from schemas.queries import PriceQuery, PriceQueryReply

__all__ = ["BatchRouterActor", "build_actor", "resolve_credentials"]

_log = logging.getLogger(__name__)

_NS = 1_000_000_000
_CALL_QUEUE_SIZE = 10_000
_CALL_REPORTS_PER_PUBLISH = 100
PAIRS_RETRY_MAX_S = 10.0
"""Longest pause between ``AssetPairs`` attempts at start."""
STATE_REFRESH_S = 5.0
"""How often breaker and kill-switch state is re-read from KV, closing any missed event."""
MAX_BATCH_ID_LENGTH = 128
CONFIRM_READS_S = (0.05, 0.25, 1.0)
"""Pauses between the KV reads that follow an event only the stored state may confirm."""
PRICE_QUERY_BACKOFF_S = 5.0
"""After a price query nobody answered, batches go ahead without asking for this long."""


@dataclass
class BatchRouterActor(Actor):
    """Routes batches to Kraken through :class:`OptimizedBatchProcessor`."""

    name = "batch-router"
    description = "Kraken batch order router"

    config: GalFridayConfig = field(default_factory=GalFridayConfig)
    credentials: Credentials | None = field(default=None, repr=False)
    concurrency: int = 4
    """Fresh batches handled at once by this process (as many resumed ones again)."""
    max_deliver: int = 10
    nonces: NonceSource = field(default=PROCESS_NONCES, repr=False)
    """Where signed nonces come from: shared by every client of this process on a key."""
    _client: KrakenRestClient | None = field(default=None, init=False, repr=False)
    _processor: OptimizedBatchProcessor | None = field(default=None, init=False, repr=False)
    _ws_trading: KrakenWsTrading | None = field(default=None, init=False, repr=False)
    _ws_breaker: BreakerState = field(default=BreakerState.CLOSED, init=False, repr=False)
    _ws_probe: asyncio.Task[Any] | None = field(default=None, init=False, repr=False)
    _breaker_states: dict[str, BreakerState] = field(default_factory=dict, init=False, repr=False)
    """The last broadcast state of every scope seen (for health; only two scopes steer)."""
    _claims: BatchClaims | None = field(default=None, init=False, repr=False)
    _key_lease: ApiKeyLease | None = field(default=None, init=False, repr=False)
    _client_id_store: KeyValueStore | None = field(default=None, init=False, repr=False)
    _breakers: BusBreakerView = field(default_factory=BusBreakerView, init=False, repr=False)
    _market: BusMarketView | None = field(default=None, init=False, repr=False)
    _verdicts: BusVerdictSource | None = field(default=None, init=False, repr=False)
    _calls: asyncio.Queue[KrakenCallSucceeded | KrakenCallFailed] = field(
        default_factory=lambda: asyncio.Queue(maxsize=_CALL_QUEUE_SIZE), init=False, repr=False
    )
    _call_reports_dropped: int = field(default=0, init=False)
    _call_seq: int = field(default=0, init=False, repr=False)
    _call_id_prefix: str = field(default="", init=False, repr=False)
    _in_flight: dict[str, asyncio.Task[BatchCompleted]] = field(
        default_factory=dict, init=False, repr=False
    )
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, init=False, repr=False)
    _fresh_slots: asyncio.Semaphore = field(init=False, repr=False)
    _resume_slots: asyncio.Semaphore = field(init=False, repr=False)
    _dead_mans_switch_armed: bool = field(default=False, init=False, repr=False)
    _confirming: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _price_queries_paused_until_ns: int = field(default=0, init=False, repr=False)
    instance: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    """Names this process in kill-switch acknowledgements."""

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, context: BusContext) -> None:
        await super().start(context)
        self._fresh_slots = asyncio.Semaphore(self.concurrency)
        self._resume_slots = asyncio.Semaphore(self.concurrency)
        execution = self.config.execution
        self._call_id_prefix = f"{self.name}:{os.getpid()}:{context.clock()}"
        inherited = await self._hold_api_key(context)
        self._client = KrakenRestClient(
            self.config.kraken,
            credentials=self.credentials,
            clock=context.clock,
            on_call=self._on_call,
            nonces=self.nonces,
        )
        if inherited is not None:
            # Kraken's counters outlive the process that filled them.
            self._client.trading_limiter.inherit(inherited.trading_levels, inherited.written_ns)
            self._client.rest_limiter.inherit(inherited.call_level, inherited.written_ns)
            self._client.raise_nonce_floor(inherited.nonce_floor)
        await self._client.open()
        self._tasks.append(asyncio.create_task(self._publish_calls(), name="kraken-calls"))
        registry = await self._load_pairs(self._client)
        self._client.pairs = registry
        staleness_ns = int(self.config.market_data.staleness_threshold_seconds * _NS)
        self._market = BusMarketView(context.clock, staleness_ns, execution.volatility_timeframe)
        self._verdicts = BusVerdictSource(context, execution.verdict_timeout_s)
        await self.refresh_state()
        self._processor = OptimizedBatchProcessor(
            execution,
            await self._order_gateway(KrakenGateway(self._client, registry, context.clock)),
            self._verdicts,
            self._breakers,
            self._market,
            BusEventSink(context),
            context.clock,
            asyncio.sleep,
        )
        self._claims = BatchClaims(
            await context.key_value(BATCHES_BUCKET),
            owner=self._call_id_prefix,
            clock=context.clock,
            sleep=asyncio.sleep,
            lease_s=execution.batch_ack_wait_s,
            in_flight_s=execution.placement_deadline_s,
            margin_s=execution.absent_margin_s,
            retention_s=execution.batch_id_retention_days * 86_400,
        )
        self._client_id_store = await context.key_value(CLIENT_IDS_BUCKET)
        self._tasks.append(asyncio.create_task(self._refresh_loop(), name="state-refresh"))
        if execution.dead_mans_switch:
            self._tasks.append(asyncio.create_task(self._dead_mans_switch(), name="dms"))

    async def _order_gateway(self, rest: KrakenGateway) -> KrakenGateway | WsOrderGateway:
        """``kraken.order_entry: ws``: the WS gateway when the venue offers WS order entry,
        i.e. ``GetWebSocketsToken`` succeeds and the authenticated socket opens in time."""
        kraken = self.config.kraken
        if kraken.order_entry is not OrderEntry.WS or self._client is None:
            return rest
        ws = KrakenWsTrading(
            auth_url_for(kraken.ws_url, kraken.ws_auth_url),
            self._client.get_websockets_token,
            clock=self.context.clock,
            request_timeout_s=kraken.request_timeout_s,
            connect_timeout_s=kraken.request_timeout_s,
            silence_timeout_s=kraken.ws_silence_timeout_s,
            on_call=self._on_call,
            trading_limiter=self._client.trading_limiter,
            pair_key=lambda symbol: _rest_altname(rest, symbol),
        )
        try:
            await ws.start()
        except TimeoutError:
            _log.warning("order_entry.ws_unavailable reason=%s using=rest", ws.last_error)
            await ws.stop()
            return rest
        self._ws_trading = ws
        _log.info("order_entry.ws url=%s", ws.url)
        return WsOrderGateway(
            ws, rest, self.context.clock, lambda: self._ws_breaker is BreakerState.CLOSED
        )

    async def _hold_api_key(self, context: BusContext) -> Inherited | None:
        """One process per API key (see :mod:`actors.batch_router.key_lease`); answers what
        a process that held the key before left behind, if one did."""
        if self.credentials is None:
            return None
        lease = ApiKeyLease(
            await context.key_value(CONTROL_BUCKET),
            self.credentials.api_key,
            owner=self._call_id_prefix,
            clock=context.clock,
            lease_s=self.config.execution.batch_ack_wait_s,
            trading_levels=self._trading_levels,
            call_level=self._call_level,
            nonce_floor=self._nonce_floor,
        )
        try:
            await lease.acquire()
        except ApiKeyInUse as e:
            raise ConfigError(f"kraken credentials: {e}") from None
        self._key_lease = lease
        self._tasks.append(asyncio.create_task(lease.keep(), name="api-key-lease"))
        return lease.inherited

    def _trading_levels(self) -> dict[str, float]:
        return {} if self._client is None else self._client.trading_limiter.levels()

    def _call_level(self) -> float:
        return 0.0 if self._client is None else self._client.rest_limiter.level()

    def _nonce_floor(self) -> int:
        return 0 if self._client is None else self._client.nonce_floor()

    async def stop(self) -> None:
        await self._stop_unfinished_batches()
        if self._confirming is not None:
            self._confirming.cancel()
        background = [task for task in self._tasks if task.get_name() != "kraken-calls"]
        for task in background:
            task.cancel()
        for task in background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None and self._dead_mans_switch_armed:
            await self._client.cancel_all_orders_after(0)
            self._dead_mans_switch_armed = False
        # Let the call reporter publish what is queued, then stop it.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                await self._calls.join()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._ws_probe is not None:
            self._ws_probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ws_probe
        if self._ws_trading is not None:
            await self._ws_trading.stop()
        if self._client is not None:
            await self._client.close()
        if self._key_lease is not None:
            # After the last Kraken call: a successor starts now, from these counters.
            await self._key_lease.release()

    async def _stop_unfinished_batches(self) -> None:
        """Batches whose handler the stop cancelled still run (shielded): stop them now, so
        nothing is placed after the stop. Unacked, each is redelivered and resumed."""
        unfinished = [task for task in self._in_flight.values() if not task.done()]
        for batch_id, task in list(self._in_flight.items()):
            if not task.done():
                _log.warning(
                    "batch.stopped_unfinished batch_id=%s (resumed on redelivery)", batch_id
                )
                task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)

    async def _load_pairs(self, client: KrakenRestClient) -> PairRegistry:
        """``AssetPairs`` until it answers: without pair rules no order can be validated."""
        pause_s = 0.5
        while True:
            result = await client.asset_pairs()
            if isinstance(result, KrakenOk):
                _log.info("pairs.loaded count=%d", len(result.value))
                return PairRegistry(result.value)
            _log.warning("pairs.unavailable errors=%s retry_in_s=%.1f", result.describe(), pause_s)
            await asyncio.sleep(pause_s)
            pause_s = min(pause_s * 2, PAIRS_RETRY_MAX_S)

    async def refresh_state(self) -> None:
        """Re-read the stored control state (breaker, kill switch); unreadable fails closed."""
        assert self._market is not None
        await self._breakers.load(self.context)
        await self._market.load_kill_switch(self.context)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(STATE_REFRESH_S)
            await self._refresh_quietly()

    async def _confirm_from_store(self) -> None:
        """An event hinted at a change that only the stored state may make: read it now, and a
        few times shortly after (the writer may publish the event just before storing it)."""
        await self._refresh_quietly()
        if self._confirming is not None and not self._confirming.done():
            return

        async def confirm() -> None:
            for pause_s in CONFIRM_READS_S:
                await asyncio.sleep(pause_s)
                await self._refresh_quietly()

        self._confirming = asyncio.create_task(confirm(), name="state-confirm")

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh_state()
        except Exception:
            _log.exception("state.refresh_failed")

    async def _dead_mans_switch(self) -> None:
        assert self._client is not None
        execution = self.config.execution
        while True:
            result = await self._client.cancel_all_orders_after(
                execution.dead_mans_switch_timeout_s
            )
            if isinstance(result, KrakenOk):
                self._dead_mans_switch_armed = True
            else:
                _log.warning("dead_mans_switch.refresh_failed errors=%s", result.describe())
            await asyncio.sleep(execution.dead_mans_switch_refresh_s)

    # -- Kraken call reports ---------------------------------------------------------------

    def _on_call(self, event: KrakenCallSucceeded | KrakenCallFailed) -> None:
        if self._calls.full():  # the bus is down: the newest reports say most about Kraken
            self._calls.get_nowait()
            self._calls.task_done()
            self._call_reports_dropped += 1
        self._calls.put_nowait(event)

    async def _publish_calls(self) -> None:
        """Every queued report in one pipelined publish (a chunked batch reports its calls
        together, while its outcome events are being published)."""
        subjects = self.context.subjects
        while True:
            events = [await self._calls.get()]
            while len(events) < _CALL_REPORTS_PER_PUBLISH and not self._calls.empty():
                events.append(self._calls.get_nowait())
            messages = []
            for event in events:
                self._call_seq += 1
                outcome = "succeeded" if isinstance(event, KrakenCallSucceeded) else "failed"
                msg_id = f"{self._call_id_prefix}:{self._call_seq}"
                messages.append((subjects.kraken_call(outcome), event, msg_id))
            try:
                await self.context.publish_durable_many(messages)
            except Exception:  # the bus is down: the call reports are lost, the calls are not
                _log.exception(
                    "kraken_call.publish_failed endpoints=%s", [e.endpoint for e in events]
                )
            finally:
                for _ in events:
                    self._calls.task_done()

    # -- subscriptions and handlers --------------------------------------------------------

    def subscriptions(self, subjects: Subjects) -> Sequence[Subscription]:
        return (
            Subscription(
                subjects.batch_requested(),
                (OrderBatchRequested,),
                consumer=JetStreamConsumer(
                    "batches",
                    max_deliver=self.max_deliver,
                    ack_wait_s=self.config.execution.batch_ack_wait_s,
                    backoff_s=(1.0, 5.0, 15.0),
                ),
                concurrency=2 * self.concurrency,  # fresh slots + resume slots
            ),
            Subscription(subjects.price_all(), (PriceUpdated,)),
            Subscription(subjects.book_all(), (BookUpdated,)),
            Subscription(subjects.stale_all(), (PriceStale, PriceRecovered)),
            Subscription(subjects.volatility_all(), (VolatilityUpdated,)),
            Subscription(subjects.breakers_all(), (CircuitBreakerStateChanged,)),
            Subscription(subjects.kill_switch(), (TradingHalted, TradingResumed)),
        )

    async def on_order_batch_requested(
        self, event: OrderBatchRequested, delivery: Delivery
    ) -> None:
        running = self._in_flight.get(event.batch_id)
        if running is not None:
            # Redelivered while this process still works on it: finish that one, then ack.
            await asyncio.shield(running)
            return
        # Resumed batches have their own slots: a backlog of them never blocks fresh batches.
        slots = self._resume_slots if delivery.redelivered else self._fresh_slots
        async with slots:
            # The price warm-up shares its bus round trip with the claim's; only the checks
            # that need the prices wait for it.
            warm_up = asyncio.ensure_future(self._warm_up(event))
            try:
                await self._handle_batch(event, delivery, warm_up)
            finally:
                warm_up.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await warm_up

    async def _warm_up(self, event: OrderBatchRequested) -> None:
        """Prices the batch needs but this process has not seen yet (just started) are asked
        of the market-data actor, so risk checks do not fail for want of a reference; while
        it leaves queries unanswered, not for every batch (each would wait for its timeout)."""
        market = self.market
        missing = sorted({o.pair for o in event.orders if market.reference_price(o.pair) is None})
        if missing and self.context.clock() >= self._price_queries_paused_until_ns:
            async with asyncio.TaskGroup() as group:
                for pair in missing:
                    group.create_task(self._query_price(pair))

    async def _query_price(self, pair: str) -> None:
        try:
            reply = await self.context.request(
                self.context.subjects.price_query(),
                PriceQuery(pair=pair),
                self.config.execution.verdict_timeout_s,
            )
        except Exception as e:  # no market-data actor answering: risk checks decide
            _log.warning("price.warm_up_failed pair=%s error=%r", pair, e)
            paused_until = self.context.clock() + int(PRICE_QUERY_BACKOFF_S * _NS)
            self._price_queries_paused_until_ns = paused_until
            return
        if isinstance(reply, PriceQueryReply) and reply.quote is not None and not reply.stale:
            self.market.on_price(reply.quote, age_ns=reply.age_ns or 0)

    async def _handle_batch(
        self, event: OrderBatchRequested, delivery: Delivery, warm_up: Awaitable[None]
    ) -> None:
        if event.validate_only:  # places nothing: no run to fence, the id stays free
            await warm_up
            completed = await self._run_batch(
                event, self.processor.process(event, resume=delivery.redelivered)
            )
        else:
            try:
                result = await self._claimed_run(event, delivery, warm_up)
            except OwnershipLost as e:
                raise WorkHandedOver(str(e)) from None
            if result is None:
                return
            completed = result
        record_batch(completed)
        _log.info(
            "batch.completed batch_id=%s placed=%d rejected=%d failed=%d resumed=%s",
            completed.batch_id,
            completed.placed,
            completed.rejected,
            completed.failed,
            delivery.redelivered,
        )

    async def on_undeliverable(self, subject: str, payload: bytes, reason: str) -> None:
        """A malformed batch request gets its ``BatchRejected`` once (it was dead-lettered and
        terminated, never redelivered) when a batch id can be read from it at all."""
        if subject != self.context.subjects.batch_requested():
            return
        batch_id, order_count = _salvage_batch_identity(payload)
        if batch_id is None:
            return
        now = self.context.clock()
        rejection = BatchRejected(
            ts_event=now,
            ts_init=now,
            batch_id=batch_id,
            reason=f"invalid_request: {reason}"[:500],
            order_count=order_count,
        )
        await BusEventSink(self.context).emit(rejection)

    async def _claimed_run(
        self, event: OrderBatchRequested, delivery: Delivery, warm_up: Awaitable[None]
    ) -> BatchCompleted | None:
        """Claim the batch (once-ever id, fenced lease), then run it while the lease holds;
        ``warm_up`` (the batch's missing prices) is awaited after the claim, before the run."""
        claims = self.claims
        claim = await claims.claim(event.batch_id, delivery.stream_seq)
        if claim.kind is ClaimKind.DUPLICATE:
            await self._reject_duplicate(event, delivery)
            return None
        if claim.kind is ClaimKind.DONE:
            return None  # completed before; only the ack was missing
        lease = claim.lease
        assert lease is not None
        record = claim.record
        keeper = asyncio.create_task(
            lease.keep_alive(lambda: self._abandon(event.batch_id)),
            name=f"lease:{event.batch_id}",
        )
        try:
            settle_until_ns = claim.settle_until_ns
            if settle_until_ns:
                # The previous owner's deadlines are applied on the venue's clock.
                settle_until_ns += self._clock_ahead_of_venue_ns()
            wait_s = (settle_until_ns - self.context.clock()) / _NS
            if wait_s > 0:
                # The previous owner's orders may land until then: look them up afterwards.
                _log.info("batch.settling batch_id=%s wait_s=%.1f", event.batch_id, wait_s)
                await asyncio.wait({keeper}, timeout=wait_s)
            await warm_up
            if lease.lost is not None:
                raise OwnershipLost(f"batch {event.batch_id}: lease lost while settling")
            completed = await self._run_batch(
                event,
                self.processor.process(
                    event,
                    resume=claim.kind is ClaimKind.RESUME,
                    run_id=record.run_id,
                    run_started_ns=record.started_ns,
                    fence=lease,
                    journal=lease,
                    decided=record.outcomes,
                    published=record.published,
                    client_ids=self._client_ids(event.batch_id, record.run_id),
                ),
            )
        except BaseException as e:
            if lease.lost is not None or _holds_ownership_lost(e):
                # Stop at once, unacked: the batch belongs to whoever holds the lease now.
                raise OwnershipLost(f"batch {event.batch_id}: ownership lost, stopped") from None
            raise
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        with contextlib.suppress(OwnershipLost):
            await lease.finish()
        return completed

    def _clock_ahead_of_venue_ns(self) -> int:
        if self._client is None:
            return UNKNOWN_AHEAD_NS
        return self._client.venue_clock.ahead_ns()

    def _client_ids(self, batch_id: str, run_id: str) -> ClientIdClaims | None:
        if self._client_id_store is None:
            return None
        return ClientIdClaims(
            self._client_id_store,
            batch_id=batch_id,
            run_id=run_id,
            clock=self.context.clock,
            retention_s=self.config.execution.batch_id_retention_days * 86_400,
        )

    def _abandon(self, batch_id: str) -> None:
        _log.warning("batch.abandoned batch_id=%s reason=lease_lost", batch_id)
        running = self._in_flight.get(batch_id)
        if running is not None:
            running.cancel()

    async def _run_batch(
        self, event: OrderBatchRequested, work: Coroutine[Any, Any, BatchCompleted]
    ) -> BatchCompleted:
        task = asyncio.create_task(work)
        self._in_flight[event.batch_id] = task
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._in_flight.pop(event.batch_id, None)

    async def _reject_duplicate(self, event: OrderBatchRequested, delivery: Delivery) -> None:
        now = self.context.clock()
        _log.warning("batch.duplicate batch_id=%s", event.batch_id)
        await self.context.publish_durable(
            self.context.subjects.batch_rejected(),
            BatchRejected(
                ts_event=now,
                ts_init=now,
                batch_id=event.batch_id,
                reason="duplicate_batch_id: this batch id was executed already; nothing was sent",
                order_count=len(event.orders),
            ),
            msg_id=f"{event.batch_id}:duplicate:{delivery.stream_seq}",
        )

    async def on_price_updated(self, event: PriceUpdated, delivery: Delivery) -> None:
        self.market.on_price(event)

    async def on_book_updated(self, event: BookUpdated, delivery: Delivery) -> None:
        self.market.on_book(event)

    async def on_price_stale(self, event: PriceStale, delivery: Delivery) -> None:
        self.market.on_stale(event)

    async def on_price_recovered(self, event: PriceRecovered, delivery: Delivery) -> None:
        self.market.on_recovered(event)

    async def on_volatility_updated(self, event: VolatilityUpdated, delivery: Delivery) -> None:
        self.market.on_volatility(event)

    async def on_circuit_breaker_state_changed(
        self, event: CircuitBreakerStateChanged, delivery: Delivery
    ) -> None:
        self._breaker_states[event.scope] = event.state
        if event.scope == WS_TRADING_SCOPE:
            # Either way is safe here: an open WS breaker only moves placements to REST.
            self._ws_breaker = event.state
            if event.state is BreakerState.HALF_OPEN:
                self._probe_ws_trading()
        if self._breakers.relaxes(event):
            await self._confirm_from_store()
        self._breakers.apply(event)

    def _probe_ws_trading(self) -> None:
        """Placements stay on REST while the trading socket's breaker is half-open, so a
        ``ping`` over it is the test call that closes (or re-opens) the breaker."""
        ws = self._ws_trading
        if ws is None or (self._ws_probe is not None and not self._ws_probe.done()):
            return
        self._ws_probe = asyncio.create_task(ws.ping(probe=True), name="ws-trading-probe")

    async def on_trading_halted(self, event: TradingHalted, delivery: Delivery) -> None:
        self.market.on_kill_switch(event)
        await self._confirm_from_store()
        await self._acknowledge_kill_switch()

    async def on_trading_resumed(self, event: TradingResumed, delivery: Delivery) -> None:
        await self._confirm_from_store()  # only the stored state lifts a halt
        await self._acknowledge_kill_switch()

    async def _acknowledge_kill_switch(self) -> None:
        """Tell ``galfriday halt`` which state this instance now applies, and on which KV
        revision it rests (a halt the CLI stored at revision r is applied once r is reached)."""
        kill_switch = self.market.kill_switch
        now = self.context.clock()
        ack = KillSwitchAcknowledged(
            ts_event=now,
            ts_init=now,
            instance=self.instance,
            halted=kill_switch.active,
            revision=kill_switch.revision,
        )
        try:
            await self.context.publish(self.context.subjects.kill_switch_ack(), ack)
        except Exception:
            _log.exception("kill_switch.ack_failed")

    # -- views -----------------------------------------------------------------------------

    @property
    def processor(self) -> OptimizedBatchProcessor:
        if self._processor is None:
            raise RuntimeError("batch-router is not started")
        return self._processor

    @property
    def claims(self) -> BatchClaims:
        if self._claims is None:
            raise RuntimeError("batch-router is not started")
        return self._claims

    @property
    def market(self) -> BusMarketView:
        if self._market is None:
            raise RuntimeError("batch-router is not started")
        return self._market

    def health(self) -> dict[str, Any]:
        report: dict[str, Any] = {
            "in_flight_batches": sorted(self._in_flight),
            "trading_breaker": str(self._breakers.trading_state()),
            "ws_trading_breaker": str(self._ws_breaker),
            "breakers_seen": {scope: str(state) for scope, state in self._breaker_states.items()},
            "dead_mans_switch_armed": self._dead_mans_switch_armed,
            "verdicts_unanswered": 0 if self._verdicts is None else self._verdicts.unanswered,
            "call_reports_dropped": self._call_reports_dropped,
            "instance": self.instance,
        }
        unreadable = set(self._breakers.reader.unreadable)
        if self._market is not None:
            report.update(self._market.snapshot())
            unreadable |= self._market.kill_switch.reader.unreadable
        report["unreadable_state"] = sorted(unreadable)
        if self._processor is not None:
            report["performance"] = self._processor.get_performance_statistics()
        return report

    def stats(self) -> dict[str, Any]:
        report: dict[str, Any] = {"in_flight_batches": len(self._in_flight)}
        if self._processor is not None:
            report.update(self._processor.get_performance_statistics())
        return report


def _rest_altname(gateway: KrakenGateway, symbol: str) -> str:
    """How the REST client keys its trading counters, so WS charges the same ones."""
    registry = gateway.registry
    return registry.to_altname(symbol) if symbol in registry else symbol


def _salvage_batch_identity(payload: bytes) -> tuple[str | None, int]:
    """The batch id and order count of a request that failed to decode, if they are sane."""
    try:
        raw = msgspec.msgpack.decode(payload)
    except Exception:
        return None, 0
    if not isinstance(raw, dict):
        return None, 0
    batch_id = raw.get("batch_id")
    orders = raw.get("orders")
    if not isinstance(batch_id, str) or not 0 < len(batch_id) <= MAX_BATCH_ID_LENGTH:
        return None, 0
    return batch_id, len(orders) if isinstance(orders, list) else 0


def _holds_ownership_lost(error: BaseException) -> bool:
    if isinstance(error, OwnershipLost):
        return True
    if isinstance(error, BaseExceptionGroup):
        return any(_holds_ownership_lost(inner) for inner in error.exceptions)
    return False


def resolve_credentials(config: KrakenConfig) -> Credentials:
    """The environment's Kraken key, or the simulator's dev key when the venue is the default
    simulator; anything else without a key is a configuration error."""
    try:
        credentials = load_credentials()
    except MissingCredentialsError as e:
        raise ConfigError(f"kraken credentials: {e}") from None
    if credentials is not None:
        return credentials
    if config.rest_url == KrakenConfig().rest_url:
        return Credentials(api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET)
    raise ConfigError(
        "batch-router needs KRAKEN_API_KEY and KRAKEN_API_SECRET for "
        f"kraken.rest_url {config.rest_url!r}"
    )


def build_actor(config: GalFridayConfig) -> BatchRouterActor:
    return BatchRouterActor(config=config, credentials=resolve_credentials(config.kraken))
