"""Pure parts of the simulated exchange: nonces, prices, orders, scenarios and fault draws."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from kraken.sim import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    LatencyFault,
    ManualClock,
    OutageFault,
    ScenarioError,
    SimOptions,
    StatusChange,
    parse_scenario,
)
from kraken.sim.auth import NonceTracker
from kraken.sim.errors import (
    COST_MINIMUM_NOT_MET,
    ORDER_MINIMUM_NOT_MET,
    TICK_SIZE_CHECK_FAILED,
    SimError,
)
from kraken.sim.faults import FaultInjector
from kraken.sim.orders import parse_order
from kraken.sim.pairs import find_pair, find_ws_pair
from kraken.sim.prices import PriceProcess
from kraken.sim.rest import parse_form
from kraken.sim.wire import format_decimal, rfc1123


def _pair(name: str = "XBTUSD"):  # type: ignore[no-untyped-def]
    spec = find_pair(name)
    assert spec is not None
    return spec


def test_nonce_without_window_must_strictly_increase() -> None:
    tracker = NonceTracker()
    assert tracker.accept(10)
    assert not tracker.accept(10)
    assert not tracker.accept(9)
    assert tracker.accept(11)


def test_nonce_within_window_is_accepted_once() -> None:
    tracker = NonceTracker(window=5)
    assert tracker.accept(100)
    assert tracker.accept(97)
    assert not tracker.accept(97)
    assert not tracker.accept(94)
    assert not tracker.accept(100)


def test_dev_credentials_are_marked_and_secret_is_64_bytes() -> None:
    import base64

    assert "NOT-A-REAL" in DEFAULT_API_KEY
    assert len(base64.b64decode(DEFAULT_API_SECRET)) == 64
    assert DEFAULT_API_SECRET not in repr(SimOptions())


def test_pair_lookup_accepts_id_altname_and_v2_symbol_but_not_legacy_wsname() -> None:
    assert find_pair("XXBTZUSD") is find_pair("XBTUSD") is find_pair("BTC/USD")
    assert find_pair("XBT/USD") is None
    assert find_ws_pair("BTC/USD") is _pair("XBTUSD")
    assert find_ws_pair("XBT/USD") is None


def test_price_process_is_deterministic_for_a_seed() -> None:
    def path(seed: int) -> list[Decimal]:
        process = PriceProcess(_pair(), seed, now_ns=0)
        return [process.step(now_ns=i).last for i in range(50)]

    assert path(7) == path(7)
    assert path(7) != path(8)


def test_price_process_stays_on_the_tick_grid_with_a_one_tick_spread() -> None:
    spec = _pair("ETHXBT")
    process = PriceProcess(spec, 3, now_ns=0)
    for i in range(100):
        quote = process.step(now_ns=i)
        assert quote.bid % spec.tick_size == 0
        assert quote.ask - quote.bid == spec.tick_size


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"volume": "0.00001", "price": "50000.0"}, ORDER_MINIMUM_NOT_MET),
        ({"volume": "0.001", "price": "50000.05"}, TICK_SIZE_CHECK_FAILED),
        ({"volume": "0.00005", "price": "1000.0"}, COST_MINIMUM_NOT_MET),
        ({"volume": "abc", "price": "50000.0"}, "EGeneral:Invalid arguments:volume"),
        ({"volume": "0.000000001", "price": "50000.0"}, "EGeneral:Invalid arguments:volume"),
        ({"volume": "0.01"}, "EGeneral:Invalid arguments:price"),
        ({"volume": "0.01", "price": "5%"}, "EGeneral:Invalid arguments:price"),
        ({"volume": "0.01", "price": "+abc"}, "EGeneral:Invalid arguments:price"),
        (
            {"volume": "0.01", "price": "50000.0", "oflags": "viqc"},
            "EGeneral:Invalid arguments:oflags",
        ),
        (
            {"volume": "0.01", "price": "50000.0", "cl_ord_id": "x" * 19},
            "EGeneral:Invalid arguments:cl_ord_id",
        ),
    ],
)
def test_parse_order_when_invalid_then_kraken_error(params: dict[str, str], error: str) -> None:
    with pytest.raises(SimError) as raised:
        parse_order({"type": "buy", "ordertype": "limit", **params}, _pair(), Decimal(50000), 0)
    assert raised.value.error == error


def test_parse_order_accepts_uuid_cl_ord_id_and_describes_like_kraken() -> None:
    intent = parse_order(
        {
            "type": "buy",
            "ordertype": "limit",
            "volume": "1.25",
            "price": "37500",
            "cl_ord_id": "6d1b345e-2821-40e2-ad83-4ecb18a06876",
        },
        _pair(),
        Decimal(37500),
        0,
    )
    assert intent.describe() == "buy 1.25000000 XBTUSD @ limit 37500.0"


def test_parse_form_decodes_bracketed_batch_orders() -> None:
    body = b"nonce=1&pair=XBTUSD&orders[0][type]=buy&orders[0][volume]=1&orders[1][type]=sell"
    assert parse_form(body) == {
        "nonce": "1",
        "pair": "XBTUSD",
        "orders": [{"type": "buy", "volume": "1"}, {"type": "sell"}],
    }


def test_wire_formats_match_kraken() -> None:
    assert format_decimal(Decimal(0), 8) == "0.00000000"
    assert format_decimal(Decimal("37500"), 1) == "37500.0"
    assert rfc1123(1_762_820_224 * 1_000_000_000) == "Tue, 11 Nov 25 00:17:04 +0000"


def test_scenario_error_names_the_offending_key() -> None:
    with pytest.raises(ScenarioError, match=r"faults\[0\]\.calls"):
        parse_scenario({"faults": [{"kind": "outage", "calls": "three"}]})
    with pytest.raises(ScenarioError, match="unknown endpoints"):
        parse_scenario({"faults": [{"kind": "outage", "endpoints": ["AddOrdr"]}]})
    with pytest.raises(ScenarioError, match="kind"):
        parse_scenario({"faults": [{"kind": "meteor"}]})


def test_fault_draws_are_deterministic_for_a_seed() -> None:
    def draws(seed: int) -> list[bool]:
        injector = FaultInjector(ManualClock(), random.Random(seed))
        injector.add(OutageFault(probability=0.5))
        return [injector.outage("Ticker") is not None for _ in range(40)]

    assert draws(1) == draws(1)
    assert draws(1) != draws(2)
    assert 0 < sum(draws(1)) < 40


def test_latency_draws_respect_their_distribution() -> None:
    injector = FaultInjector(ManualClock(), random.Random(5))
    injector.add(LatencyFault(distribution="uniform", low_ms=10, high_ms=20))
    samples = [injector.latency_s("Time") for _ in range(50)]
    assert all(0.010 <= sample <= 0.020 for sample in samples)
    assert len(set(samples)) > 1


def test_fault_window_and_call_budget() -> None:
    clock = ManualClock()
    injector = FaultInjector(clock, random.Random(0))
    injector.add(OutageFault(start_s=1, duration_s=2, calls=1, endpoints=("Time",)))
    assert injector.outage("Time") is None  # not started
    clock.advance(1.5)
    assert injector.outage("Ticker") is None  # other endpoint
    assert injector.outage("Time") is not None
    assert injector.outage("Time") is None  # budget spent


def test_timeline_events_come_due_once_in_order() -> None:
    clock = ManualClock()
    injector = FaultInjector(clock, random.Random(0))
    injector.add(StatusChange(at_s=2, status="online"))
    injector.add(StatusChange(at_s=1, status="maintenance"))
    assert injector.due_events() == []
    clock.advance(3)
    assert [event.status for event in injector.due_events()] == ["maintenance", "online"]  # type: ignore[union-attr]
    assert injector.due_events() == []
