"""Classifier rules checked against failures built the way the REST client really reports them:
the simulated exchange answers, ``KrakenRestClient`` turns the answer into a ``KrakenCallFailed``,
and the classifier decides (issue 11, point 6)."""

from __future__ import annotations

import random
from decimal import Decimal

import msgspec
import pytest

from actors.error_classifier import ErrorCategory, KrakenErrorClassifier, classify_call
from actors.error_classifier.categories import SCOPE_PRIVATE, SCOPE_PUBLIC
from kraken.rest import KrakenRestClient
from kraken.result import KrakenFailure
from kraken.sim import SimOptions, running_sim
from kraken.sim.scenario import OutageFault
from schemas import GalFridayConfig
from schemas.events import BreakerState, KrakenCallFailed, KrakenCallSucceeded, OperationKind
from schemas.queries import VerdictRequest

pytestmark = [pytest.mark.sim]

Report = KrakenCallSucceeded | KrakenCallFailed


def classifier(clock_ns: list[int]) -> KrakenErrorClassifier:
    return KrakenErrorClassifier(GalFridayConfig(), clock=lambda: clock_ns[0], rng=random.Random(1))


def last_failure(reports: list[Report]) -> KrakenCallFailed:
    failures = [r for r in reports if isinstance(r, KrakenCallFailed)]
    assert failures, "the REST client reported no failed call"
    return failures[-1]


async def test_http_429_from_the_edge_is_a_rate_limit_with_a_floor() -> None:
    reports: list[Report] = []
    async with running_sim(SimOptions()) as sim:
        sim.faults.add(OutageFault(response="http", http_status=429))
        kraken_config = msgspec.structs.replace(GalFridayConfig().kraken, rest_url=sim.rest_url)
        async with KrakenRestClient(kraken_config, on_call=reports.append) as kraken:
            result = await kraken.ticker(["XBTUSD"])
    assert isinstance(result, KrakenFailure)
    failure = last_failure(reports)
    assert failure.http_status == 429

    classification = classify_call(failure)
    assert classification.category is ErrorCategory.RATE_LIMIT
    assert classification.code == "http:429"

    clock = [10**18]
    core = classifier(clock)
    verdict = core.verdict(VerdictRequest(call=failure, attempt=1, operation=OperationKind.READ))
    assert (verdict.category, verdict.retry) == ("rate_limit", True)
    assert verdict.delay_s >= 1.0  # the rate-limit floor: the counter needs time to decay

    # Rate limits are not hard failures: a run of them does not fast-trip the breaker the way
    # the same run of gateway errors does (the failure-rate rule is kept out of it here).
    few_calls = msgspec.structs.replace(GalFridayConfig().breakers, minimum_calls=1000)
    core = KrakenErrorClassifier(
        GalFridayConfig(), clock=lambda: clock[0], rng=random.Random(1), breakers=few_calls
    )
    for _ in range(few_calls.consecutive_failures_to_trip):
        clock[0] += 1_000_000
        core.on_call_failed(msgspec.structs.replace(failure, ts_event=clock[0]))
    assert core.breaker_state(SCOPE_PUBLIC) is BreakerState.CLOSED


async def test_missing_credentials_is_an_authentication_failure_not_a_network_one() -> None:
    reports: list[Report] = []
    async with running_sim(SimOptions()) as sim:
        kraken_config = msgspec.structs.replace(GalFridayConfig().kraken, rest_url=sim.rest_url)
        async with KrakenRestClient(kraken_config, on_call=reports.append) as kraken:
            result = await kraken.balance()
            placed = await kraken.add_order(
                pair="XBTUSD",
                side="buy",
                ordertype="limit",
                volume=Decimal("0.01"),
                price=Decimal("50000"),
            )
    assert isinstance(result, KrakenFailure)
    assert isinstance(placed, KrakenFailure)
    # A call refused before sending is still reported, so the classifier sees it.
    assert [type(r) for r in reports] == [KrakenCallFailed, KrakenCallFailed]
    read_failure, place_failure = (r for r in reports if isinstance(r, KrakenCallFailed))
    assert (read_failure.endpoint, place_failure.endpoint) == ("Balance", "AddOrder")

    for failure in (read_failure, place_failure):
        classification = classify_call(failure)
        assert classification.category is ErrorCategory.AUTH
        assert not classification.outcome_unknown  # nothing was sent: nothing to reconcile

    clock = [10**18]
    core = classifier(clock)
    verdict = core.verdict(
        VerdictRequest(call=place_failure, attempt=1, operation=OperationKind.PLACE)
    )
    assert not verdict.retry
    assert not verdict.reconcile_first
    # Nothing reached Kraken: the private breaker learns nothing about Kraken's health.
    for _ in range(10):
        clock[0] += 1_000_000
        core.on_call_failed(msgspec.structs.replace(read_failure, ts_event=clock[0]))
    assert core.breaker_state(SCOPE_PRIVATE) is BreakerState.CLOSED
