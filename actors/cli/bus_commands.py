"""Bus-facing commands: record, health, stats, halt, resume (others: one module each)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from typing import Any

import msgspec
import orjson
from nats.aio.client import Client

from actors.batch_router.shell import resolve_credentials
from actors.cli.actor_command import ACTOR_FACTORIES
from actors.cli.common import (
    connect_command,
    load_command_config,
    run_command,
    until_signalled,
)
from bus import Recorder, Subjects, encode
from bus.codec import MESSAGES
from bus.jetstream import CONTROL_BUCKET, MSG_ID_HEADER, ensure_key_value, ensure_topology
from kraken.credentials import Credentials
from kraken.rest import KrakenRestClient
from kraken.result import KrakenOk
from schemas import (
    ConfigError,
    GalFridayConfig,
    KillSwitchAcknowledged,
    TradingHalted,
    TradingResumed,
)

__all__ = ["register"]

_SIM_DEFAULT_REST = "http://127.0.0.1:8900"


def register(subparsers: Any) -> None:
    record = subparsers.add_parser("record", help="write bus messages to an event log")
    record.add_argument("file")
    record.add_argument("pattern", nargs="*")
    record.set_defaults(handler=_record)
    for name, helptext in (("health", "actors' health"), ("stats", "actors' statistics")):
        parser = subparsers.add_parser(name, help=f"ask every actor for its {helptext}")
        parser.set_defaults(handler=_service_query, endpoint=name)
    halt = subparsers.add_parser("halt", help="kill switch: reject every new order")
    halt.add_argument("--reason", default="manual halt")
    halt.add_argument(
        "--cancel-all", action="store_true", help="also cancel every resting order (CancelAll)"
    )
    halt.set_defaults(handler=_kill_switch, halted=True)
    resume = subparsers.add_parser("resume", help="lift the kill switch")
    resume.add_argument("--reason", default="manual resume")
    resume.set_defaults(handler=_kill_switch, halted=False, cancel_all=False)
    for parser in (halt, resume):
        parser.add_argument(
            "--ack-timeout",
            type=float,
            default=5.0,
            help="seconds to wait for every router instance to confirm (default 5)",
        )
    for parser in (record, halt, resume):
        parser.add_argument("--config", help="YAML config file")
    for name in ("health", "stats"):
        subparsers.choices[name].add_argument("--config", help="YAML config file")


# The shared helpers under the names the commands below were written with.
_config = load_command_config
_run = run_command
_connect = connect_command
_until_signalled = until_signalled


def _print_json(value: Any) -> None:
    print(orjson.dumps(value, default=str, option=orjson.OPT_INDENT_2).decode())


# -- record ---------------------------------------------------------------------------------------


def _record(args: argparse.Namespace) -> int:
    return _run(args, _record_async)


async def _record_async(config: GalFridayConfig, args: argparse.Namespace) -> int:
    subjects = Subjects(config.nats.subject_root)
    client = await _connect(config)
    async with Recorder(client, args.file, args.pattern or [subjects.everything()]) as recorder:
        await _until_signalled()
        count = recorder.writer.count if recorder.writer else 0
    await client.close()
    print(f"recorded {count} messages to {args.file}", file=sys.stderr)
    return 0


# -- health / stats / kill switch ---------------------------------------------------------------


def _service_query(args: argparse.Namespace) -> int:
    return _run(args, _service_query_async)


async def _service_query_async(config: GalFridayConfig, args: argparse.Namespace) -> int:
    subjects = Subjects(config.nats.subject_root)
    client = await _connect(config)
    report: dict[str, Any] = {}
    missing = 0
    for actor in sorted(ACTOR_FACTORIES):
        try:
            reply = await client.request(
                subjects.service_endpoint(actor, args.endpoint), b"", timeout=2
            )
            report[actor] = orjson.loads(reply.data)
        except Exception as e:
            report[actor] = {"error": f"no answer: {type(e).__name__}"}
            missing += 1
    await client.close()
    _print_json(report)
    return 1 if missing else 0


def _kill_switch(args: argparse.Namespace) -> int:
    return _run(args, _kill_switch_async)


async def _kill_switch_async(config: GalFridayConfig, args: argparse.Namespace) -> int:
    """Store the state (KV first: routers order by its revision), announce it, then wait
    until every running router instance confirms it applied that revision or a later one."""
    credentials = None
    if args.cancel_all:
        try:
            credentials = resolve_credentials(config.kraken)
        except ConfigError as e:
            print(f"galfriday: {e}", file=sys.stderr)
            return 2
    subjects = Subjects(config.nats.subject_root)
    client = await _connect(config)
    try:
        code = await _store_and_confirm(client, subjects, args)
    finally:
        await client.close()
    if credentials is not None:
        code = max(code, await _cancel_all(config, credentials))
    return code


async def _store_and_confirm(client: Client, subjects: Subjects, args: argparse.Namespace) -> int:
    acks: dict[str, KillSwitchAcknowledged] = {}

    async def on_ack(msg: Any) -> None:
        with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
            ack = MESSAGES.decode(msg.data)
            if isinstance(ack, KillSwitchAcknowledged):
                acks[ack.instance] = ack

    await client.subscribe(subjects.kill_switch_ack(), cb=on_ack)
    routers = await _count_instances(client, "batch-router")
    now = time.time_ns()
    user = os.environ.get("USER", "")
    event: TradingHalted | TradingResumed
    if args.halted:
        event = TradingHalted(ts_event=now, ts_init=now, reason=args.reason, by=user)
    else:
        event = TradingResumed(ts_event=now, ts_init=now, reason=args.reason, by=user)
    js = client.jetstream()
    await ensure_topology(js, subjects)
    kv = await ensure_key_value(js, subjects.bucket_name(CONTROL_BUCKET))
    revision = await kv.put("trading", encode(event))
    await js.publish(subjects.kill_switch(), encode(event), headers={MSG_ID_HEADER: f"kill-{now}"})
    print(f"trading {'halted' if args.halted else 'resumed'} (control revision {revision})")

    def confirmed() -> list[str]:
        return sorted(
            instance
            for instance, ack in acks.items()
            if ack.revision >= revision and ack.halted == args.halted
        )

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(args.ack_timeout):
            while len(confirmed()) < routers:  # noqa: ASYNC110 - acks arrive by callback
                await asyncio.sleep(0.02)
    done = confirmed()
    print(f"confirmed by {len(done)} of {routers} router instance(s): {', '.join(done) or '-'}")
    if len(done) < routers:
        print(f"galfriday: not every router confirmed within {args.ack_timeout} s", file=sys.stderr)
        return 1
    return 0


async def _count_instances(client: Client, service: str, wait_s: float = 0.5) -> int:
    """Running instances of an actor: every one answers the micro-service ping."""
    replies: set[bytes] = set()

    async def on_pong(msg: Any) -> None:
        replies.add(msg.data)

    inbox = client.new_inbox()
    subscription = await client.subscribe(inbox, cb=on_pong)
    await client.publish(f"$SRV.PING.{service}", b"", reply=inbox)
    await asyncio.sleep(wait_s)
    await subscription.unsubscribe()
    return len(replies)


async def _cancel_all(config: GalFridayConfig, credentials: Credentials) -> int:
    async with KrakenRestClient(config.kraken, credentials=credentials) as kraken:
        result = await kraken.cancel_all()
    if not isinstance(result, KrakenOk):
        print(f"galfriday: CancelAll failed: {result.describe()}", file=sys.stderr)
        return 1
    print(f"cancelled {result.value.count} resting order(s)")
    return 0
