"""The simulator and batch routers as separate processes, as deployed, for the benches that
measure latency: the exchange's CPU (matching, its WS feeds) is not ours, so it must not share
our process or event loop. The sim is driven through its ``/sim/*`` control endpoints."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import orjson
import yaml
from nats.aio.client import Client

from bus import Subjects
from kraken.sim import DEFAULT_API_KEY, DEFAULT_API_SECRET
from kraken.sim.scenario import Fault

__all__ = [
    "REPO_ROOT",
    "ROUTER_COMMAND",
    "SimProcess",
    "free_port",
    "process",
    "router_config",
    "router_process",
    "sim_process",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
ROUTER_COMMAND = ("actors.cli.main", "actor", "batch-router")
DEFAULT_CREDENTIALS = {"KRAKEN_API_KEY": DEFAULT_API_KEY, "KRAKEN_API_SECRET": DEFAULT_API_SECRET}
_LOG_TAIL_BYTES = 4000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(
    args: Sequence[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``args``: a module and its arguments (``actors.cli.main actor batch-router``)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=REPO_ROOT,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=15)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(timeout=5)


def _log_tail(log: Path) -> str:
    try:
        return log.read_bytes()[-_LOG_TAIL_BYTES:].decode(errors="replace")
    except OSError:
        return "(no log)"


@asynccontextmanager
async def process(
    args: Sequence[str], log: Path, env: dict[str, str] | None = None
) -> AsyncIterator[subprocess.Popen[bytes]]:
    """A child process for the block; SIGTERM (then SIGKILL) when it ends."""
    child = _spawn(args, log, env)
    try:
        yield child
    finally:
        _stop(child)


@dataclass(frozen=True)
class SimProcess:
    """A running ``galfriday sim`` and its control endpoints."""

    port: int
    session: aiohttp.ClientSession

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/v2"

    @property
    def ws_auth_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/v2-auth"

    async def reset(self) -> None:
        """Fresh books, balances, rate counters and nonces; also clears faults."""
        await self._call("POST", "/sim/reset")

    async def add_faults(self, *faults: Fault) -> None:
        await self._call("POST", "/sim/faults", [msgspec.to_builtins(fault) for fault in faults])

    async def ledger(self) -> dict[str, Any]:
        """``orders`` (every order accepted, with ``cl_ord_id`` and ``time_ns``) and
        ``requests`` (count per endpoint, ``ws:add_order`` for the WS methods)."""
        body: dict[str, Any] = await self._call("GET", "/sim/ledger")
        return body

    async def ledger_times(self) -> dict[str, int]:
        """When the exchange accepted each order, per ``cl_ord_id`` (host clock, ns)."""
        orders = (await self.ledger())["orders"]
        return {entry["cl_ord_id"]: int(entry["time_ns"]) for entry in orders}

    async def _call(self, method: str, path: str, body: object = None) -> Any:
        data = None if body is None else orjson.dumps(body)
        headers = {} if data is None else {"Content-Type": "application/json"}
        url = f"{self.rest_url}{path}"
        async with self.session.request(method, url, data=data, headers=headers) as response:
            payload = await response.read()
            if response.status != 200:
                raise RuntimeError(f"{method} {path}: HTTP {response.status}: {payload!r}")
            return orjson.loads(payload)


@asynccontextmanager
async def sim_process(
    workdir: Path, extra_args: Sequence[str] = (), scenario: dict[str, Any] | None = None
) -> AsyncIterator[SimProcess]:
    """``galfriday sim`` on a free port (``--tier pro --seed 11`` plus ``extra_args``),
    answering once its REST ``Time`` does."""
    port = free_port()
    args = ["actors.cli.main", "sim", "--port", str(port), "--tier", "pro", "--seed", "11"]
    if scenario is not None:
        path = workdir / "scenario.yaml"
        path.write_text(yaml.safe_dump(scenario))
        args += ["--scenario", str(path)]
    log = workdir / f"sim-{port}.log"
    async with aiohttp.ClientSession() as session, process([*args, *extra_args], log) as child:
        sim = SimProcess(port=port, session=session)
        await _wait_for_sim(sim, child, log)
        yield sim


async def _wait_for_sim(sim: SimProcess, child: subprocess.Popen[bytes], log: Path) -> None:
    async with asyncio.timeout(30):
        while True:
            if child.poll() is not None:
                raise RuntimeError(
                    f"the simulator exited with {child.returncode}:\n{_log_tail(log)}"
                )
            try:
                async with sim.session.get(f"{sim.rest_url}/0/public/Time") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)


def router_config(
    workdir: Path,
    name: str,
    nats_url: str,
    root: str,
    sim: SimProcess,
    *,
    kraken: dict[str, Any] | None = None,
    execution: dict[str, Any] | None = None,
) -> Path:
    """A router config file against ``sim``; ``kraken``/``execution``: keys over the defaults
    (``tier: pro``, ``risk_check_enabled: false``)."""
    config = {
        "nats": {"url": nats_url, "subject_root": root},
        "kraken": {"rest_url": sim.rest_url, "ws_url": sim.ws_url, "tier": "pro", **(kraken or {})},
        "execution": {"risk_check_enabled": False, **(execution or {})},
    }
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@asynccontextmanager
async def router_process(
    client: Client,
    root: str,
    config_path: Path,
    log: Path,
    *,
    command: Sequence[str] = ROUTER_COMMAND,
    env: dict[str, str] | None = None,
) -> AsyncIterator[subprocess.Popen[bytes]]:
    """A batch router process (``command``; the default key unless ``env`` names one),
    answering once its micro-service health endpoint on ``root`` does."""
    router_env = {
        **DEFAULT_CREDENTIALS,
        **(env or {}),
        "GF_CONFIG": str(config_path),
        "GF_LOG_LEVEL": "warning",
    }
    args = [*command, "--config", str(config_path)]
    async with process(args, log, router_env) as router:
        await _wait_for_router(client, Subjects(root), router, log)
        yield router


async def _wait_for_router(
    client: Client, subjects: Subjects, router: subprocess.Popen[bytes], log: Path
) -> None:
    async with asyncio.timeout(60):
        while True:
            if router.poll() is not None:
                raise RuntimeError(f"the router exited with {router.returncode}:\n{_log_tail(log)}")
            try:
                endpoint = subjects.service_endpoint("batch-router", "health")
                await client.request(endpoint, b"", timeout=1.0)
                return
            except Exception:  # no responders yet, or a timeout
                await asyncio.sleep(0.2)
