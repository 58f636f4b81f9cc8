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

import msgspec
import msgspec.yaml
import nats
import orjson
from nats.aio.client import Client

from actors.batch_router.shell import resolve_credentials
from actors.cli.actor_command import ACTOR_FACTORIES
from actors.cli.local_nats import local_server_command
from actors.cli.replay_guard import ReplayRefused, retarget
from actors.cli.tracing import traced_publish_headers
from bus import Recorder, Subjects, encode, read_event_log, replay
from bus.codec import MESSAGES
from bus.eventlog import EventLogError
from bus.jetstream import CONTROL_BUCKET, MSG_ID_HEADER, ensure_key_value, ensure_topology
from kraken.credentials import Credentials
from kraken.rest import KrakenRestClient
from kraken.result import KrakenOk
from schemas import (
    BatchCompleted,
    ConfigError,
    GalFridayConfig,
    KillSwitchAcknowledged,
    OrderBatchRequested,
    TradingHalted,
    TradingResumed,
    load_config,
)

__all__ = ["register"]

_SIM_DEFAULT_REST = "http://127.0.0.1:8900"


def register(subparsers: Any) -> None:
    up = subparsers.add_parser("up", help="nats-server, the sim and all actors on this machine")
    up.set_defaults(handler=_up)
    submit = subparsers.add_parser("submit", help="publish an OrderBatchRequested from YAML/JSON")
    submit.add_argument("file")
    submit.add_argument("--wait", action="store_true", help="wait for its BatchCompleted")
    submit.add_argument("--timeout", type=float, default=60.0)
    submit.set_defaults(handler=_submit)
    tail = subparsers.add_parser("tail", help="print bus events, decoded")
    tail.add_argument("pattern", nargs="?", help="subject pattern (default: everything)")
    tail.set_defaults(handler=_tail)
    record = subparsers.add_parser("record", help="write bus messages to an event log")
    record.add_argument("file")
    record.add_argument("pattern", nargs="*")
    record.set_defaults(handler=_record)
    replay_parser = subparsers.add_parser("replay", help="publish an event log back to the bus")
    replay_parser.add_argument("file")
    replay_parser.add_argument("--paced", action="store_true", help="keep the recorded gaps")
    replay_parser.add_argument(
        "--subject-root", help="publish under this subject root instead of the recorded one"
    )
    replay_parser.add_argument(
        "--dry-run", action="store_true", help="print what would be published; publish nothing"
    )
    replay_parser.set_defaults(handler=_replay)
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
    for parser in (up, submit, tail, record, replay_parser, halt, resume):
        parser.add_argument("--config", help="YAML config file")
    for name in ("health", "stats"):
        subparsers.choices[name].add_argument("--config", help="YAML config file")


def _config(args: argparse.Namespace) -> GalFridayConfig | None:
    try:
        return load_config(getattr(args, "config", None))
    except ConfigError as e:
        print(f"galfriday: {e}", file=sys.stderr)
        return None


def _run(args: argparse.Namespace, body: Any) -> int:
    config = _config(args)
    if config is None:
        return 2
    try:
        code: int = asyncio.run(body(config, args))
    except KeyboardInterrupt:
        return 0
    except OSError as e:
        print(f"galfriday: cannot reach NATS at {config.nats.url}: {e}", file=sys.stderr)
        return 1
    return code


async def _quiet(error: Exception) -> None:
    """nats-py prints a traceback per failed attempt by default; the command reports once."""


async def _connect(config: GalFridayConfig, timeout_s: float | None = None) -> Client:
    """One short-lived connection for a command; raises ``OSError`` when NATS is unreachable."""
    try:
        return await nats.connect(
            config.nats.url,
            connect_timeout=timeout_s or config.nats.connect_timeout_s,
            allow_reconnect=False,
            # 0 would mean "retry forever" to nats-py's initial connect; 1 fails fast.
            max_reconnect_attempts=1,
            reconnect_time_wait=0.1,
            error_cb=_quiet,
            user=config.nats.user,
            password=config.nats.password,
            token=config.nats.token,
            user_credentials=config.nats.creds_file,
        )
    except Exception as e:  # nats raises NoServersError, not an OSError
        raise OSError(f"{type(e).__name__}: {e}") from e


def _print_json(value: Any) -> None:
    print(orjson.dumps(value, default=str, option=orjson.OPT_INDENT_2).decode())


# -- submit -------------------------------------------------------------------------------------


def _submit(args: argparse.Namespace) -> int:
    try:
        args.batch_bytes = Path(args.file).read_bytes()
    except OSError as e:
        print(f"galfriday: cannot read {args.file}: {e.strerror}", file=sys.stderr)
        return 2
    return _run(args, _submit_async)


async def _submit_async(config: GalFridayConfig, args: argparse.Namespace) -> int:
    try:
        raw = msgspec.yaml.decode(args.batch_bytes)
        now = time.time_ns()
        if isinstance(raw, dict):
            raw = {"type": "orders.batch.requested", "ts_event": now, "ts_init": now, **raw}
        batch = msgspec.convert(raw, type=OrderBatchRequested)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        print(f"galfriday: bad batch file {args.file}: {e}", file=sys.stderr)
        return 2
    subjects = Subjects(config.nats.subject_root)
    client = await _connect(config)
    try:
        waiter: asyncio.Future[BatchCompleted] = asyncio.get_running_loop().create_future()

        async def on_completed(msg: Any) -> None:
            event = MESSAGES.decode(msg.data)
            mine = isinstance(event, BatchCompleted) and event.batch_id == batch.batch_id
            if mine and not waiter.done():
                waiter.set_result(event)  # type: ignore[arg-type]

        if args.wait:
            await client.subscribe(subjects.batch_completed(), cb=on_completed)
        js = client.jetstream()
        await ensure_topology(js, subjects)
        with traced_publish_headers(subjects.batch_requested(), batch.batch_id) as headers:
            ack = await js.publish(subjects.batch_requested(), encode(batch), headers=headers)
        print(f"submitted batch {batch.batch_id} (stream seq {ack.seq}"
              f"{', duplicate' if ack.duplicate else ''})")  # fmt: skip
        if args.wait:
            completed = await asyncio.wait_for(waiter, args.timeout)
            _print_json(msgspec.to_builtins(completed))
            return 0 if completed.failed == 0 and completed.rejected == 0 else 1
        return 0
    finally:
        await client.close()


# -- tail / record / replay ---------------------------------------------------------------------


def _tail(args: argparse.Namespace) -> int:
    return _run(args, _tail_async)


async def _tail_async(config: GalFridayConfig, args: argparse.Namespace) -> int:
    subjects = Subjects(config.nats.subject_root)
    client = await _connect(config)

    async def show(msg: Any) -> None:
        try:
            decoded: Any = msgspec.to_builtins(MESSAGES.decode(msg.data))
        except msgspec.DecodeError:
            decoded = {"undecodable_bytes": len(msg.data)}
        print(orjson.dumps({"subject": msg.subject, "event": decoded}, default=str).decode())

    await client.subscribe(args.pattern or subjects.everything(), cb=show)
    await _until_signalled()
    await client.close()
    return 0


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
    config = _config(args)
    if config is None:
        return 2
    try:
        records = retarget(
            read_event_log(args.file),
            live_root=config.nats.subject_root,
            target_root=args.subject_root,
            dry_run=args.dry_run,
        )
    except (ReplayRefused, EventLogError, OSError) as e:
        print(f"galfriday replay: {e}", file=sys.stderr)
        return 2
    if args.dry_run:
        for record in records:
            print(orjson.dumps({"subject": record.subject, "bytes": len(record.payload)}).decode())
        print(f"dry run: {len(records)} messages, nothing published", file=sys.stderr)
        return 0
    args.records = records
    return _run(args, _replay_async)


async def _replay_async(config: GalFridayConfig, args: argparse.Namespace) -> int:
    client = await _connect(config)

    async def deliver(record: Any) -> None:
        await client.publish(record.subject, record.payload, headers=record.headers or None)

    count = await replay(args.records, deliver, paced=args.paced)
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
            command = local_server_command(config, state_dir)
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
