"""``galfriday tail [PATTERN]``: bus events, decoded, one JSON object per line.

Made for pipes: every line is flushed as it is written (``| jq`` sees events live), a reader
that goes away (``| head``) ends the command quietly with 0, and a connection lost for good
(reconnects exhausted) ends it with 1 instead of leaving a silent tail behind.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import sys
from typing import Any

import msgspec
import orjson

from actors.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    connect_command,
    run_command,
)
from bus import MESSAGES, Subjects
from schemas import GalFridayConfig

__all__ = ["register"]

_RECONNECT_WAIT_S = 1.0


def register(subparsers: Any) -> None:
    tail = subparsers.add_parser("tail", help="print bus events, decoded, as JSON lines")
    tail.add_argument("pattern", nargs="?", help="subject pattern (default: everything)")
    tail.add_argument(
        "--reconnect-for",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds of reconnect attempts before a lost connection ends the tail (exit 1)",
    )
    tail.add_argument("--config", help="YAML config file")
    tail.set_defaults(handler=lambda args: run_command(args, _tail))


def line(subject: str, data: bytes) -> bytes:
    """One output line for a message: its subject and the decoded event."""
    try:
        decoded: Any = msgspec.to_builtins(MESSAGES.decode(data))
    except msgspec.DecodeError:
        decoded = {"undecodable_bytes": len(data)}
    return orjson.dumps({"subject": subject, "event": decoded}, default=str) + b"\n"


async def _tail(config: GalFridayConfig, args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()

    def finish(code: int) -> None:
        if not done.done():
            done.set_result(code)

    async def closed() -> None:
        finish(EXIT_FAILED)

    client = await connect_command(
        config,
        allow_reconnect=True,
        max_reconnect_attempts=max(1, math.ceil(args.reconnect_for / _RECONNECT_WAIT_S)),
        reconnect_time_wait=_RECONNECT_WAIT_S,
        closed_cb=closed,
    )
    out = sys.stdout.buffer

    async def show(msg: Any) -> None:
        if done.done():
            return
        try:
            out.write(line(msg.subject, msg.data))
            out.flush()
        except BrokenPipeError:
            # Nobody reads any more: stop, and keep the interpreter's last flush from failing.
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
            finish(EXIT_OK)

    for sig, code in ((signal.SIGINT, EXIT_INTERRUPTED), (signal.SIGTERM, EXIT_OK)):
        loop.add_signal_handler(sig, finish, code)
    await client.subscribe(args.pattern or Subjects(config.nats.subject_root).everything(), cb=show)
    code = await done
    if code == EXIT_FAILED:
        print(f"galfriday tail: lost the connection to NATS at {config.nats.url}", file=sys.stderr)
        return code
    await client.close()
    return code
