"""The market-data actor on NATS: Kraken WS v2 ticker (REST Ticker as fallback) in, quotes and
market events out, price and exchange-status queries answered.

All decisions live in :class:`EnhancedMarketDataService`; this shell only moves data:

* WS ticker updates → ``on_quote`` → accepted quotes on ``price(pair)`` (core publish), the
  other events it returns durably with deterministic msg ids. Rejected quotes are counted and
  logged, never published.
* While the WebSocket is down (or the ``kraken.ws`` breaker is open) REST ``Ticker`` is polled
  for all feed pairs in one call every ``rest_poll_interval_s``; with ``kraken.public`` open no
  REST call is made at all.
* ``SystemStatus`` every ``status_poll_interval_s``, WS ``status`` updates, and a timer that
  runs ``service.tick``.

The WebSocket counts as up only once it delivers data after connecting: a socket that opens but
stays silent keeps the REST fallback running.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import msgspec
from nats.js.errors import KeyNotFoundError, NoKeysError

from actors.market_data.holiday_table import SubprocessHolidayLoader
from actors.market_data.holidays import HolidayCalendars
from actors.market_data.order_book import OrderBooks
from actors.market_data.publication import route_event
from actors.market_data.service import EnhancedMarketDataService
from actors.market_data.ticker_mapping import price_from_rest_ticker, price_from_ws_ticker
from bus.actor import Actor, Delivery, Subscription
from bus.clock import Sleep
from bus.codec import encode
from bus.jetstream import BREAKERS_BUCKET, EXCHANGE_STATUS_BUCKET
from bus.ports import BusContext
from bus.subjects import Subjects
from kraken.pairs import PairRegistry
from kraken.rest import KrakenRestClient
from kraken.result import KrakenFailure
from kraken.ws import (
    BookUpdate,
    ConnectionState,
    ConnectionStateChanged,
    KrakenWsClient,
    StatusUpdate,
    SubscriptionResult,
    TickerUpdate,
    WsUpdate,
)
from schemas import GalFridayConfig
from schemas.base import Event
from schemas.events import (
    CircuitBreakerStateChanged,
    ExchangeStatusChanged,
    KrakenCallFailed,
    KrakenCallSucceeded,
    PriceUpdated,
)
from schemas.queries import (
    ExchangeStatusQuery,
    ExchangeStatusReply,
    PriceQuery,
    PriceQueryReply,
)

__all__ = ["MarketDataActor", "QuoteFetchError", "build_actor"]

_log = logging.getLogger(__name__)

_CALL_QUEUE_SIZE = 10_000
_CLASSIFIER_SNAPSHOT_PREFIX = "snapshot."
_STOP_ATTEMPTS = 3
_STOP_WAIT_S = 1.0


class QuoteFetchError(Exception):
    """A REST quote fetch for a price query failed (the service counts it, the cache stays)."""


@dataclass
class MarketDataActor(Actor):
    """Runs :class:`EnhancedMarketDataService` against Kraken and the bus.

    Configuration comes from ``context.config`` at start; the fields below are tuning knobs
    (tests shorten them).
    """

    name: ClassVar[str] = "market-data"
    description: ClassVar[str] = "Kraken quotes, staleness, volatility and exchange status"

    feed_pairs: tuple[str, ...] | None = None
    """Pairs streamed over WS and polled over REST; ``None`` means all configured pairs.
    Other configured pairs are fetched on demand by price queries only."""
    tick_interval_s: float = 0.25
    ws_backoff_base_s: float = 0.5
    ws_backoff_cap_s: float = 30.0
    preload_holidays: bool = True
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    """Jitter of the WS reconnect backoff."""
    sleep: Sleep = asyncio.sleep

    _service: EnhancedMarketDataService | None = field(default=None, init=False, repr=False)
    _rest: KrakenRestClient | None = field(default=None, init=False, repr=False)
    _ws: KrakenWsClient | None = field(default=None, init=False, repr=False)
    _registry: PairRegistry | None = field(default=None, init=False, repr=False)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list, init=False, repr=False)
    _calls: asyncio.Queue[KrakenCallSucceeded | KrakenCallFailed] = field(
        default_factory=lambda: asyncio.Queue(maxsize=_CALL_QUEUE_SIZE), init=False, repr=False
    )
    _call_ids: itertools.count[int] = field(default_factory=itertools.count, init=False, repr=False)
    _books: OrderBooks | None = field(default=None, init=False, repr=False)
    _ws_paused: bool = field(default=False, init=False)
    _rest_polling: bool = field(default=False, init=False)
    _counters: Counter[str] = field(default_factory=Counter, init=False)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, context: BusContext) -> None:
        await super().start(context)
        config = context.config
        codes = config.market_data.holiday_calendars
        service = EnhancedMarketDataService(
            config.market_data,
            context.clock,
            self._fetch_quote,
            # Built in a child process: this one never imports pandas (about 50 MB of RSS).
            holidays=HolidayCalendars(codes, loader=SubprocessHolidayLoader(codes)),
        )
        self._service = service
        await self._load_breakers()
        self._rest = KrakenRestClient(
            config.kraken, credentials=None, clock=context.clock, on_call=self._on_kraken_call
        )
        await self._rest.open()
        self._ws = KrakenWsClient(
            config.kraken,
            self._feed,
            rng=self.rng,
            clock=context.clock,
            on_call=self._on_kraken_call,
            backoff_base_s=self.ws_backoff_base_s,
            backoff_cap_s=self.ws_backoff_cap_s,
            book_depth=None if config.market_data.book is None else config.market_data.book.depth,
        )
        md = config.market_data
        self._spawn(self._publish_calls(), "kraken-calls")
        self._spawn(self._consume_ws(self._ws), "ws-consumer")
        self._spawn(self._every(md.rest_poll_interval_s, self._poll_tickers), "rest-poll")
        self._spawn(self._every(md.status_poll_interval_s, self._poll_status), "status-poll")
        self._spawn(self._every(self.tick_interval_s, self._tick), "tick")
        if self.preload_holidays:
            self._spawn(asyncio.to_thread(service.preload_holidays), "holidays")
        if service.ws_allowed:
            self._ws.start()
        else:
            self._ws_paused = True

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        await _cancel_all(tasks)
        if self._ws is not None:
            await _stop_ws(self._ws)
        if self._rest is not None:
            await self._rest.close()
        await self._flush_call_reports()

    def subscriptions(self, subjects: Subjects) -> Sequence[Subscription]:
        concurrency = (
            self._context.config.nats.handler_concurrency
            if self._context is not None
            else GalFridayConfig().nats.handler_concurrency
        )
        return (
            Subscription(
                subjects.price_query(),
                (PriceQuery,),
                queue=self.name,
                concurrency=concurrency,
                replies=True,
            ),
            Subscription(
                subjects.status_query(),
                (ExchangeStatusQuery,),
                queue=self.name,
                concurrency=concurrency,
                replies=True,
            ),
            Subscription(subjects.breakers_all(), (CircuitBreakerStateChanged,)),
        )

    # -- handlers -----------------------------------------------------------------------------

    async def on_price_query(self, query: PriceQuery, delivery: Delivery) -> PriceQueryReply:
        service = self.service
        reply = await service.get_price(query.pair)
        # A fetch made for this query produced the quote (and maybe a recovery): publish them.
        await self._publish(service.drain_events())
        return reply

    async def on_exchange_status_query(
        self, query: ExchangeStatusQuery, delivery: Delivery
    ) -> ExchangeStatusReply:
        return self.service.on_exchange_status_query(query)

    async def on_circuit_breaker_state_changed(
        self, event: CircuitBreakerStateChanged, delivery: Delivery
    ) -> None:
        self.service.on_breaker(event)
        await self._supervise_ws()

    async def handle_ws_update(self, update: WsUpdate) -> None:
        """One update from the WS client (public so tests can feed malformed data)."""
        service = self.service
        match update:
            case TickerUpdate():
                self._mark_ws_live()
                await self._intake(price_from_ws_ticker(update, self.context.clock()))
            case BookUpdate():
                self._mark_ws_live()
                await self._on_book(update)
            case StatusUpdate():
                self._mark_ws_live()
                await self._publish(service.on_system_status(update.system, "ws"))
            case SubscriptionResult(success=False):
                self._counters["ws_subscribe_rejected"] += 1
                _log.warning(
                    "WS subscription refused: channel=%s symbol=%s error=%s",
                    update.channel,
                    update.symbol,
                    update.error,
                )
            case ConnectionStateChanged():
                self._on_connection_state(update)
            case _:
                pass

    async def _on_book(self, update: BookUpdate) -> None:
        books = await self._order_books()
        if books is None:
            return
        event, resubscribe = books.on_update(update, self.context.clock())
        metrics = books.metrics.get(update.symbol)
        if metrics is not None:
            self.service.cache.books[update.symbol] = metrics
        else:
            self.service.cache.books.pop(update.symbol, None)
        if resubscribe:
            _log.warning("book checksum mismatch for %s: resubscribing", update.symbol)
            if self._ws is not None:
                await self._ws.resubscribe_book(update.symbol)
        if event is not None:
            await self._publish([event])

    async def _order_books(self) -> OrderBooks | None:
        """Built on the first book message, with each pair's decimals from AssetPairs."""
        if self._books is not None:
            return self._books
        book = self.context.config.market_data.book
        registry = await self._pair_names()
        if book is None or registry is None:
            return None
        decimals = {}
        for symbol in self._feed:
            info = registry.get(symbol)
            if info is not None:
                decimals[info.symbol] = (info.price_decimals, info.lot_decimals)
        self._books = OrderBooks(
            decimals,
            depth=book.depth,
            top_n=book.top_n,
            min_interval_ns=round(book.min_interval_s * 1_000_000_000),
            depth_bps=book.depth_bps,
        )
        return self._books

    # -- health -------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        if self._service is None:
            return {"status": "starting"}
        report = self._service.health_check()
        report["feed"] = self.stats()
        if self._ws is not None:
            report["ws"] = {
                "state": self._ws.state.value,
                "paused_by_breaker": self._ws_paused,
                **dataclasses.asdict(self._ws.counters),
            }
        if self._books is not None:
            report["book"] = self._books.health()
        return report

    def stats(self) -> dict[str, Any]:
        return {
            "feed_pairs": list(self._feed),
            "rest_polling": self._rest_polling,
            "pair_names_loaded": self._registry is not None,
            **dict(sorted(self._counters.items())),
        }

    @property
    def service(self) -> EnhancedMarketDataService:
        if self._service is None:
            raise RuntimeError("market-data actor is not running")
        return self._service

    # -- quotes and publishing ----------------------------------------------------------------

    @property
    def _feed(self) -> tuple[str, ...]:
        if self.feed_pairs is not None:
            return self.feed_pairs
        return self.context.config.market_data.pairs if self._context is not None else ()

    async def _intake(self, quote: PriceUpdated) -> None:
        intake = self.service.on_quote(quote)
        if intake.rejection is not None:
            rejection = intake.rejection
            self._counters[f"rejected_{quote.source.value}"] += 1
            _log.warning(
                "quote rejected: pair=%s source=%s reason=%s detail=%s",
                rejection.pair,
                quote.source.value,
                rejection.reason.value,
                rejection.detail,
            )
            return
        await self._publish(intake.events)

    async def _publish(self, events: Sequence[Event]) -> None:
        context = self.context
        for event in events:
            route = route_event(event, context.subjects)
            if route is None:
                _log.error("no route for %s; not published", type(event).__name__)
                continue
            try:
                if route.durable:
                    await context.publish_durable(route.subject, event, msg_id=route.msg_id)
                else:
                    await context.publish(route.subject, event)
            except Exception:
                _raise_if_cancelling()
                self._counters["publish_failures"] += 1
                _log.exception("publishing %s on %s failed", type(event).__name__, route.subject)
                if isinstance(event, ExchangeStatusChanged):
                    self.service.status_publish_failed(event)
            else:
                self._counters[f"published_{type(event).__name__}"] += 1
                if isinstance(event, ExchangeStatusChanged):
                    await self._store_status(event)

    async def _store_status(self, event: ExchangeStatusChanged) -> None:
        """The current status in KV (last value wins), for readers that start later or missed
        an event; the periodic republish repairs a failed write."""
        try:
            store = await self.context.key_value(EXCHANGE_STATUS_BUCKET)
            await store.put(event.exchange, encode(event))
        except Exception:
            _raise_if_cancelling()
            self._counters["status_store_failures"] += 1
            _log.exception("storing the exchange status in KV failed")

    # -- WebSocket ----------------------------------------------------------------------------

    async def _consume_ws(self, ws: KrakenWsClient) -> None:
        async for update in ws.updates():
            _raise_if_cancelling()
            try:
                await self.handle_ws_update(update)
            except Exception:
                _raise_if_cancelling()
                self._counters["ws_update_errors"] += 1
                _log.exception("handling a WS update failed")

    def _mark_ws_live(self) -> None:
        service = self.service
        if not service.ws_connected:
            service.set_ws_connected(True)
            _log.info("WS feed live: REST polling stops")

    def _on_connection_state(self, change: ConnectionStateChanged) -> None:
        service = self.service
        if change.state is ConnectionState.CONNECTED:
            if self._ws is not None and self._ws.counters.connects > 1:
                service.record_reconnect()
            return
        if change.state is ConnectionState.CONNECTING:
            return
        if change.state is ConnectionState.DISCONNECTED and change.reason == "connect failed":
            service.record_connection_failure()
        if change.state is ConnectionState.CLOSED and change.reason != "stopped":
            _log.error("WS client closed for good (%s): REST polling only", change.reason)
        elif service.ws_connected:
            _log.warning("WS feed down (%s): REST polling takes over", change.reason)
        service.set_ws_connected(False)

    async def _supervise_ws(self) -> None:
        """Stop the socket while the ``kraken.ws`` breaker is open; start it when it closes."""
        ws, service = self._ws, self.service
        if ws is None:
            return
        if not service.ws_allowed and not self._ws_paused:
            self._ws_paused = True
            await _stop_ws(ws)
            service.set_ws_connected(False)
            _log.warning("kraken.ws breaker open: WebSocket stopped")
        elif service.ws_allowed and self._ws_paused:
            self._ws_paused = False
            ws.start()
            _log.info("kraken.ws breaker no longer open: WebSocket restarted")

    # -- REST ---------------------------------------------------------------------------------

    @property
    def _rest_client(self) -> KrakenRestClient:
        if self._rest is None:
            raise RuntimeError("market-data actor is not running")
        return self._rest

    async def _poll_tickers(self) -> None:
        """One REST Ticker call for every feed pair, only while the WS feed is not usable."""
        service = self.service
        if not service.should_poll_rest or not self._feed:
            return
        self._rest_polling = True
        try:
            registry = await self._pair_names()
            if registry is None:
                return
            result = await self._rest_client.ticker(self._feed)
            if isinstance(result, KrakenFailure):
                self._counters["rest_poll_failures"] += 1
                _log.warning("REST Ticker poll failed: %s", "; ".join(result.describe()))
                return
            self._counters["rest_polls"] += 1
            now_ns = self.context.clock()
            for key, info in sorted(result.value.items()):
                pair = _symbol_of(key, registry)
                if pair is None or pair not in self._feed:
                    self._counters["rest_unexpected_pairs"] += 1
                    continue
                await self._intake(price_from_rest_ticker(pair, info, now_ns))
        finally:
            self._rest_polling = False

    async def _fetch_quote(self, pair: str) -> PriceUpdated | None:
        """The service's ``fetch``: one REST Ticker call for ``pair`` (run single-flight)."""
        registry = await self._pair_names()
        if registry is None:
            raise QuoteFetchError("pair names unavailable (AssetPairs failed or REST not allowed)")
        result = await self._rest_client.ticker([pair])
        if isinstance(result, KrakenFailure):
            raise QuoteFetchError("; ".join(result.describe()))
        now_ns = self.context.clock()
        entries = [(_symbol_of(key, registry) or key, info) for key, info in result.value.items()]
        for symbol, info in entries:
            if symbol == pair:
                return price_from_rest_ticker(pair, info, now_ns)
        if entries:
            # Kraken answered for another pair: the service refuses it as `wrong_pair`.
            symbol, info = entries[0]
            return price_from_rest_ticker(symbol, info, now_ns)
        return None

    async def _pair_names(self) -> PairRegistry | None:
        """Kraken's names for the configured pairs (AssetPairs), loaded once on first need."""
        if self._registry is not None:
            return self._registry
        if not self.service.rest_allowed:
            return None
        result = await self._rest_client.asset_pairs(self.context.config.market_data.pairs)
        if isinstance(result, KrakenFailure):
            self._counters["asset_pairs_failures"] += 1
            _log.warning("AssetPairs failed: %s", "; ".join(result.describe()))
            return None
        # Not handed to the REST client: Ticker is asked by the same names as AssetPairs was,
        # so both answers are keyed alike (Kraken keys by the name asked, or by the REST id).
        self._registry = PairRegistry(result.value)
        return self._registry

    async def _poll_status(self) -> None:
        # Breaker events on the bus are core messages; re-reading the KV closes any gap
        # (e.g. a change published between the start-up read and the subscription).
        await self._load_breakers()
        service = self.service
        if service.rest_allowed:
            result = await self._rest_client.system_status()
            if isinstance(result, KrakenFailure):
                self._counters["status_poll_failures"] += 1
                _log.warning("SystemStatus poll failed: %s", "; ".join(result.describe()))
            else:
                await self._publish(service.on_system_status(result.value.status, "rest"))
        # Status is state: the current one goes out every period even when unchanged, so a
        # consumer that missed a change (or a failed publish) catches up within one period.
        await self._publish(service.current_statuses(self.context.clock()))

    # -- Kraken call reports ------------------------------------------------------------------

    def _on_kraken_call(self, event: KrakenCallSucceeded | KrakenCallFailed) -> None:
        # Called synchronously by the Kraken clients: queue it for the publisher task.
        if self._calls.full():
            self._calls.get_nowait()
            self._counters["kraken_call_reports_dropped"] += 1
        self._calls.put_nowait(event)

    async def _publish_calls(self) -> None:
        while True:
            _raise_if_cancelling()
            await self._publish_call(await self._calls.get())

    async def _flush_call_reports(self) -> None:
        """Best effort at stop: reports still queued go out before the connection closes."""
        while not self._calls.empty():
            await self._publish_call(self._calls.get_nowait(), timeout=1.0)

    async def _publish_call(
        self, event: KrakenCallSucceeded | KrakenCallFailed, timeout: float = 5.0
    ) -> None:
        context = self.context
        outcome = "succeeded" if isinstance(event, KrakenCallSucceeded) else "failed"
        msg_id = f"{self.name}:kraken-call:{event.endpoint}:{event.ts_init}:{next(self._call_ids)}"
        try:
            await context.publish_durable(
                context.subjects.kraken_call(outcome), event, msg_id=msg_id, timeout=timeout
            )
        except Exception:
            _raise_if_cancelling()
            self._counters["publish_failures"] += 1
            _log.exception("publishing a Kraken call report failed")
        else:
            self._counters[f"kraken_calls_{outcome}"] += 1

    # -- timers and startup -------------------------------------------------------------------

    async def _tick(self) -> None:
        await self._publish(self.service.tick(self.context.clock()))
        await self._supervise_ws()

    async def _every(self, interval_s: float, step: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception:
                _raise_if_cancelling()
                self._counters["loop_errors"] += 1
                _log.exception("periodic step %s failed", getattr(step, "__name__", step))
            _raise_if_cancelling()
            await self.sleep(interval_s)

    def _spawn(self, work: Awaitable[Any], name: str) -> None:
        self._tasks.append(asyncio.ensure_future(work))
        self._tasks[-1].set_name(f"{self.name}:{name}")

    async def _load_breakers(self) -> None:
        """Breaker states already decided before this process started (KV ``breakers``)."""
        store = await self.context.key_value(BREAKERS_BUCKET)
        try:
            scopes = await store.keys()
        except NoKeysError:
            return
        for scope in scopes:
            if scope.startswith(_CLASSIFIER_SNAPSHOT_PREFIX):
                continue  # the classifier's own restore state, in buckets from before issue 11
            try:
                entry = await store.get(scope)
            except KeyNotFoundError:
                continue
            if not entry.value:
                continue
            try:
                event = msgspec.msgpack.decode(entry.value, type=CircuitBreakerStateChanged)
            except msgspec.DecodeError:
                self._counters["breaker_kv_undecodable"] += 1
                _log.warning("breaker KV entry %r is not a CircuitBreakerStateChanged", scope)
                continue
            self.service.on_breaker(event)


def _raise_if_cancelling() -> None:
    """Ends a loop whose cancellation was lost: Python 3.11's ``asyncio.wait_for`` (used by
    nats-py and aiohttp callers) can swallow a cancel that races a result, and nats-py can turn
    one into its own error; either way the loop would go on and hang ``stop``."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _cancel_all(tasks: Sequence[asyncio.Task[Any]]) -> None:
    """Cancel and await, cancelling again what swallowed the first cancel (see above)."""
    pending = set(tasks)
    for _ in range(_STOP_ATTEMPTS):
        if not pending:
            return
        for task in pending:
            task.cancel()
        done, pending = await asyncio.wait(pending, timeout=_STOP_WAIT_S)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                _log.error("task %s had failed: %r", task.get_name(), task.exception())
    for task in pending:
        _log.error("task %s did not stop", task.get_name())


async def _stop_ws(ws: KrakenWsClient) -> None:
    """``ws.stop()``, retried: cancelling a stuck ``stop`` re-cancels the socket task it awaits,
    whose first cancel ``asyncio.wait_for`` may have swallowed (Python 3.11)."""
    for _ in range(_STOP_ATTEMPTS):
        stopping = asyncio.ensure_future(ws.stop())
        done, _ = await asyncio.wait({stopping}, timeout=_STOP_WAIT_S)
        if done:
            return
        stopping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stopping
    _log.error("the Kraken WebSocket client did not stop")


def _symbol_of(key: str, registry: PairRegistry) -> str | None:
    info = registry.get(key)
    return None if info is None else info.symbol


def build_actor(config: GalFridayConfig) -> MarketDataActor:
    """The CLI entry point (``galfriday actor market-data``). Only public Kraken endpoints are
    used, so no credentials are needed; everything else is read from the config at start."""
    del config
    return MarketDataActor()
