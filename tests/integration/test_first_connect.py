"""An actor's first connect: bounded by ``nats.first_connect_timeout_s``, with backoff and jitter
between attempts, and a signal while connecting ends the process at once (issue 13 point 7)."""

from __future__ import annotations

import os
import random
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bus.connection import connect
from schemas import NatsConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 30.0


def _dead_url() -> str:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"nats://127.0.0.1:{port}"


async def test_first_connect_backs_off_with_jitter_and_gives_up_at_the_bound() -> None:
    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    config = NatsConfig(url=_dead_url(), first_connect_timeout_s=20.0, max_reconnect_wait_s=4.0)
    with pytest.raises(ConnectionError, match=r"after \d+ attempts in 20 s"):
        await connect(config, name="t", rng=random.Random(3), clock=lambda: now[0], sleep=sleep)
    assert sum(waits) == pytest.approx(20.0)
    assert 5 <= len(waits) < 40  # backoff: nowhere near 20 s / 124 ms = 160 attempts
    ceilings = [min(4.0, 0.25 * 2**attempt) for attempt in range(1, len(waits) + 1)]
    assert all(0.05 <= w <= max(c, 0.1) for w, c in zip(waits[:-1], ceilings, strict=False))
    assert len(set(waits)) > 3  # jittered, not one fixed wait


def _actor(tmp_path: Path, url: str, **nats: object) -> subprocess.Popen[bytes]:
    config = tmp_path / "gf.yaml"
    config.write_text(yaml.safe_dump({"nats": {"url": url, **nats}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GF_", "KRAKEN_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "actors.cli.main", "actor", "error-classifier", "--config", config],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_for_line(process: subprocess.Popen[bytes], needle: bytes) -> bytes:
    assert process.stderr is not None
    seen = b""
    deadline = time.monotonic() + DEADLINE_S
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([process.stderr], [], [], 0.5)
        if ready:
            seen += os.read(process.stderr.fileno(), 65536)
    assert needle in seen, seen.decode(errors="replace")[-2000:]
    return seen


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_a_signal_while_connecting_stops_the_actor(tmp_path: Path, signum: int, code: int) -> None:
    process = _actor(tmp_path, _dead_url())
    try:
        _wait_for_line(process, b"bus.")  # a failed attempt was logged: it is connecting
        process.send_signal(signum)
        try:
            exit_code = process.wait(DEADLINE_S)
        except subprocess.TimeoutExpired:
            exit_code = None
        assert exit_code == code
        assert process.stderr is not None
        assert b"Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        if process.stderr is not None:
            process.stderr.close()


def test_a_first_connect_that_never_succeeds_exits_1_naming_the_bound(tmp_path: Path) -> None:
    process = _actor(tmp_path, _dead_url(), first_connect_timeout_s=1)
    try:
        exit_code = process.wait(DEADLINE_S)
    except subprocess.TimeoutExpired:
        exit_code = None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.stderr is not None
    err = process.stderr.read()
    process.stderr.close()
    assert exit_code == 1
    assert b"nats.first_connect_timeout_s" in err
    assert b"bus.disconnected" not in err  # one line per failed attempt, no more
    assert b"Traceback" not in err
