"""``galfriday top [--once S]``: prices and staleness per pair, breakers, exchange status, recent
batches and actor health, redrawn live (``--once S``: watch S seconds, print one frame, exit)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from typing import Any

import msgspec
import orjson
from nats.aio.client import Client
from rich.live import Live

from actors.cli.actor_command import ACTOR_FACTORIES
from actors.cli.common import EXIT_INTERRUPTED, EXIT_OK, connect_command, run_command
from actors.cli.top_view import TopState, render, render_text
from bus import MESSAGES, Subjects
from bus.jetstream import BREAKERS_BUCKET, EXCHANGE_STATUS_BUCKET
from schemas import GalFridayConfig

__all__ = ["register"]

_HEALTH_EVERY_S = 2.0
_REDRAWS_PER_S = 2


def register(subparsers: Any) -> None:
    top = subparsers.add_parser("top", help="live view: prices, breakers, batches, actors")
    top.add_argument(
        "--once", type=float, metavar="S", help="watch S seconds, print one frame and exit"
    )
    top.add_argument("--config", help="YAML config file")
    top.set_defaults(handler=lambda args: run_command(args, _top))


async def _top(config: GalFridayConfig, args: argparse.Namespace) -> int:
    subjects = Subjects(config.nats.subject_root)
    threshold_ns = int(config.market_data.staleness_threshold_seconds * 1e9)
    state = TopState(staleness_threshold_ns=threshold_ns)
    client = await connect_command(config)
    try:

        async def on_message(msg: Any) -> None:
            with contextlib.suppress(msgspec.DecodeError):
                state.apply(MESSAGES.decode(msg.data), time.time_ns())

        await client.subscribe(subjects.everything(), cb=on_message)
        await _load_stored(client, subjects, state)
        poller = asyncio.create_task(_poll_health(client, subjects, state))
        try:
            if args.once is not None:
                await asyncio.sleep(args.once)
                await _ask_health(client, subjects, state)
                print(render_text(state, time.time_ns()), end="")
                return EXIT_OK
            return await _live(state)
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
    finally:
        await client.close()


async def _live(state: TopState) -> int:
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[int] = loop.create_future()

    def on_signal(code: int) -> None:
        if not stop.done():
            stop.set_result(code)

    for sig, code in ((signal.SIGINT, EXIT_INTERRUPTED), (signal.SIGTERM, EXIT_OK)):
        loop.add_signal_handler(sig, on_signal, code)
    with Live(
        render(state, time.time_ns()), auto_refresh=False, screen=sys.stdout.isatty()
    ) as live:
        while not stop.done():
            live.update(render(state, time.time_ns()), refresh=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(stop), 1 / _REDRAWS_PER_S)
    return stop.result()


async def _load_stored(client: Client, subjects: Subjects, state: TopState) -> None:
    """Breakers and exchange status are state in KV: show them before any change arrives."""
    js = client.jetstream()
    for kind in (BREAKERS_BUCKET, EXCHANGE_STATUS_BUCKET):
        with contextlib.suppress(Exception):  # no bucket or no keys yet
            kv = await js.key_value(subjects.bucket_name(kind))
            for key in await kv.keys():
                with contextlib.suppress(Exception):
                    entry = await kv.get(key)
                    state.apply(MESSAGES.decode(entry.value or b""), time.time_ns())


async def _poll_health(client: Client, subjects: Subjects, state: TopState) -> None:
    while True:
        await _ask_health(client, subjects, state)
        await asyncio.sleep(_HEALTH_EVERY_S)


async def _ask_health(client: Client, subjects: Subjects, state: TopState) -> None:
    for actor in sorted(ACTOR_FACTORIES):
        try:
            reply = await client.request(
                subjects.service_endpoint(actor, "health"), b"", timeout=1.0
            )
            state.health[actor] = orjson.loads(reply.data)
        except Exception:
            state.health[actor] = None
