"""Each benchmark runs end to end with tiny sizes, so `make bench` cannot rot unnoticed. No
figure is asserted beyond "it measured something": timing belongs to the benchmarks."""

from __future__ import annotations

import asyncio

import pytest

from bench import actor_memory, bus_throughput, recovery, sim_market
from tests.support.process_stack import REPO_ROOT

pytestmark = [pytest.mark.nats, pytest.mark.timeout(300)]


def test_bus_throughput_measures_every_available_mode() -> None:
    best = bus_throughput.measure_all(events=500, rounds=1)
    expected = {"raw", "runtime"}
    if bus_throughput.faststream_installed():
        expected |= {"faststream", "faststream-tuned"}
    assert set(best) == expected
    assert all(rate > 0 for rate in best.values())


def test_actor_memory_reports_every_actor() -> None:
    rss = asyncio.run(actor_memory.measure(seconds=1.0))
    assert set(rss) == {"error-classifier", "market-data", "batch-router"}
    assert all(mib > 0 for mib in rss.values())


def test_sim_market_measures_matching_and_the_book_pipeline() -> None:
    assert sim_market.matching_orders_per_s(orders=40, levels=50) > 0
    assert sim_market.book_updates_per_s(updates=40, depth=10) > 0


def test_recovery_measures_a_run_with_and_without_a_kill() -> None:
    runs = asyncio.run(recovery.compare({"after": REPO_ROOT}, batches=2, orders=3))
    assert [run.label for run in runs] == ["after-nokill", "after-kill"]
    assert all(run.terminal == 2 for run in runs)
    assert all(run.seconds > 0 for run in runs)
