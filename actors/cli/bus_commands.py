"""Bus-facing commands: record, replay, health, stats, halt, resume (others: one module each)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import orjson

from actors.cli.actor_command import ACTOR_FACTORIES
from actors.cli.common import (
    connect_command,
    load_command_config,
    run_command,
    until_signalled,
)
from bus import Recorder, Subjects, encode, read_event_log, replay
from bus.jetstream import CONTROL_BUCKET, MSG_ID_HEADER, ensure_key_value, ensure_topology
from schemas import (
    GalFridayConfig,
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
    replay_parser = subparsers.add_parser("replay", help="publish an event log back to the bus")
    replay_parser.add_argument("file")
    replay_parser.add_argument("--paced", action="store_true", help="keep the recorded gaps")
    replay_parser.set_defaults(handler=_replay)
    for name, helptext in (("health", "actors' health"), ("stats", "actors' statistics")):
        parser = subparsers.add_parser(name, help=f"ask every actor for its {helptext}")
        parser.set_defaults(handler=_service_query, endpoint=name)
    halt = subparsers.add_parser("halt", help="kill switch: reject every new order")
    halt.add_argument("--reason", default="manual halt")
    halt.set_defaults(handler=_kill_switch, halted=True)
    resume = subparsers.add_parser("resume", help="lift the kill switch")
    resume.add_argument("--reason", default="manual resume")
    resume.set_defaults(handler=_kill_switch, halted=False)
    for parser in (record, replay_parser, halt, resume):
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


# -- tail / record / replay ---------------------------------------------------------------------


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


def _replay(args: argparse.Namespace) -> int:
    return _run(args, _replay_async)


async def _replay_async(config: GalFridayConfig, args: argparse.Namespace) -> int:
    client = await _connect(config)

    async def deliver(record: Any) -> None:
        await client.publish(record.subject, record.payload, headers=record.headers or None)

    count = await replay(read_event_log(args.file), deliver, paced=args.paced)
    await client.flush()
    await client.close()
    print(f"replayed {count} messages", file=sys.stderr)
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
    subjects = Subjects(config.nats.subject_root)
    client = await _connect(config)
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
    await kv.put("trading", encode(event))
    await js.publish(subjects.kill_switch(), encode(event), headers={MSG_ID_HEADER: f"kill-{now}"})
    await client.close()
    print("trading halted" if args.halted else "trading resumed")
    return 0
