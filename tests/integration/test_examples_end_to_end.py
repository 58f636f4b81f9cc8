"""Every batch in ``examples/`` is placed as written against the default sim: the three actors
(in-process runners) on a real nats-server, the sim on port 0 with its default seed, and
``galfriday submit FILE --wait --json`` as a user runs it (issue 13 point 1)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
import pytest_asyncio
import yaml

from actors.batch_router.shell import BatchRouterActor
from actors.error_classifier.shell import build_actor as build_classifier
from actors.market_data.shell import build_actor as build_market_data
from bus import ActorRunner
from kraken.credentials import Credentials
from kraken.sim import DEFAULT_API_KEY, DEFAULT_API_SECRET, RunningSim, SimOptions, running_sim
from schemas import GalFridayConfig, load_config
from tests.support.waiting import eventually

pytestmark = [pytest.mark.nats, pytest.mark.sim]

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO_ROOT / "examples").glob("*.yaml"))
ORDER_COUNTS = {path: len(yaml.safe_load(path.read_text())["orders"]) for path in EXAMPLES}
PAIRS = ("BTC/USD", "ETH/USD")


@pytest_asyncio.fixture
async def stack(
    bus_config: GalFridayConfig, tmp_path: Path
) -> AsyncIterator[tuple[Path, BatchRouterActor]]:
    async with running_sim(SimOptions()) as sim, _actors(bus_config, sim, tmp_path) as running:
        yield running


@contextlib.asynccontextmanager
async def _actors(
    bus_config: GalFridayConfig, sim: RunningSim, tmp_path: Path
) -> AsyncIterator[tuple[Path, BatchRouterActor]]:
    config_path = tmp_path / "gf.yaml"
    document = {
        "nats": {"url": bus_config.nats.url, "subject_root": bus_config.nats.subject_root},
        "kraken": {"rest_url": sim.rest_url, "ws_url": sim.ws_url},
        "market_data": {"pairs": list(PAIRS), "holiday_calendars": []},
    }
    config_path.write_text(yaml.safe_dump(document))
    config = load_config(str(config_path), env={})
    router = BatchRouterActor(
        config=config, credentials=Credentials(DEFAULT_API_KEY, DEFAULT_API_SECRET)
    )
    async with contextlib.AsyncExitStack() as stack:
        for actor in (build_classifier(config), build_market_data(config), router):
            await stack.enter_async_context(ActorRunner(actor, config))
        await eventually(lambda: all(router.market.reference_price(p) for p in PAIRS), 30)
        yield config_path, router


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.stem for path in EXAMPLES])
async def test_each_example_is_placed_as_written(
    example: Path, stack: tuple[Path, BatchRouterActor]
) -> None:
    config_path, _ = stack
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GF_", "KRAKEN_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "actors.cli.main",
        "submit",
        str(example),
        "--wait",
        "--json",
        "--timeout",
        "30",
        "--config",
        str(config_path),
        cwd=REPO_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode() + out.decode()
    outcome = msgspec.json.decode(out)
    assert outcome["type"] == "orders.batch.completed"
    assert outcome["placed"] == outcome["total"] == ORDER_COUNTS[example]
    assert all(result["txid"] for result in outcome["results"])
    count = ORDER_COUNTS[example]
    assert f"[{count}/{count}]" in err.decode()  # progress, one line per decided order


def test_there_is_one_example_per_strategy() -> None:
    strategies = {yaml.safe_load(path.read_text())["strategy"] for path in EXAMPLES}
    assert strategies == {"SEQUENTIAL", "PARALLEL", "SMART_ROUTING", "RISK_AWARE"}
