"""Chaos: the same batch id submitted again after the orders stream's duplicate window has passed
(``galfriday submit`` of an old file, a client retrying a day later). The stream accepts it as a
new message; the router must refuse it with ``BatchRejected(duplicate_batch_id)`` and send nothing
to the exchange. The window is shortened on the test's own stream (instead of waiting 10 minutes):
the same state a desk reaches after the real window.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from nats.aio.client import Client

from bus import Subjects
from kraken.sim import RunningSim
from schemas import GalFridayConfig
from schemas.events import BatchCompleted, BatchRejected
from tests.chaos.harness import (
    BATCHES,
    ORDERS,
    batch,
    chaos_sim,
    classifier_and_router,
    judge,
    stored_events,
    submit,
    write_router_config,
)

pytestmark = [pytest.mark.nats, pytest.mark.sim, pytest.mark.timeout(300)]

WINDOW_S = 1.0


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with chaos_sim(seed=41) as running:
        yield running


async def _shorten_duplicate_window(client: Client, subjects: Subjects) -> None:
    js = client.jetstream()
    info = await js.stream_info(subjects.stream_name("orders"))
    info.config.duplicate_window = WINDOW_S
    await js.update_stream(info.config)


async def test_batch_id_submitted_after_the_dedup_window_is_rejected_and_sends_nothing(
    bus_config: GalFridayConfig, sim: RunningSim, client: Client, tmp_path: Path
) -> None:
    subjects = Subjects(bus_config.nats.subject_root)
    config = write_router_config(
        tmp_path / "router.yaml", nats_url=bus_config.nats.url, root=subjects.root, sim=sim
    )
    batch_ids = [f"again-{n}" for n in range(BATCHES)]
    async with classifier_and_router(config, tmp_path, client, subjects):
        await _shorten_duplicate_window(client, subjects)
        first_seqs = [await submit(client, subjects, batch(b, ORDERS)) for b in batch_ids]
        events: list[object] = []

        async def refresh() -> None:
            events[:] = await stored_events(client, subjects)

        def completed() -> set[str]:
            return {e.batch_id for e in events if isinstance(e, BatchCompleted)}

        async with asyncio.timeout(60 + 5 * BATCHES):
            while completed() < set(batch_ids):
                await asyncio.sleep(0.3)
                await refresh()
        placed_before = len(sim.exchange.ledger())
        calls_before = sim.exchange.placement_requests()
        await asyncio.sleep(WINDOW_S + 0.5)  # past the stream's duplicate window
        again_seqs = [await submit(client, subjects, batch(b, ORDERS)) for b in batch_ids]
        assert min(again_seqs) > max(first_seqs)  # the stream took them as new requests

        def rejected() -> dict[str, str]:
            return {e.batch_id: e.reason for e in events if isinstance(e, BatchRejected)}

        async with asyncio.timeout(60 + 5 * BATCHES):
            while set(rejected()) < set(batch_ids):
                await asyncio.sleep(0.3)
                await refresh()
    assert all(reason.startswith("duplicate_batch_id") for reason in rejected().values())
    assert len(sim.exchange.ledger()) == placed_before
    assert sim.exchange.placement_requests() == calls_before  # nothing sent
    final = await stored_events(client, subjects)
    verdict = judge("batch-id-reused", sim, final, dict.fromkeys(batch_ids, ORDERS))
    assert verdict.duplicated == verdict.lost == 0, verdict.line()
    assert verdict.unreported == verdict.misreported == [], verdict.line()
    # One BatchCompleted for the run and one BatchRejected for the reuse, per batch id.
    assert verdict.terminal_events == dict.fromkeys(batch_ids, 2), verdict.line()
    assert sum(isinstance(e, BatchCompleted) for e in final) == len(batch_ids)
