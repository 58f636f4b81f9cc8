"""One trace per batch across processes (issue 13.14).

`galfriday submit` (a process) starts the trace; the batch-router and the error-classifier run as
processes; each process exports its spans to its own file (``OTEL_TRACES_EXPORTER=jsonl``) and the
test joins the files into one tree. The simulator makes the first AddOrder fail with
EService:Unavailable, so the batch also asks the classifier for a verdict.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
import pytest_asyncio
import yaml
from nats.aio.client import Client

from kraken.sim import RunningSim, SimOptions, running_sim
from kraken.sim.scenario import OutageFault
from schemas import GalFridayConfig
from tests.support.process_stack import ACTOR_NAMES, REPO_ROOT, ProcessStack
from tests.support.waiting import eventually

pytestmark = [pytest.mark.nats, pytest.mark.sim, pytest.mark.timeout(180)]


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with running_sim(SimOptions(seed=7)) as running:
        yield running


@pytest_asyncio.fixture
async def client(bus_config: GalFridayConfig) -> AsyncIterator[Client]:
    connection = await nats.connect(bus_config.nats.url)
    yield connection
    await connection.drain()


def _traced(path: Path) -> dict[str, str]:
    return {"OTEL_TRACES_EXPORTER": "jsonl", "GF_TRACES_FILE": str(path)}


@pytest_asyncio.fixture
async def stack(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, tmp_path: Path
) -> AsyncIterator[ProcessStack]:
    running = ProcessStack(
        bus_config.nats.url,
        bus_config.nats.subject_root,
        sim,
        tmp_path,
        # REST order entry: the trace's HTTP spans of AddOrder are what this test follows.
        settings={"kraken": {"order_entry": "rest"}},
        env_by_actor={name: _traced(tmp_path / f"{name}.spans") for name in ACTOR_NAMES},
    )
    running.start()
    try:
        await running.wait_healthy(client)
        yield running
    finally:
        running.stop()


def _spans(directory: Path) -> list[dict[str, Any]]:
    return [
        orjson.loads(line)
        for path in sorted(directory.glob("*.spans"))
        for line in path.read_bytes().splitlines()
        if line
    ]


async def test_a_submitted_batch_is_one_trace_across_the_cli_router_and_classifier(
    stack: ProcessStack, sim: RunningSim, client: Client, tmp_path: Path
) -> None:
    await stack.wait_until_priced(client)
    sim.faults.add(OutageFault(endpoints=("AddOrder",), response="unavailable", calls=1))
    batch = tmp_path / "batch.yaml"
    batch.write_text(
        yaml.safe_dump(
            {
                "batch_id": "traced-1",
                "strategy": "SEQUENTIAL",
                "orders": [
                    {"pair": "BTC/USD", "side": "buy", "order_type": "market", "volume": "0.0001"}
                ],
            }
        )
    )
    submit = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "actors.cli.main",
        "submit",
        str(batch),
        "--wait",
        "--timeout",
        "60",
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "GF_CONFIG": str(stack.config_path()),
            **_traced(tmp_path / "cli.spans"),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await submit.communicate()
    assert submit.returncode == 0, output.decode()

    def completed_span_written() -> bool:
        return any(s["name"].endswith("orders.batch.completed publish") for s in _spans(tmp_path))

    await eventually(completed_span_written, timeout=10)
    spans = _spans(tmp_path)
    by_id = {span["span_id"]: span for span in spans}

    # The root: the command line's publish of the batch.
    (root,) = [s for s in spans if s["parent_id"] is None]
    assert root["service"] == "galfriday-cli"
    assert root["kind"] == "PRODUCER"
    assert root["name"].endswith("orders.batch.requested publish")
    assert {s["trace_id"] for s in spans} == {root["trace_id"]}, (
        "price ticks and polls started traces"
    )

    def ancestors(span: dict[str, Any]) -> list[str]:
        chain = []
        while span["parent_id"] is not None:
            span = by_id[span["parent_id"]]
            chain.append(span["name"])
        return chain

    (processing,) = [s for s in spans if s["name"].endswith("orders.batch.requested process")]
    assert processing["service"] == "batch-router"
    assert processing["parent_id"] == root["span_id"]
    assert processing["attributes"]["messaging.system"] == "nats"
    assert processing["attributes"]["messaging.destination.name"].endswith("orders.batch.requested")
    assert processing["attributes"]["messaging.message.id"] == "traced-1"

    http = [s for s in spans if s["kind"] == "CLIENT" and s["name"].startswith("POST ")]
    add_orders = [s for s in http if s["attributes"]["url.path"] == "/0/private/AddOrder"]
    assert len(add_orders) >= 2, [s["name"] for s in http]  # the refused one and the retry
    assert all(s["attributes"]["http.response.status_code"] == 200 for s in add_orders)
    assert all(s["attributes"]["http.request.method"] == "POST" for s in add_orders)
    assert all(processing["name"] in ancestors(s) for s in http)

    (asked,) = [s for s in spans if s["name"].endswith("errors.verdict send")]
    (answered,) = [s for s in spans if s["name"].endswith("errors.verdict process")]
    assert asked["service"] == "batch-router"
    assert answered["service"] == "error-classifier"
    assert answered["parent_id"] == asked["span_id"]
    assert processing["name"] in ancestors(asked)

    (completed,) = [s for s in spans if s["name"].endswith("orders.batch.completed publish")]
    assert completed["service"] == "batch-router"
    assert processing["name"] in ancestors(completed)
    assert completed["attributes"]["messaging.message.id"] == "traced-1:completed"

    assert not [s for s in spans if s["service"] == "market-data"]
