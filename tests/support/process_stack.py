"""The three actors as real processes against a test nats-server and an in-process simulator.

Used by suites that must see what a deployment sees: crashes are process exits, memory is a
process's RSS, health is asked over the bus like `galfriday health` does.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import yaml
from nats.aio.client import Client

from bus import Subjects
from kraken.sim import DEFAULT_API_KEY, DEFAULT_API_SECRET, RunningSim

__all__ = ["ACTOR_NAMES", "ProcessStack"]

REPO_ROOT = Path(__file__).resolve().parents[2]
ACTOR_NAMES = ("error-classifier", "market-data", "batch-router")


@dataclass
class ProcessStack:
    nats_url: str
    subject_root: str
    sim: RunningSim
    workdir: Path
    settings: dict[str, Any] = field(default_factory=dict)
    """Extra config sections, merged over the stack's own (e.g. ``{"execution": {...}}``)."""
    env_by_actor: dict[str, dict[str, str]] = field(default_factory=dict)
    """Extra environment per actor (e.g. its own ``GF_NATS_USER``/``GF_NATS_PASSWORD``)."""
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    killed: set[str] = field(default_factory=set)
    code_dir: Path = REPO_ROOT
    """Which checkout the actors run from (a benchmark compares two revisions)."""
    _logs: list[BinaryIO] = field(default_factory=list)

    @property
    def subjects(self) -> Subjects:
        return Subjects(self.subject_root)

    def config_path(self) -> Path:
        config: dict[str, Any] = {
            "nats": {"url": self.nats_url, "subject_root": self.subject_root},
            "kraken": {"rest_url": self.sim.rest_url, "ws_url": self.sim.ws_url},
            "market_data": {"pairs": ["BTC/USD", "ETH/USD"], "holiday_calendars": []},
            "execution": {"reconcile_delay_s": 0.1},
        }
        for section, values in self.settings.items():
            config.setdefault(section, {}).update(values)
        path = self.workdir / "stack.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    def start(self, names: Iterable[str] = ACTOR_NAMES) -> None:
        for name in names:
            self.start_instance(name, name)

    def start_instance(self, key: str, actor: str) -> subprocess.Popen[bytes]:
        """One more process of ``actor``, known (and logged) as ``key``: several instances of
        one actor run side by side under different keys."""
        config = self.config_path()
        env = {
            **os.environ,
            "GF_CONFIG": str(config),
            "KRAKEN_API_KEY": DEFAULT_API_KEY,
            "KRAKEN_API_SECRET": DEFAULT_API_SECRET,
        }
        log = (self.workdir / f"{key}.log").open("wb")
        self._logs.append(log)
        self.processes[key] = process = subprocess.Popen(
            [sys.executable, "-m", "actors.cli.main", "actor", actor],
            cwd=self.code_dir,
            env={**env, **self.env_by_actor.get(actor, {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return process

    async def wait_healthy(self, client: Client, timeout: float = 60.0) -> None:
        async with asyncio.timeout(timeout):
            for name in self.processes:
                while await self.health(client, name) is None:
                    self.raise_if_exited()
                    await asyncio.sleep(0.2)

    async def wait_until_priced(self, client: Client, timeout: float = 60.0) -> None:
        """Until the batch router holds a fresh reference price: a batch sent before that is
        rejected ``risk_reference_missing`` (a cold start, not what a suite tests)."""
        async with asyncio.timeout(timeout):
            while True:
                health = await self.health(client, "batch-router") or {}
                if health.get("pairs_priced", 0) >= 1 and not health.get("stale_pairs"):
                    return
                await asyncio.sleep(0.2)

    async def health(self, client: Client, name: str, timeout: float = 2.0) -> Any:
        """The actor's health report, or ``None`` when it does not answer in time."""
        try:
            reply = await client.request(
                self.subjects.service_endpoint(name, "health"), b"", timeout=timeout
            )
        except Exception:  # no responders yet, or a timeout
            return None
        return orjson.loads(reply.data)

    def exited(self) -> dict[str, int]:
        return {
            name: code
            for name, process in self.processes.items()
            if (code := process.poll()) is not None and name not in self.killed
        }

    def kill(self, key: str, sig: int = signal.SIGKILL) -> None:
        """Kill one process on purpose (it no longer counts as an unexpected exit)."""
        self.killed.add(key)
        self.processes[key].send_signal(sig)
        self.processes[key].wait(timeout=10)

    def raise_if_exited(self) -> None:
        if gone := self.exited():
            raise AssertionError(f"actor processes exited: {gone}; logs: {self.tails()}")

    def tails(self, lines: int = 15) -> dict[str, str]:
        tails = {}
        for name in self.processes:
            text = (self.workdir / f"{name}.log").read_text(errors="replace").splitlines()
            tails[name] = "\n".join(text[-lines:])
        return tails

    def rss_bytes(self, name: str) -> int:
        status = Path(f"/proc/{self.processes[name].pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"no VmRSS for {name}")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for log in self._logs:
            log.close()
        self._logs.clear()
