"""``galfriday replay``: publish an event log back to the bus.

Imports are deferred to the run and kept to what a replay needs: a replay of a big log is
mostly start-up otherwise (issue 14: 58 % of its time went to importing every command).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any
from urllib.parse import urlparse

__all__ = ["register"]

_WEBSOCKET_SCHEMES = frozenset({"ws", "wss"})


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("replay", help="publish an event log back to the bus")
    parser.add_argument("file")
    parser.add_argument("--paced", action="store_true", help="keep the recorded gaps")
    parser.add_argument(
        "--subject-root", help="publish under this subject root instead of the recorded one"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be published; publish nothing"
    )
    parser.add_argument("--config", help="YAML config file")
    parser.set_defaults(handler=_replay)


def _import_nats_without_websockets() -> None:
    """nats-py imports aiohttp (a third of a second here) only for ``ws://`` servers: for any
    other server a ``None`` in ``sys.modules`` makes that optional import fail fast."""
    if "nats" in sys.modules or "aiohttp" in sys.modules:
        return
    sys.modules["aiohttp"] = None  # type: ignore[assignment]
    try:
        import nats  # noqa: F401
    finally:
        del sys.modules["aiohttp"]


def _replay(args: argparse.Namespace) -> int:
    from actors.cli.replay_guard import ReplayRefused, plan_subjects
    from bus.eventlog import EventLogError, read_event_log
    from schemas import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"galfriday: {e}", file=sys.stderr)
        return 2
    if not args.paced and not args.dry_run:
        from actors.cli.replay_bulk import replay_bulk

        return replay_bulk(args, config)
    try:
        records = list(read_event_log(args.file))
        subjects = plan_subjects(
            records,
            live_root=config.nats.subject_root,
            target_root=args.subject_root,
            dry_run=args.dry_run,
        )
    except (ReplayRefused, EventLogError, OSError) as e:
        print(f"galfriday replay: {e}", file=sys.stderr)
        return 2
    if args.dry_run:
        import orjson

        for record in records:
            line = {"subject": subjects[record.subject], "bytes": len(record.payload)}
            print(orjson.dumps(line).decode())
        print(f"dry run: {len(records)} messages, nothing published", file=sys.stderr)
        return 0
    prepare_nats(config)
    from actors.cli.common import run_command

    args.records, args.subjects = records, subjects
    return run_command(args, _replay_async)


def prepare_nats(config: Any) -> None:
    """Import nats-py now, without aiohttp unless the server is a websocket one."""
    if urlparse(config.nats.url).scheme not in _WEBSOCKET_SCHEMES:
        _import_nats_without_websockets()


async def _replay_async(config: Any, args: argparse.Namespace) -> int:
    from actors.cli.common import connect_command
    from bus.eventlog import publish_records, replay

    client = await connect_command(config)
    subjects = args.subjects
    if args.paced:

        async def deliver(record: Any) -> None:
            subject = subjects[record.subject]
            await client.publish(subject, record.payload, headers=record.headers or None)

        count = await replay(args.records, deliver, paced=True)
    else:
        count = await publish_records(client, args.records, subjects)
    await client.flush()
    await client.close()
    print(f"replayed {count} messages", file=sys.stderr)
    return 0
