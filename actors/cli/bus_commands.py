"""Bus-facing commands: up, submit, tail, record, replay, health, stats, halt, resume."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from actors.cli.actor_command import ACTOR_FACTORIES
from actors.cli.common import connect_command, load_command_config, run_command
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
    up = subparsers.add_parser("up", help="nats-server, the sim and all actors on this machine")
    up.set_defaults(handler=_up)
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
    for parser in (up, record, replay_parser, halt, resume):
        parser.add_argument("--config", help="YAML config file")
    for name in ("health", "stats"):
        subparsers.choices[name].add_argument("--config", help="YAML config file")


# The shared helpers under the names the commands below were written with.
_config = load_command_config
_run = run_command
_connect = connect_command


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


# -- up -----------------------------------------------------------------------------------------


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _up(args: argparse.Namespace) -> int:
    config = _config(args)
    if config is None:
        return 2
    Path(os.environ.get("GF_STATE_DIR", "var")).mkdir(exist_ok=True)
    return asyncio.run(_up_async(config, args))


async def _nats_reachable(config: GalFridayConfig) -> bool:
    try:
        client = await _connect(config, timeout_s=1.0)
    except OSError:
        return False
    await client.close()
    return True


async def _up_async(config: GalFridayConfig, args: argparse.Namespace) -> int:
    # Children are long-lived processes supervised by polling, so the blocking Popen API is
    # what we want here (ASYNC220 waived on the three starts below).
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    env = dict(os.environ)
    galfriday = [sys.executable, "-m", "actors"]
    state_dir = Path(env.get("GF_STATE_DIR", "var"))
    try:
        if not await _nats_reachable(config):
            port = config.nats.url.rsplit(":", 1)[-1]
            server = str(Path(sys.executable).parent / "nats-server")
            command = [server, "-js", "-p", port, "-m", "8222", "-sd", str(state_dir / "nats")]
            children.append(("nats-server", subprocess.Popen(command)))  # noqa: ASYNC220
            for _ in range(100):
                if await _nats_reachable(config):
                    break
                await asyncio.sleep(0.1)
            else:
                print("galfriday: nats-server did not start", file=sys.stderr)
                return 1
        has_credentials = bool(env.get("KRAKEN_API_KEY"))
        if not has_credentials and config.kraken.rest_url == _SIM_DEFAULT_REST:
            children.append(("kraken-sim", subprocess.Popen([*galfriday, "sim"])))  # noqa: ASYNC220
            await asyncio.sleep(1.0)
        for actor in ("error-classifier", "market-data", "batch-router"):
            command = [*galfriday, "actor", actor]
            if args.config:
                command += ["--config", args.config]
            children.append((actor, subprocess.Popen(command, env=env)))  # noqa: ASYNC220
        print("galfriday up: " + ", ".join(name for name, _ in children) + " (Ctrl-C stops all)")
        await _watch(children)
    finally:
        for _, child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for _, child in reversed(children):
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(15)
            if child.poll() is None:
                child.kill()
    return 0


async def _watch(children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        for name, child in children:
            if child.poll() is not None:
                print(f"galfriday up: {name} exited with {child.returncode}", file=sys.stderr)
                return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
