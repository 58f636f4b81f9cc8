"""Least privilege (issue 13.13): nats-server started with the config `galfriday nats-config`
generates. Each actor runs as a process under its own user and the stack still places orders end
to end; a user publishing where it must not is refused by the server, so a batch sent by anyone
but the command line's user is never executed."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import msgspec
import nats
import pytest
import pytest_asyncio
import yaml
from nats.aio.client import Client
from nats.errors import Error as NatsError

from actors.cli.main import main
from actors.nats_authorization import password_variable
from actors.wiring import CLI_USER
from bus import Subjects, encode
from bus.codec import EVENTS
from bus.jetstream import MSG_ID_HEADER, ensure_topology
from kraken.sim import RunningSim, SimOptions, running_sim
from schemas import BatchCompleted, OrderBatchRequested
from schemas.orders import BatchStrategy, OrderRequest, OrderSide, OrderType
from tests.support.nats_server import NatsServer, running_nats_server
from tests.support.process_stack import ACTOR_NAMES, ProcessStack
from tests.support.waiting import eventually

pytestmark = [pytest.mark.nats, pytest.mark.sim, pytest.mark.timeout(180)]

USERS = (*ACTOR_NAMES, CLI_USER)


@pytest.fixture(scope="module")
def passwords() -> dict[str, str]:
    return {user: secrets.token_hex(16) for user in USERS}


@pytest.fixture(scope="module")
def root() -> str:
    return f"lp{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def secured_server(
    tmp_path_factory: pytest.TempPathFactory,
    passwords: dict[str, str],
    root: str,
) -> Iterator[NatsServer]:
    workdir = tmp_path_factory.mktemp("lp")
    config = workdir / "gf.yaml"
    config.write_text(yaml.safe_dump({"nats": {"subject_root": root}}))
    server_config = workdir / "nats-server.conf"
    command = ["nats-config", "--config", str(config), "--store-dir", str(workdir / "js")]
    with pytest.MonkeyPatch.context() as patch, server_config.open("w") as out:
        patch.setattr("sys.stdout", out)
        assert main(command) == 0
    env = {password_variable(user): password for user, password in passwords.items()}
    with running_nats_server(config_file=server_config, env=env) as server:
        yield server


async def _connect(server: NatsServer, user: str, password: str, errors: list[Exception]) -> Client:
    async def record(e: Exception) -> None:
        errors.append(e)

    return await nats.connect(
        server.url,
        name=f"test-as-{user}",
        user=user,
        password=password,
        error_cb=record,
        allow_reconnect=False,
    )


@pytest_asyncio.fixture
async def cli(
    secured_server: NatsServer, passwords: dict[str, str], root: str
) -> AsyncIterator[Client]:
    client = await _connect(secured_server, CLI_USER, passwords[CLI_USER], [])
    await ensure_topology(client.jetstream(), Subjects(root))
    yield client
    await client.close()


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with running_sim(SimOptions(seed=7)) as running:
        yield running


@pytest_asyncio.fixture
async def stack(
    secured_server: NatsServer,
    passwords: dict[str, str],
    root: str,
    sim: RunningSim,
    cli: Client,
    tmp_path: Path,
) -> AsyncIterator[ProcessStack]:
    running = ProcessStack(
        secured_server.url,
        root,
        sim,
        tmp_path,
        env_by_actor={
            name: {"GF_NATS_USER": name, "GF_NATS_PASSWORD": passwords[name]}
            for name in ACTOR_NAMES
        },
    )
    running.start()
    try:
        await running.wait_healthy(cli)
        yield running
    finally:
        running.stop()


def _batch(batch_id: str) -> OrderBatchRequested:
    order = OrderRequest(
        pair="BTC/USD",
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        volume=Decimal("0.0001"),
        cl_ord_id=batch_id,
    )
    now = time.time_ns()
    return OrderBatchRequested(
        ts_event=now,
        ts_init=now,
        batch_id=batch_id,
        orders=(order,),
        strategy=BatchStrategy.SEQUENTIAL,
    )


async def _handshake(server: NatsServer, connect: dict[str, object]) -> bytes:
    """The server's first answer to a CONNECT (raw protocol: nats-py leaks the socket of a
    refused connection)."""
    host, port = server.url.removeprefix("nats://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        await reader.readline()  # INFO
        writer.write(
            b"CONNECT " + json.dumps({"verbose": False, **connect}).encode() + b"\r\nPING\r\n"
        )
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_only_known_users_with_their_own_password_connect(
    secured_server: NatsServer, passwords: dict[str, str]
) -> None:
    assert b"Authorization Violation" in await _handshake(secured_server, {})
    wrong = {"user": "market-data", "pass": passwords[CLI_USER]}
    assert b"Authorization Violation" in await _handshake(secured_server, wrong)
    right = {"user": "market-data", "pass": passwords["market-data"]}
    assert await _handshake(secured_server, right) == b"PONG\r\n"


async def test_actors_run_under_their_own_users_and_only_the_cli_gets_a_batch_executed(
    stack: ProcessStack,
    sim: RunningSim,
    cli: Client,
    secured_server: NatsServer,
    passwords: dict[str, str],
) -> None:
    subjects = stack.subjects
    completed: dict[str, BatchCompleted] = {}

    async def on_completed(msg: object) -> None:
        event = EVENTS.decode(msg.data)  # type: ignore[attr-defined]
        if isinstance(event, BatchCompleted):
            completed[event.batch_id] = event

    await cli.subscribe(subjects.batch_completed(), cb=on_completed)

    # market-data may publish prices but not batches: the server refuses, nothing is stored.
    errors: list[Exception] = []
    market_data = await _connect(secured_server, "market-data", passwords["market-data"], errors)
    try:
        forged = _batch("forged-by-market-data")
        with pytest.raises((TimeoutError, NatsError)):
            await market_data.jetstream().publish(
                subjects.batch_requested(),
                encode(forged),
                headers={MSG_ID_HEADER: forged.batch_id},
                timeout=2,
            )
        await market_data.publish(subjects.batch_requested(), encode(_batch("forged-core")))
        # ... nor switch the kill switch, nor write the control bucket the router reads.
        await market_data.publish(subjects.kill_switch(), b"{}")
        await market_data.publish(f"$KV.{subjects.bucket_name('control')}.trading", b"{}")
        await market_data.flush()
        await eventually(lambda: len(errors) >= 4, timeout=5)
    finally:
        await market_data.close()
    assert all("permissions violation" in str(e).lower() for e in errors), errors
    assert any("orders.batch.requested" in str(e) for e in errors), errors

    # The command line's user submits a batch; the actors, each under its own user, execute it.
    legit = _batch("by-the-cli")
    await cli.jetstream().publish(
        subjects.batch_requested(), encode(legit), headers={MSG_ID_HEADER: legit.batch_id}
    )
    await eventually(lambda: legit.batch_id in completed, timeout=60)
    assert completed[legit.batch_id].placed == 1, msgspec.to_builtins(completed[legit.batch_id])
    await asyncio.sleep(1.0)  # room for a forged batch to be (wrongly) executed

    ledger = sorted(entry.cl_ord_id or "" for entry in sim.exchange.ledger())
    assert ledger == ["by-the-cli"], ledger
    assert set(completed) == {"by-the-cli"}
    stack.raise_if_exited()
    # The actors themselves never needed more than they were given.
    violations = [
        line for line in secured_server.log_path.read_text().splitlines() if "Violation" in line
    ]
    assert violations, "the server logged no refusal"
    assert all("test-as-market-data" in line for line in violations), violations
