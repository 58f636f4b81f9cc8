"""Fault injection of the simulated exchange: outages, latency, lost answers, garbage, lockout."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from kraken.sim import (
    LatencyFault,
    LockoutFault,
    LoseResponseFault,
    MalformedFault,
    ManualClock,
    OutageFault,
    RunningSim,
    SimOptions,
    StatusChange,
)
from tests.support.sim import SimClient, sim_fixture

pytestmark = pytest.mark.sim

ORDER = {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "volume": "0.01", "price": "40000"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def sim(clock: ManualClock) -> AsyncIterator[RunningSim]:
    async for running in sim_fixture(SimOptions(auto_tick=False, clock=clock)):
        running.exchange.set_price("XBTUSD", Decimal("50000.0"))
        yield running


@pytest.fixture
async def client(sim: RunningSim) -> AsyncIterator[SimClient]:
    async with SimClient(sim) as opened:
        yield opened


async def test_http_outage_for_n_calls_returns_html_5xx_then_recovers(
    sim: RunningSim, client: SimClient
) -> None:
    sim.faults.add(OutageFault(endpoints=("Ticker",), http_status=503, calls=2))
    first, second, third = [await client.public_raw("Ticker", pair="XBTUSD") for _ in range(3)]
    assert (first.status, first.content_type) == (503, "text/html")
    assert second.status == 503
    assert "<html>" in second.text
    assert third.status == 200
    assert third.json()["error"] == []
    assert sim.exchange.request_counts()["Ticker"] == 3
    assert (await client.public_raw("Time")).status == 200


@pytest.mark.parametrize(
    ("response", "error"), [("unavailable", "EService:Unavailable"), ("busy", "EService:Busy")]
)
async def test_service_outage_answers_kraken_error(
    sim: RunningSim, client: SimClient, response: str, error: str
) -> None:
    sim.faults.add(OutageFault(response=response, calls=1))  # type: ignore[arg-type]
    assert await client.private("AddOrder", ORDER) == {"error": [error]}
    assert sim.exchange.ledger() == []


async def test_outage_time_span_ends(
    sim: RunningSim, client: SimClient, clock: ManualClock
) -> None:
    sim.faults.add(OutageFault(response="unavailable", duration_s=5))
    assert await client.public("Time") == {"error": ["EService:Unavailable"]}
    clock.advance(5)
    assert (await client.public("Time"))["error"] == []


async def test_latency_longer_than_client_timeout_times_out(
    sim: RunningSim, client: SimClient
) -> None:
    sim.faults.add(LatencyFault(endpoints=("Time",), ms=1000, calls=1))
    with pytest.raises(TimeoutError):
        await client.session.get(
            f"{sim.rest_url}/0/public/Time", timeout=aiohttp.ClientTimeout(total=0.2)
        )


async def test_lost_response_by_timeout_still_places_the_order(
    sim: RunningSim, client: SimClient
) -> None:
    sim.faults.add(LoseResponseFault(mode="timeout", hold_s=30, calls=1))
    with pytest.raises(TimeoutError):
        await client.private("AddOrder", {**ORDER, "cl_ord_id": "lost-1"}, timeout_s=0.3)
    ledger = await client.ledger()
    assert [order["cl_ord_id"] for order in ledger["orders"]] == ["lost-1"]
    assert ledger["requests"]["AddOrder"] == 1
    found = (await client.private("OpenOrders", {"cl_ord_id": "lost-1"}))["result"]["open"]
    assert len(found) == 1


async def test_lost_response_by_dropped_connection_still_places_the_order(
    sim: RunningSim, client: SimClient
) -> None:
    sim.faults.add(LoseResponseFault(mode="drop", calls=1))
    with pytest.raises(aiohttp.ClientConnectionError):
        await client.private("AddOrder", {**ORDER, "cl_ord_id": "lost-2"})
    assert [entry.cl_ord_id for entry in sim.exchange.ledger()] == ["lost-2"]


async def test_lost_response_by_502_still_places_the_batch(
    sim: RunningSim, client: SimClient
) -> None:
    sim.faults.add(LoseResponseFault(mode="http_502", calls=1))
    batch = {"pair": "XBTUSD", "orders": [{k: v for k, v in ORDER.items() if k != "pair"}] * 2}
    answer = await client.private_raw("AddOrderBatch", batch, as_json=True)
    assert (answer.status, answer.content_type) == (502, "text/html")
    assert len(sim.exchange.ledger()) == 2


async def test_malformed_answers(sim: RunningSim, client: SimClient) -> None:
    sim.faults.add(MalformedFault(mode="html", endpoints=("Time",), calls=1))
    html = await client.public_raw("Time")
    assert (html.status, html.content_type) == (200, "text/html")
    sim.faults.add(MalformedFault(mode="truncated_json", endpoints=("Time",), calls=1))
    with pytest.raises(json.JSONDecodeError):
        (await client.public_raw("Time")).json()
    sim.faults.add(MalformedFault(mode="missing_result", endpoints=("Time",), calls=1))
    assert await client.public("Time") == {"error": []}
    sim.faults.add(MalformedFault(mode="wrong_types", endpoints=("Time", "AddOrder"), calls=2))
    assert isinstance((await client.public("Time"))["result"]["unixtime"], str)
    placed = await client.private("AddOrder", ORDER)
    assert isinstance(placed["result"]["txid"], str)  # an array on the real wire
    assert len(sim.exchange.ledger()) == 1


async def test_temporary_lockout_refuses_private_calls_for_its_duration(
    client: SimClient, sim: RunningSim, clock: ManualClock
) -> None:
    sim.faults.add(LockoutFault(duration_s=60))
    assert await client.private("Balance") == {"error": ["EGeneral:Temporary lockout"]}
    assert (await client.public("Time"))["error"] == []
    clock.advance(61)
    assert (await client.private("Balance"))["error"] == []


async def test_status_timeline_changes_status_at_its_offsets(
    sim: RunningSim, client: SimClient, clock: ManualClock
) -> None:
    sim.faults.add(StatusChange(at_s=5, status="maintenance"))
    sim.faults.add(StatusChange(at_s=8, status="online"))
    clock.advance(5)
    sim.exchange.process_time()
    assert (await client.public("SystemStatus"))["result"]["status"] == "maintenance"
    clock.advance(3)
    sim.exchange.process_time()
    assert (await client.public("SystemStatus"))["result"]["status"] == "online"


async def test_control_endpoint_adds_and_clears_faults(sim: RunningSim, client: SimClient) -> None:
    added = await client.control(
        "faults", {"kind": "outage", "response": "busy", "endpoints": ["Time"]}
    )
    assert added["ids"]
    assert await client.public("Time") == {"error": ["EService:Busy"]}
    async with client.session.delete(f"{sim.control_url}/faults") as cleared:
        assert cleared.status == 200
    assert (await client.public("Time"))["error"] == []
    async with client.session.post(
        f"{sim.control_url}/faults", json={"kind": "outage", "calls": 0}
    ) as bad:
        assert bad.status == 400
        assert "calls" in (await bad.json())["error"]


async def test_control_price_and_status_endpoints(sim: RunningSim, client: SimClient) -> None:
    assert (await client.control("price", {"pair": "XBTUSD", "price": "42000"}))["ask"] == "42000.1"
    assert (await client.control("status", {"status": "post_only"}))["status"] == "post_only"
    assert (await client.public("SystemStatus"))["result"]["status"] == "post_only"


async def test_scenario_file_faults_apply_from_start(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        "faults:\n  - {kind: outage, endpoints: [Time], response: busy, calls: 1}\n"
    )
    async for sim in sim_fixture(SimOptions(auto_tick=False, scenario=scenario)):
        async with SimClient(sim) as client:
            assert await client.public("Time") == {"error": ["EService:Busy"]}
            assert (await client.public("Time"))["error"] == []


async def test_same_seed_gives_same_fault_sequence_and_txids() -> None:
    async def run(seed: int) -> tuple[list[int], list[str]]:
        async for sim in sim_fixture(SimOptions(auto_tick=False, seed=seed, clock=ManualClock())):
            sim.faults.add(OutageFault(endpoints=("Time",), probability=0.5))
            async with SimClient(sim) as client:
                statuses = [(await client.public_raw("Time")).status for _ in range(16)]
                for _ in range(3):
                    await client.private("AddOrder", ORDER)
            return statuses, [entry.txid for entry in sim.exchange.ledger()]
        raise AssertionError("sim did not start")

    first, again, other = await run(11), await run(11), await run(12)
    assert first == again
    assert first != other
    assert {200, 503} == set(first[0])
