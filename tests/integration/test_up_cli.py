"""``galfriday up``: the venue comes from the URL (not from exported credentials) and is named;
a port held by something else fails at once with its cause; a failed child is exit 1; a router
stuck on AssetPairs at start stops on SIGTERM (issue 13 points 2 and 6)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
import yaml

from actors.cli.up_command import decide_venue, nats_server_command
from bus import Subjects
from bus.logs import LOG_LEVEL_ENV
from kraken.sim import DEFAULT_API_KEY, DEFAULT_API_SECRET
from schemas import GalFridayConfig, NatsConfig
from tests.support.cli import write_config

REPO_ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 60.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextlib.contextmanager
def _listener() -> Iterator[int]:
    """A TCP listener that is not NATS (accepts, says nothing)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GF_", "KRAKEN_"))}
    return {**env, "GF_STATE_DIR": str(tmp_path / "state"), **extra}


def _up(config: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "actors.cli.main", "up", "--config", str(config)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a signal to the test's group must not reach it
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int | None, str, str]:
    try:
        out, err = process.communicate(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        return None, out, err
    return process.returncode, out, err


# -- pure decisions -----------------------------------------------------------------------------


def test_the_venue_is_decided_by_the_url() -> None:
    assert decide_venue("http://127.0.0.1:8900").simulated
    assert decide_venue("http://localhost:9001").port == 9001
    real = decide_venue("https://api.kraken.com")
    assert not real.simulated
    assert "REAL exchange" in real.banner(started=False)


def test_the_monitor_port_is_configurable(tmp_path: Path) -> None:
    config = GalFridayConfig(nats=NatsConfig(url="nats://127.0.0.1:4333", monitor_port=9333))
    command = nats_server_command(config, tmp_path)
    assert command[command.index("-m") + 1] == "9333"
    assert command[command.index("-p") + 1] == "4333"
    assert "8222" not in command
    no_monitor = GalFridayConfig(nats=NatsConfig(monitor_port=0))
    assert "-m" not in nats_server_command(no_monitor, tmp_path)


# -- the command --------------------------------------------------------------------------------


@pytest.mark.nats
@pytest.mark.sim
def test_exported_sim_credentials_still_start_the_sim_and_the_banner_names_it(
    tmp_path: Path, bus_config: GalFridayConfig
) -> None:
    port = _free_port()
    rest = f"http://127.0.0.1:{port}"
    config = write_config(
        tmp_path,
        bus_config,
        kraken={"rest_url": rest, "ws_url": f"ws://127.0.0.1:{port}/ws/v2"},
        market_data={"holiday_calendars": []},
    )
    env = _env(tmp_path, KRAKEN_API_KEY=DEFAULT_API_KEY, KRAKEN_API_SECRET=DEFAULT_API_SECRET)
    process = _up(config, {**env, LOG_LEVEL_ENV: "warning"})
    try:
        asyncio.run(_wait_router_healthy(bus_config))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    code, out, err = _finish(process)
    assert f"venue: kraken-sim (simulated exchange) at {rest}, started by up" in out, out + err
    assert code == 130, err
    assert "Traceback" not in err


async def _wait_router_healthy(config: GalFridayConfig) -> None:
    client = await nats.connect(config.nats.url)
    subject = Subjects(config.nats.subject_root).service_endpoint("batch-router", "health")
    try:
        async with asyncio.timeout(DEADLINE_S):
            while True:
                with contextlib.suppress(Exception):
                    await client.request(subject, b"", timeout=1)
                    return
                await asyncio.sleep(0.3)
    finally:
        await client.close()


def test_a_non_nats_listener_on_the_nats_port_fails_at_once_naming_it(tmp_path: Path) -> None:
    with _listener() as port:
        config = tmp_path / "gf.yaml"
        config.write_text(yaml.safe_dump({"nats": {"url": f"nats://127.0.0.1:{port}"}}))
        code, out, err = _finish(_up(config, _env(tmp_path)))
    assert code == 1, out + err
    assert f"127.0.0.1:{port} (nats.url) is taken by something that does not speak NATS" in err


def test_a_taken_monitor_port_fails_at_once_naming_the_key(tmp_path: Path) -> None:
    with _listener() as monitor:
        config = tmp_path / "gf.yaml"
        nats = {"url": f"nats://127.0.0.1:{_free_port()}", "monitor_port": monitor}
        config.write_text(yaml.safe_dump({"nats": nats}))
        code, out, err = _finish(_up(config, _env(tmp_path)))
    assert code == 1, out + err
    assert "nats.monitor_port" in err


@pytest.mark.nats
def test_a_child_that_fails_makes_up_exit_1(tmp_path: Path, bus_config: GalFridayConfig) -> None:
    # A real-exchange URL without credentials: the router refuses to start (exit 2).
    config = write_config(
        tmp_path,
        bus_config,
        kraken={"rest_url": "https://kraken.invalid", "ws_url": "wss://kraken.invalid/v2"},
        market_data={"holiday_calendars": []},
    )
    code, out, err = _finish(_up(config, _env(tmp_path)))
    assert code == 1, out + err
    assert "venue: Kraken at https://kraken.invalid - the REAL exchange" in out
    assert "batch-router exited with 2" in err


@pytest.mark.nats
def test_a_router_waiting_on_asset_pairs_stops_on_sigterm(
    tmp_path: Path, bus_config: GalFridayConfig
) -> None:
    port = _free_port()  # nobody answers AssetPairs there
    config = write_config(
        tmp_path,
        bus_config,
        kraken={"rest_url": f"http://127.0.0.1:{port}", "ws_url": f"ws://127.0.0.1:{port}/ws"},
    )
    env = _env(tmp_path, KRAKEN_API_KEY=DEFAULT_API_KEY, KRAKEN_API_SECRET=DEFAULT_API_SECRET)
    process = subprocess.Popen(
        [sys.executable, "-m", "actors.cli.main", "actor", "batch-router", "--config", config],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:  # wait until it is looping on AssetPairs
            line = process.stderr.readline()
            if "pairs.unavailable" in line or not line:
                break
        process.send_signal(signal.SIGTERM)
        code = process.wait(DEADLINE_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
    assert code == 0


@pytest.mark.nats
def test_a_second_stack_on_the_same_bus_is_refused_naming_the_cause(
    tmp_path: Path, bus_config: GalFridayConfig
) -> None:
    config = write_config(tmp_path, bus_config)

    async def run_up_beside_a_classifier() -> tuple[int | None, str, str]:
        client = await nats.connect(bus_config.nats.url)
        subjects = Subjects(bus_config.nats.subject_root)

        async def healthy(msg: Any) -> None:
            await msg.respond(b"{}")

        await client.subscribe(subjects.service_endpoint("error-classifier", "health"), cb=healthy)
        await client.flush()
        try:
            return await asyncio.to_thread(_finish, _up(config, _env(tmp_path)))
        finally:
            await client.close()

    code, out, err = asyncio.run(run_up_beside_a_classifier())
    assert code == 1, out + err
    assert "error-classifier already running" in err
    assert "another stack is up" in err
