"""``galfriday actor NAME``: run one actor as this process."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
import sys
from typing import Any

from actors.cli.heap import freeze_startup_heap
from bus.errors import ReaderUnrecoverableError
from bus.logs import LOG_LEVEL_ENV, LOG_LEVELS, log_level, setup_logging
from bus.runtime import run_actor
from bus.telemetry import setup_telemetry
from schemas import ConfigError, load_config

__all__ = ["ACTOR_FACTORIES", "register"]

ACTOR_FACTORIES = {
    "market-data": "actors.market_data.shell",
    "error-classifier": "actors.error_classifier.shell",
    "batch-router": "actors.batch_router.shell",
}
"""Each module exposes ``build_actor(config: GalFridayConfig) -> bus.Actor``."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("actor", help="run one actor process")
    parser.add_argument("name", choices=sorted(ACTOR_FACTORIES))
    parser.add_argument("--config", help="YAML config file (default $GF_CONFIG or ./config.yaml)")
    parser.add_argument(
        "--log-level", choices=LOG_LEVELS, help=f"default ${LOG_LEVEL_ENV}, else info"
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"galfriday: {e}", file=sys.stderr)
        return 2
    try:
        level = log_level(args.log_level)
    except ValueError as e:
        print(f"galfriday: {e}", file=sys.stderr)
        return 2
    setup_logging(args.name, level)
    setup_telemetry(args.name)
    module = importlib.import_module(ACTOR_FACTORIES[args.name])
    try:
        actor = module.build_actor(config)
    except ConfigError as e:
        print(f"galfriday: {e}", file=sys.stderr)
        return 2
    freeze_startup_heap()
    try:
        stopped_by = asyncio.run(run_actor(actor, config))
    except ConfigError as e:  # found while starting, e.g. an API key another process holds
        print(f"galfriday: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"galfriday: cannot reach NATS at {config.nats.url}: {e}", file=sys.stderr)
        return 1
    except ReaderUnrecoverableError as e:
        print(f"galfriday: {e}; exiting for a supervisor to restart", file=sys.stderr)
        return 70  # EX_SOFTWARE
    return 130 if stopped_by == signal.SIGINT else 0
