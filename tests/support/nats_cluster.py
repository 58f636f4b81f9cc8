"""A three-node nats-server cluster (JetStream, routes on loopback) without Docker, for chaos tests.

Ports are picked free by binding port 0 first: nats-server needs every route's port up front.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.nats_server import nats_server_binary

__all__ = ["ClusterNode", "NatsCluster", "running_nats_cluster"]


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class ClusterNode:
    name: str
    client_port: int
    route_port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def config(self, routes: list[int]) -> str:
        route_urls = ", ".join(f'"nats-route://127.0.0.1:{port}"' for port in routes)
        return (
            f'server_name: "{self.name}"\n'
            f'listen: "127.0.0.1:{self.client_port}"\n'
            f'jetstream {{ store_dir: "{self.workdir / self.name}" }}\n'
            f'cluster {{ name: "gf", listen: "127.0.0.1:{self.route_port}", '
            f"routes: [{route_urls}] }}\n"
        )

    def start(self, routes: list[int]) -> None:
        path = self.workdir / f"{self.name}.conf"
        path.write_text(self.config(routes))
        self.process = subprocess.Popen(
            [nats_server_binary(), "-c", str(path), "-l", str(self.log_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        """SIGKILL: no goodbye to the cluster, no flush."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class NatsCluster:
    nodes: list[ClusterNode]

    @property
    def url(self) -> str:
        """The first node: clients learn the others from the cluster (connect_urls)."""
        return self.nodes[0].url

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def node(self, name: str) -> ClusterNode:
        return next(node for node in self.nodes if node.name == name)


def _wait_ready(nodes: list[ClusterNode], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    pending = list(nodes)
    while pending and time.monotonic() < deadline:
        for node in list(pending):
            assert node.process is not None
            if node.process.poll() is not None:
                log = node.log_path.read_text() if node.log_path.exists() else ""
                raise RuntimeError(f"{node.name} exited during start-up:\n{log[-2000:]}")
            if node.log_path.exists() and "Server is ready" in node.log_path.read_text():
                pending.remove(node)
        time.sleep(0.05)
    if pending:
        raise RuntimeError(f"nats cluster nodes not ready: {[n.name for n in pending]}")


@contextlib.contextmanager
def running_nats_cluster(size: int = 3, startup_timeout_s: float = 30.0) -> Iterator[NatsCluster]:
    with tempfile.TemporaryDirectory(prefix="gf-nats-cluster-") as workdir:
        ports = _free_ports(2 * size)
        nodes = [
            ClusterNode(f"n{i + 1}", ports[2 * i], ports[2 * i + 1], Path(workdir))
            for i in range(size)
        ]
        routes = [node.route_port for node in nodes]
        try:
            for node in nodes:
                node.start(routes)
            _wait_ready(nodes, startup_timeout_s)
            yield NatsCluster(nodes)
        finally:
            for node in nodes:
                node.stop()
