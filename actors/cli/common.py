"""What every bus-facing command shares: config loading, one short-lived connection, exit codes.

Exit codes: 0 ok, 1 the operation failed, 2 bad arguments or configuration, 130 interrupted
(Ctrl-C, as shells report a SIGINT death).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import nats
from nats.aio.client import Client

from schemas import ConfigError, GalFridayConfig, load_config

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandFailed",
    "connect_command",
    "load_command_config",
    "run_command",
    "until_signalled",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

Body = Callable[[GalFridayConfig, argparse.Namespace], Coroutine[Any, Any, int]]


class CommandFailed(Exception):
    """A command's own failure, already worded for the user; ``code`` is the exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def load_command_config(args: argparse.Namespace) -> GalFridayConfig | None:
    try:
        return load_config(getattr(args, "config", None))
    except ConfigError as e:
        print(f"galfriday: {e}", file=sys.stderr)
        return None


def run_command(args: argparse.Namespace, body: Body) -> int:
    config = load_command_config(args)
    if config is None:
        return EXIT_USAGE
    try:
        code: int = asyncio.run(body(config, args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except CommandFailed as e:
        print(f"galfriday: {e}", file=sys.stderr)
        return e.code
    except TimeoutError as e:  # an OSError too: it must not read as "cannot reach NATS"
        print(f"galfriday: timed out{f': {e}' if str(e) else ''}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as e:
        print(f"galfriday: cannot reach NATS at {config.nats.url}: {e}", file=sys.stderr)
        return EXIT_FAILED
    return code


async def _quiet(error: Exception) -> None:
    """nats-py prints a traceback per failed attempt by default; the command reports once."""


async def connect_command(
    config: GalFridayConfig, timeout_s: float | None = None, **options: Any
) -> Client:
    """One short-lived connection for a command; raises ``OSError`` when NATS is unreachable.

    ``options`` go to ``nats.connect`` (e.g. ``closed_cb``, or reconnect settings).
    """
    settings: dict[str, Any] = {
        "connect_timeout": timeout_s or config.nats.connect_timeout_s,
        "allow_reconnect": False,
        # 0 would mean "retry forever" to nats-py's initial connect; 1 fails fast.
        "max_reconnect_attempts": 1,
        "reconnect_time_wait": 0.1,
        "error_cb": _quiet,
        "user": config.nats.user,
        "password": config.nats.password,
        "token": config.nats.token,
        "user_credentials": config.nats.creds_file,
        **options,
    }
    try:
        return await nats.connect(config.nats.url, **settings)
    except Exception as e:  # nats raises NoServersError, not an OSError
        raise OSError(f"{type(e).__name__}: {e}") from e


async def until_signalled() -> int:
    """Wait for SIGINT or SIGTERM; the exit code a command stopped this way should return."""
    stop: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    loop = asyncio.get_running_loop()
    for sig, code in ((signal.SIGINT, EXIT_INTERRUPTED), (signal.SIGTERM, EXIT_OK)):
        loop.add_signal_handler(sig, _resolve, stop, code)
    try:
        return await stop
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _resolve(future: asyncio.Future[int], code: int) -> None:
    if not future.done():
        future.set_result(code)
