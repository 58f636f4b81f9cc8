"""Each benchmark runs end to end with tiny sizes, so `make bench` cannot rot unnoticed. No
figure is asserted beyond "it measured something": timing belongs to the benchmarks."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path

import orjson
import pytest

from bench import (
    actor_memory,
    batch_router,
    breakers,
    bus_throughput,
    durable_publish,
    order_latency,
    recovery,
    replay,
    run_all,
    sim_market,
    unfenced_router,
)
from bench.processes import sim_process
from schemas import BatchStrategy
from tests.support.nats_server import running_nats_server
from tests.support.process_stack import REPO_ROOT

pytestmark = [pytest.mark.nats, pytest.mark.timeout(300)]


def test_bus_throughput_measures_every_available_mode() -> None:
    best = bus_throughput.measure_all(events=500, rounds=1)
    expected = {"raw", "runtime"}
    if bus_throughput.faststream_installed():
        expected |= {"faststream", "faststream-tuned"}
    assert set(best) == expected
    assert all(rate > 0 for rate in best.values())


def test_durable_publish_measures_both_publishers() -> None:
    with running_nats_server() as server:
        found = asyncio.run(durable_publish.measure(server.url, rounds=2))
    assert set(found) == {"publish_acks", "nats_py"}
    assert all(wall > 0 and cpu >= 0 for wall, cpu in found.values())


def test_actor_memory_reports_every_actor() -> None:
    rss = asyncio.run(actor_memory.measure(seconds=1.0))
    assert set(rss) == {"error-classifier", "market-data", "batch-router"}
    assert all(mib > 0 for mib in rss.values())


def test_sim_market_measures_matching_and_the_book_pipeline() -> None:
    assert sim_market.matching_orders_per_s(orders=40, levels=50) > 0
    assert sim_market.book_updates_per_s(updates=40, depth=10) > 0


def test_order_latency_measures_batches_through_separate_processes() -> None:
    figures = asyncio.run(order_latency.measure(batches=3, warmup=1, rounds=2))
    for prefix in ("", "unfenced_"):  # the real router and the unfenced one, same run
        assert figures[f"{prefix}batches"] == 3
        assert 0 < figures[f"{prefix}p50_ms"] <= figures[f"{prefix}p99_ms"]
        assert figures[f"{prefix}p99_ms"] <= figures[f"{prefix}max_ms"]
    assert "fencing_p50_ms" in figures


def test_strategy_timing_runs_the_sim_and_the_router_as_processes(tmp_path: Path) -> None:
    """The loop shared by bench.batch_router and bench.ws_order_entry, over WS order entry."""

    async def timed() -> tuple[dict[BatchStrategy, float], list[float], dict[str, int]]:
        with running_nats_server() as server:
            async with sim_process(tmp_path) as sim:
                times, added = await batch_router.time_strategies(
                    sim,
                    server.url,
                    "benchsmoke",
                    {"order_entry": "ws"},
                    orders=6,
                    samples=2,
                    budget_s=0.0,
                )
                return times, added, (await sim.ledger())["requests"]

    times, added, requests = asyncio.run(timed())
    assert set(times) == set(BatchStrategy)
    assert all(elapsed > 0 for elapsed in times.values())
    assert len(added) == 2
    assert all(ms > 0 for ms in added)
    assert requests.get("ws:add_order")  # the router process really used WS order entry


def test_replay_measures_the_command_with_its_start_up() -> None:
    figures = replay.measure(events=500, runs=1)
    assert figures["events"] == 500
    assert figures["events_per_s"] > 0
    assert figures["run_s"] > 0


def test_breakers_measure_delays_and_calls_during_an_outage() -> None:
    figures = breakers.measure(outages=1, outage_seconds=(1.0,))
    assert figures["outage_1s_calls_without_breakers"] > 0
    assert figures["outage_1s_calls_with_breakers"] >= 0
    assert figures["detection_p50_ms_1_classifiers"] > 0


def test_every_bench_exposes_its_figures_for_the_collected_table() -> None:
    for name in run_all.BENCHES:
        module = importlib.import_module(f"bench.{name}")
        assert callable(module.figures), name


def test_run_all_prints_one_table_and_writes_the_json(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    assert run_all.main(["retries", "--output", str(output)]) == 0
    document = orjson.loads(output.read_bytes())
    figures = document["benches"]["retries"]
    assert figures["transient_failed_orders_retries_off"] > 0
    assert "transient_fewer_failed_pct" in run_all.table(document["benches"])


def test_recovery_measures_a_run_with_and_without_a_kill() -> None:
    runs = asyncio.run(recovery.compare({"after": REPO_ROOT}, batches=2, orders=3))
    assert [run.label for run in runs] == ["after-nokill", "after-kill"]
    assert all(run.terminal == 2 for run in runs)
    assert all(run.seconds > 0 for run in runs)


def test_the_unfenced_router_refuses_to_start_without_its_bench_guard(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(unfenced_router.GUARD_ENV, raising=False)
    assert unfenced_router.main(["--config", "unused.yaml"]) == 2
    assert unfenced_router.GUARD_ENV in capsys.readouterr().err
