"""Runs one actor as a process: connect, topology, micro service, subscriptions, drain."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections import Counter
from typing import Any

import nats.micro
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.micro.request import Request

from bus.actor import Actor, Subscription, bound_handlers
from bus.clock import Clock, system_clock
from bus.connection import ConnectionEvents, connect
from bus.context import ActorContext
from bus.dispatch import Dispatcher, Route
from bus.errors import ReaderUnrecoverableError
from bus.jetstream import ensure_topology
from bus.reader_watchdog import DEFAULT_WATCHDOG, ReaderWatchdog, WatchdogPolicy
from bus.subjects import Subjects
from bus.task_dump import install_task_dump
from schemas import GalFridayConfig

__all__ = ["ActorRunner", "run_actor"]

_LOGGER = logging.getLogger(__name__)

_DELIVER_POLICIES = {
    "all": DeliverPolicy.ALL,
    "new": DeliverPolicy.NEW,
    "last_per_subject": DeliverPolicy.LAST_PER_SUBJECT,
}


class ActorRunner:
    """Owns the lifetimes of one actor; ``async with`` starts it, leaving drains it."""

    def __init__(
        self,
        actor: Actor,
        config: GalFridayConfig,
        *,
        clock: Clock = system_clock,
        watchdog: WatchdogPolicy = DEFAULT_WATCHDOG,
    ) -> None:
        self.actor = actor
        self.config = config
        self.clock = clock
        self.subjects = Subjects(config.nats.subject_root)
        self.connection = ConnectionEvents()
        self._client: Client | None = None
        self._dispatcher: Dispatcher | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._core_subscriptions: list[Any] = []
        self._pull_subscriptions: list[Any] = []
        self._service: Any = None
        self._stopping = asyncio.Event()
        self._busy: Counter[str] = Counter()
        self._watchdog_policy = watchdog
        self.watchdog: ReaderWatchdog | None = None
        self._actor_entered = False
        """True once ``actor.start`` was called: ``stop`` owes it an ``actor.stop``."""
        self.reader_failed = asyncio.Event()
        """Set when the bus reader kept dying: the process should drain and exit non-zero."""

    @property
    def dispatcher(self) -> Dispatcher:
        if self._dispatcher is None:
            raise RuntimeError("runner not started")
        return self._dispatcher

    async def __aenter__(self) -> ActorRunner:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        client = await connect(self.config.nats, name=self.actor.name, events=self.connection)
        self._client = client
        self.watchdog = ReaderWatchdog(
            client, self._watchdog_policy, on_give_up=self.reader_failed.set
        )
        self._loops.append(asyncio.create_task(self.watchdog.run()))
        await ensure_topology(
            client.jetstream(), self.subjects, replicas=self.config.nats.stream_replicas
        )
        context = ActorContext(
            actor_name=self.actor.name,
            client=client,
            config=self.config,
            subjects=self.subjects,
            clock=self.clock,
            connection=self.connection,
        )
        self._dispatcher = Dispatcher(context, on_undeliverable=self.actor.on_undeliverable)
        self._actor_entered = True
        await self.actor.start(context)
        await self._start_service(client)
        for subscription in self.actor.subscriptions(self.subjects):
            await self._subscribe(client, subscription)
        await client.flush()  # subscriptions are live on the server before start() returns
        _LOGGER.info("actor.started name=%s", self.actor.name)

    async def _start_service(self, client: Client) -> None:
        self._service = await nats.micro.add_service(
            client,
            name=self.actor.name,
            version=self.actor.version,
            description=self.actor.description or self.actor.name,
        )

        async def health(request: Request) -> None:
            await request.respond(orjson.dumps(self.health(), default=str))

        async def stats(request: Request) -> None:
            await request.respond(orjson.dumps(self.actor.stats(), default=str))

        for endpoint, handler in (("health", health), ("stats", stats)):
            await self._service.add_endpoint(
                name=endpoint,
                handler=handler,
                subject=self.subjects.service_endpoint(self.actor.name, endpoint),
            )

    def health(self) -> dict[str, Any]:
        return {
            "actor": self.actor.name,
            "connected": self.connection.connected,
            "bus_reconnects": self.connection.reconnects,
            "bus_reader": self.watchdog.health() if self.watchdog else {},
            "messages": self.dispatcher.message_counts(),
            **self.actor.health(),
        }

    async def _subscribe(self, client: Client, subscription: Subscription) -> None:
        route = Route(subscription, bound_handlers(self.actor, subscription))
        limit = asyncio.Semaphore(subscription.concurrency)
        if subscription.consumer is None:

            async def on_message_concurrently(msg: Msg) -> None:
                if self._stopping.is_set():
                    return
                await limit.acquire()
                self._spawn(msg, route, limit)

            on_message: Any = on_message_concurrently
            if subscription.concurrency == 1:
                dispatcher = self.dispatcher
                in_order = dispatcher.handle_in_order if subscription.replies else None
                on_message = functools.partial(in_order or dispatcher.handle_plain, route=route)

            self._core_subscriptions.append(
                await client.subscribe(
                    subscription.subject, queue=subscription.queue or "", cb=on_message
                )
            )
            return
        consumer = subscription.consumer
        js = client.jetstream()
        pull = await js.pull_subscribe(
            subscription.subject,
            durable=self.subjects.durable_name(self.actor.name, consumer.durable),
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                max_deliver=consumer.max_deliver,
                ack_wait=consumer.ack_wait_s,
                deliver_policy=_DELIVER_POLICIES[consumer.deliver],
                max_ack_pending=max(subscription.concurrency * 4, 16),
                inactive_threshold=consumer.inactive_threshold_s,
            ),
        )
        self._pull_subscriptions.append(pull)
        self._loops.append(asyncio.create_task(self._pull_loop(pull, route, limit)))

    async def _pull_loop(self, pull: Any, route: Route, limit: asyncio.Semaphore) -> None:
        while not self._stopping.is_set():
            await limit.acquire()  # wait for a free slot without keeping it
            limit.release()
            # Long-poll for ONE message per free slot: nats-py holds a multi-message fetch open
            # until the batch fills or its timeout passes, so a message arriving during one
            # would wait for the rest of it (up to its whole timeout) before being handled.
            await self._fetch_and_spawn(pull, route, limit, batch=1, timeout=0.5)

    async def _fetch_and_spawn(
        self,
        pull: Any,
        route: Route,
        limit: asyncio.Semaphore,
        *,
        batch: int,
        timeout: float,
    ) -> bool:
        """Fetch up to ``batch`` messages and start a handler for each; False if none came."""
        try:
            messages = await pull.fetch(batch=batch, timeout=timeout)
        except asyncio.CancelledError:
            raise
        except Exception:  # nats TimeoutError when nothing is pending, or a reconnect
            return False
        for msg in messages:
            await limit.acquire()
            self._spawn(msg, route, limit)
        return bool(messages)

    def _spawn(self, msg: Msg, route: Route, limit: asyncio.Semaphore) -> None:
        subscription = route.subscription
        self._busy[subscription.subject] += 1

        async def run() -> None:
            try:
                if subscription.consumer is None and not subscription.replies:
                    await self.dispatcher.handle_plain(msg, route)
                else:
                    await self.dispatcher.handle(msg, route)
            finally:
                self._busy[subscription.subject] -= 1
                limit.release()

        task = asyncio.create_task(run(), name=subscription.subject)
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def stop(self) -> None:
        """Stop taking work, finish what is in flight (within a grace), stop the actor, drain
        the connection."""
        self._stopping.set()
        grace_ends = asyncio.get_running_loop().time() + self.config.nats.stop_grace_s
        if self._dispatcher is not None:
            self._dispatcher.accepting = False
            while (  # noqa: ASYNC110 - no Event per message
                self._dispatcher.in_order_busy and asyncio.get_running_loop().time() < grace_ends
            ):
                await asyncio.sleep(0.01)
        for subscription in self._core_subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        for loop in self._loops:
            loop.cancel()
        for loop in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        for pull in self._pull_subscriptions:
            with contextlib.suppress(Exception):
                await pull.unsubscribe()
        if self._in_flight:
            await self._finish_in_flight(grace_ends - asyncio.get_running_loop().time())
        if self._actor_entered:
            await self.actor.stop()
        if self._service is not None:
            with contextlib.suppress(Exception):
                await self._service.stop()
        if self._client is not None:
            # Our own work is drained above; flush what handlers published, then close.
            with contextlib.suppress(Exception):
                await self._client.flush(timeout=5)
            await self._client.close()
        _LOGGER.info("actor.stopped name=%s", self.actor.name)

    async def _finish_in_flight(self, grace_s: float) -> None:
        """Let handlers finish within the grace; cancel the rest (their stored messages are
        handed back by the dispatcher, so another instance resumes the work)."""
        _, late = await asyncio.wait(set(self._in_flight), timeout=max(0.0, grace_s))
        if not late:
            return
        _LOGGER.warning(
            "actor.stop_grace_over name=%s cancelled=%d grace_s=%.1f",
            self.actor.name,
            len(late),
            self.config.nats.stop_grace_s,
        )
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)


async def run_actor(
    actor: Actor,
    config: GalFridayConfig,
    *,
    clock: Clock = system_clock,
    stop: asyncio.Event | None = None,
    watchdog: WatchdogPolicy = DEFAULT_WATCHDOG,
) -> int | None:
    """Run until SIGINT/SIGTERM (or ``stop`` is set), then drain cleanly; a stop asked for
    while starting (still connecting, say) is honoured at once.

    Returns the signal that stopped the actor (``None`` when ``stop`` did). Raises
    ``ReaderUnrecoverableError`` (after draining) when the bus reader kept dying.
    """
    stop_event = stop or asyncio.Event()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        stop_event.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    install_task_dump(loop)
    async with contextlib.AsyncExitStack() as stack:
        runner = ActorRunner(actor, config, clock=clock, watchdog=watchdog)
        if not await _start_unless_stopped(runner, stop_event):
            _LOGGER.info("actor.stopped_before_start name=%s", actor.name)
            return received[0] if received else None
        stack.push_async_callback(runner.stop)
        waits = [asyncio.create_task(event.wait()) for event in (stop_event, runner.reader_failed)]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        _LOGGER.info("actor.stopping name=%s", actor.name)
        if runner.reader_failed.is_set() and runner.watchdog is not None:
            raise ReaderUnrecoverableError(runner.watchdog.deaths)
    return received[0] if received else None


async def _start_unless_stopped(runner: ActorRunner, stop: asyncio.Event) -> bool:
    """Start ``runner``; a stop asked for meanwhile (a signal while connecting, or while the
    actor waits on Kraken at start) cancels the start and undoes what it did. False then."""
    starting = asyncio.create_task(runner.start(), name=f"{runner.actor.name}.start")
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait((starting, stopped), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if starting.done():
        starting.result()  # a failed start raises here
        return True
    starting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await starting
    await runner.stop()
    return False
