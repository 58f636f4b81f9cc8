"""``galfriday healthcheck ACTOR``: exit 0 when that actor answers its health endpoint (for
container health checks), 1 otherwise."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import nats

from bus.subjects import Subjects
from schemas import ConfigError, load_config

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("healthcheck", help="exit 0 if ACTOR answers its health check")
    parser.add_argument("actor")
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--config", help="YAML config file")
    parser.set_defaults(handler=_healthcheck)


def _healthcheck(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"galfriday: {e}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(asyncio.wait_for(_ask(config, args.actor), args.timeout))
    except Exception as e:  # unreachable server, no responders, timeout: all unhealthy
        print(f"galfriday: {args.actor} unhealthy: {type(e).__name__}", file=sys.stderr)
        return 1


async def _ask(config: Any, actor: str) -> int:
    client = await nats.connect(
        config.nats.url,
        allow_reconnect=False,
        max_reconnect_attempts=1,
        user=config.nats.user,
        password=config.nats.password,
        token=config.nats.token,
        user_credentials=config.nats.creds_file,
    )
    try:
        subject = Subjects(config.nats.subject_root).service_endpoint(actor, "health")
        await client.request(subject, b"", timeout=2)
        return 0
    finally:
        await client.close()
