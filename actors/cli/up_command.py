"""``galfriday up``: nats-server (unless one answers), the venue, and the three actors.

The venue is decided by ``kraken.rest_url`` alone: a loopback URL is the simulator, started here
(or reused when one already answers there) with the exported credentials if any, else its dev
pair; anything else is the real exchange. The banner says which. A port held by something else
is reported at once with its cause; a child that fails ends ``up`` with 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from actors.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CommandFailed,
    connect_command,
    load_command_config,
)
from actors.cli.sim_command import SIM_SECRET_ENV
from bus import Subjects
from bus.logs import LOG_LEVEL_ENV, LOG_LEVELS
from kraken.credentials import load_credentials
from kraken.errors import MissingCredentialsError
from kraken.sim import DEFAULT_API_KEY, DEFAULT_API_SECRET
from schemas import GalFridayConfig

__all__ = ["Venue", "decide_venue", "nats_server_command", "register"]

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_START_WAIT_S = 15.0
_STOP_WAIT_S = 15.0
_ACTORS = ("error-classifier", "market-data", "batch-router")


def register(subparsers: Any) -> None:
    up = subparsers.add_parser("up", help="nats-server, the venue and all actors on this machine")
    up.add_argument("--config", help="YAML config file")
    up.add_argument("--log-level", choices=LOG_LEVELS, help="the actors' log level")
    up.set_defaults(handler=_up)


@dataclass(frozen=True)
class Venue:
    simulated: bool
    rest_url: str
    host: str
    port: int

    def banner(self, started: bool) -> str:
        if self.simulated:
            how = "started by up" if started else "already running"
            return f"venue: kraken-sim (simulated exchange) at {self.rest_url}, {how}"
        return f"venue: Kraken at {self.rest_url} - the REAL exchange, real orders"


def decide_venue(rest_url: str) -> Venue:
    """The simulator when ``rest_url`` is on this machine, else the real exchange."""
    url = urlsplit(rest_url)
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    return Venue(simulated=host in _LOOPBACK, rest_url=rest_url, host=host, port=port)


def nats_server_command(config: GalFridayConfig, state_dir: Path) -> list[str]:
    """A JetStream nats-server on the host and port of ``nats.url``; monitor per config."""
    url = urlsplit(config.nats.url)
    command = [str(Path(sys.executable).parent / "nats-server"), "-js"]
    command += ["-a", url.hostname or "127.0.0.1", "-p", str(url.port or 4222)]
    if config.nats.monitor_port:
        command += ["-m", str(config.nats.monitor_port)]
    return [*command, "-sd", str(state_dir / "nats"), "-l", str(state_dir / "nats-server.log")]


def port_taken(host: str, port: int) -> bool:
    """True when something accepts connections on ``host:port``."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1.0):
        return True
    return False


class Children:
    """The processes ``up`` started, stopped in reverse order (SIGTERM, then SIGKILL)."""

    def __init__(self) -> None:
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, command: Sequence[str], env: dict[str, str]) -> None:
        self.started.append((name, subprocess.Popen(command, env=env)))

    def failed(self) -> tuple[str, int] | None:
        for name, child in self.started:
            if (code := child.poll()) is not None:
                return name, code
        return None

    def stop(self) -> None:
        for _, child in reversed(self.started):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for _, child in reversed(self.started):
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(_STOP_WAIT_S)
            if child.poll() is None:
                child.kill()
                child.wait()


def _up(args: argparse.Namespace) -> int:
    config = load_command_config(args)
    if config is None:
        return EXIT_USAGE
    state_dir = Path(os.environ.get("GF_STATE_DIR", "var"))
    state_dir.mkdir(parents=True, exist_ok=True)
    children = Children()
    try:
        return asyncio.run(_up_async(config, args, state_dir, children))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except CommandFailed as e:
        print(f"galfriday up: {e}", file=sys.stderr)
        return e.code
    finally:
        children.stop()


async def _up_async(
    config: GalFridayConfig, args: argparse.Namespace, state_dir: Path, children: Children
) -> int:
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[int] = loop.create_future()

    def on_signal(code: int) -> None:
        if not stop.done():
            stop.set_result(code)

    for sig, code in ((signal.SIGINT, EXIT_INTERRUPTED), (signal.SIGTERM, EXIT_OK)):
        loop.add_signal_handler(sig, on_signal, code)
    env = dict(os.environ)
    if args.log_level:
        env[LOG_LEVEL_ENV] = args.log_level
    await _nats(config, state_dir, children, env, stop)
    await _refuse_a_second_stack(config)
    venue = decide_venue(config.kraken.rest_url)
    started = False
    if venue.simulated:
        started = await _sim(venue, children, env, stop)
    print(f"galfriday up: {venue.banner(started)}", flush=True)
    galfriday = [sys.executable, "-m", "actors"]
    for actor in _ACTORS:
        command = [*galfriday, "actor", actor]
        if args.config:
            command += ["--config", args.config]
        children.start(actor, command, env)
    names = ", ".join(name for name, _ in children.started)
    print(f"galfriday up: {names} (Ctrl-C stops all)", flush=True)
    while not stop.done():
        if failed := children.failed():
            name, code = failed
            print(f"galfriday up: {name} exited with {code}; stopping the rest", file=sys.stderr)
            return EXIT_FAILED
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(stop), 0.5)
    return stop.result()


async def _nats_answers(config: GalFridayConfig) -> bool:
    try:
        client = await connect_command(config, timeout_s=1.0)
    except OSError:
        return False
    await client.close()
    return True


async def _refuse_a_second_stack(config: GalFridayConfig) -> None:
    """Actors already answering under this subject root mean another stack is up: a second
    error-classifier would split the breakers' call reports (see the scaling model)."""
    subjects = Subjects(config.nats.subject_root)
    client = await connect_command(config)
    try:
        running = []
        for actor in _ACTORS:
            with contextlib.suppress(Exception):  # no responders, or no answer in time
                await client.request(subjects.service_endpoint(actor, "health"), b"", timeout=0.5)
                running.append(actor)
    finally:
        await client.close()
    if running:
        raise CommandFailed(
            f"{', '.join(running)} already running on {config.nats.url} under subject root "
            f"{config.nats.subject_root!r}: another stack is up; stop it, or give this one "
            "another nats.subject_root"
        )


async def _nats(
    config: GalFridayConfig,
    state_dir: Path,
    children: Children,
    env: dict[str, str],
    stop: asyncio.Future[int],
) -> None:
    if await _nats_answers(config):
        print(f"galfriday up: using the NATS server at {config.nats.url}", flush=True)
        return
    url = urlsplit(config.nats.url)
    host, port = url.hostname or "127.0.0.1", url.port or 4222
    if port_taken(host, port):
        raise CommandFailed(
            f"{host}:{port} (nats.url) is taken by something that does not speak NATS; "
            "stop it or choose another nats.url"
        )
    monitor = config.nats.monitor_port
    if monitor and port_taken(host, monitor):
        raise CommandFailed(
            f"{host}:{monitor} (nats.monitor_port, nats-server's monitor) is taken; "
            "choose another nats.monitor_port (0: no monitor)"
        )
    log = state_dir / "nats-server.log"
    log.unlink(missing_ok=True)
    children.start("nats-server", nats_server_command(config, state_dir), env)
    await _wait_ready("nats-server", lambda: _nats_answers(config), children, stop, log)


async def _sim_answers(venue: Venue) -> bool:
    timeout = aiohttp.ClientTimeout(total=1.0)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"{venue.rest_url.rstrip('/')}/0/public/Time") as response,
        ):
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


async def _sim(
    venue: Venue, children: Children, env: dict[str, str], stop: asyncio.Future[int]
) -> bool:
    """Start the simulator at the venue's address unless one answers there; True if started."""
    if await _sim_answers(venue):
        return False
    if port_taken(venue.host, venue.port):
        raise CommandFailed(
            f"{venue.host}:{venue.port} (kraken.rest_url) is taken by something that is not "
            "kraken-sim; stop it or point kraken.rest_url/ws_url elsewhere"
        )
    try:
        credentials = load_credentials(env)
    except MissingCredentialsError as e:
        raise CommandFailed(f"kraken credentials: {e}", EXIT_USAGE) from None
    key, secret = (
        (credentials.api_key, credentials.api_secret)
        if credentials is not None
        else (DEFAULT_API_KEY, DEFAULT_API_SECRET)
    )
    # The actors and the sim share one key pair: the exported one, else the sim's dev pair.
    env.update(KRAKEN_API_KEY=key, KRAKEN_API_SECRET=secret)
    env.pop("KRAKEN_API_SECRET_FILE", None)
    command = [sys.executable, "-m", "actors", "sim", "--host", venue.host]
    command += ["--port", str(venue.port), "--api-key", key]
    children.start("kraken-sim", command, {**env, SIM_SECRET_ENV: secret})  # not in argv (ps)
    await _wait_ready("kraken-sim", lambda: _sim_answers(venue), children, stop, None)
    return True


async def _wait_ready(
    name: str,
    ready: Any,
    children: Children,
    stop: asyncio.Future[int],
    log: Path | None,
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _START_WAIT_S
    while not await ready():
        if stop.done():
            raise CommandFailed("stopped during start-up", stop.result())
        if failed := children.failed():
            cause = _tail(log) if log is not None else "its error is printed above"
            raise CommandFailed(f"{failed[0]} exited with {failed[1]} during start-up: {cause}")
        if loop.time() > deadline:
            raise CommandFailed(f"{name} did not answer within {_START_WAIT_S:g} s")
        await asyncio.sleep(0.1)


def _tail(log: Path, lines: int = 3) -> str:
    try:
        text = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(line.strip() for line in text[-lines:]) or "(empty log)"
