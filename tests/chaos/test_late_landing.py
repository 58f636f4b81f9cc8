"""Chaos: an order reaches the matching engine seconds after the router sent it (a queue under
load), and the connection is dropped at once, so the router learns nothing. Kraken's ``deadline``
(``execution.placement_deadline_s``) decides its fate when the engine sees it:

- held less than the deadline, it lands late: the router must find it and not place it again;
- held past the deadline, the engine refuses it: once the deadline plus ``absent_margin_s`` has
  passed the router may place it again, and must, for every intended order to exist exactly once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from nats.aio.client import Client

from bus import Subjects
from kraken.sim import LateLandingFault, RunningSim
from schemas import GalFridayConfig
from tests.chaos.harness import (
    ORDERS,
    batch,
    chaos_sim,
    classifier_and_router,
    judge,
    stored_events,
    submit,
    wait_for_terminal,
    write_router_config,
)

pytestmark = [pytest.mark.nats, pytest.mark.sim, pytest.mark.timeout(300)]

DEADLINE_S = 3.0


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with chaos_sim(seed=31) as running:
        yield running


async def _run_with_one_late_order(
    hold_s: float,
    order_entry: str,
    bus_config: GalFridayConfig,
    sim: RunningSim,
    client: Client,
    tmp_path: Path,
) -> None:
    subjects = Subjects(bus_config.nats.subject_root)
    config = write_router_config(
        tmp_path / "router.yaml",
        nats_url=bus_config.nats.url,
        root=subjects.root,
        sim=sim,
        order_entry=order_entry,
        placement_deadline_s=DEADLINE_S,
        absent_margin_s=0.5,
        batch_ack_wait_s=30.0,
    )
    batch_ids = ["late-0", "late-1"]
    async with classifier_and_router(config, tmp_path, client, subjects):
        await submit(client, subjects, batch(batch_ids[0], ORDERS))
        await wait_for_terminal(client, subjects, batch_ids[:1], timeout=30)
        # The first order of the second batch is held by the engine's queue.
        late = LateLandingFault(endpoints=("AddOrder",), hold_s=hold_s, answer="drop", calls=1)
        fault_id = sim.exchange.faults.add(late)
        await submit(client, subjects, batch(batch_ids[1], ORDERS))
        await wait_for_terminal(client, subjects, batch_ids, timeout=60)
    fired = {f["id"]: f["fired"] for f in sim.exchange.faults.describe()}
    assert fired[fault_id] == 1  # the order really was held
    events = await stored_events(client, subjects)
    calls = await stored_events(client, subjects, "kraken")
    verdict = judge(
        f"late-landing over {order_entry} hold={hold_s}s deadline={DEADLINE_S}s",
        sim,
        events,
        dict.fromkeys(batch_ids, ORDERS),
        calls,
    )
    verdict.assert_exactly_once(batch_ids)


@pytest.mark.parametrize("order_entry", ["rest", "ws"])
async def test_order_landing_late_within_its_deadline_is_found_not_placed_again(
    order_entry: str, bus_config: GalFridayConfig, sim: RunningSim, client: Client, tmp_path: Path
) -> None:
    await _run_with_one_late_order(DEADLINE_S - 1.0, order_entry, bus_config, sim, client, tmp_path)


@pytest.mark.parametrize("order_entry", ["rest", "ws"])
async def test_order_refused_past_its_deadline_is_placed_again_once(
    order_entry: str, bus_config: GalFridayConfig, sim: RunningSim, client: Client, tmp_path: Path
) -> None:
    await _run_with_one_late_order(DEADLINE_S + 1.5, order_entry, bus_config, sim, client, tmp_path)
