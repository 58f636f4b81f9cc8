"""Shared fixtures: a real nats-server per test session and a unique subject root per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import msgspec
import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client

from schemas import GalFridayConfig, NatsConfig
from tests.support.nats_server import NatsServer, running_nats_server


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer]:
    with running_nats_server() as server:
        yield server


@pytest.fixture
def subject_root() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def bus_config(nats_server: NatsServer, subject_root: str) -> GalFridayConfig:
    """Defaults, pointed at the test server, under a root no other test uses."""
    nats = NatsConfig(url=nats_server.url, subject_root=subject_root)
    return msgspec.structs.replace(GalFridayConfig(), nats=nats)


@pytest_asyncio.fixture
async def client(bus_config: GalFridayConfig) -> AsyncIterator[Client]:
    """A plain nats-py connection to the test server, for publishing and observing."""
    connection = await nats.connect(bus_config.nats.url)
    yield connection
    await connection.drain()
