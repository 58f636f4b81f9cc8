"""Placement: verdict-driven retries, unknown outcomes, breaker parking, deadlines, resume."""

from __future__ import annotations

from collections import Counter

from actors.batch_router import derive_cl_ord_id
from schemas.config import ExecutionConfig
from schemas.events import BreakerState, OrderOutcome
from schemas.orders import BatchStrategy
from tests.support.batch_router_doubles import (
    START_NS,
    FakeClock,
    Router,
    limit_order,
    make_router,
    refuse_verdict,
    reject_verdict,
    retry_verdict,
)

_S = 1_000_000_000


def _no_duplicates(router: Router) -> None:
    counts = Counter(router.exchange.bookings)
    assert all(count == 1 for count in counts.values()), counts


async def _one_order(router: Router, batch_id: str, **kwargs: object) -> None:
    await router.processor.process_batch_orders(
        [limit_order()],
        BatchStrategy.SEQUENTIAL,
        batch_id=batch_id,
        **kwargs,  # type: ignore[arg-type]
    )


# -- unknown outcomes ------------------------------------------------------------------------


async def test_unknown_outcome_when_order_exists_then_placed_once_reconciled() -> None:
    """A lost reply for an order that did reach Kraken is found by cl_ord_id, not re-sent."""
    router = make_router()
    cl_ord_id = derive_cl_ord_id("p-found", 0)
    router.exchange.script(cl_ord_id, "unknown_placed")

    await _one_order(router, "p-found")

    [placed] = router.sink.placed()
    assert placed.reconciled
    assert placed.txid == router.exchange.book[cl_ord_id]
    assert router.exchange.call_count("add_order") == 1
    assert router.verdicts.asked == []  # reconciled before anything else
    _no_duplicates(router)


async def test_unknown_outcome_when_order_absent_then_retried_once() -> None:
    """Not found after every lookup round: safe to retry, and the retry is counted."""
    router = make_router()
    cl_ord_id = derive_cl_ord_id("p-absent", 0)
    router.exchange.script(cl_ord_id, "unknown_lost")

    completed = await router.processor.process_batch_orders(
        [limit_order()], BatchStrategy.SEQUENTIAL, batch_id="p-absent"
    )

    assert router.exchange.call_count("add_order") == 2
    # the quick rounds, then one look-up after the deadline + margin proves it absent
    assert router.exchange.call_count("find_order") == router.config.reconcile_attempts + 1
    [placed] = router.sink.placed()
    assert placed.attempts == 2
    assert not placed.reconciled
    assert completed.retries == 1
    assert router.exchange.bookings == [cl_ord_id]


async def test_unknown_outcome_when_lookups_keep_failing_then_failed_unknown_outcome() -> None:
    """If the exchange cannot be asked for ``reconcile_max_s``, the order is never re-sent."""
    router = make_router()
    cl_ord_id = derive_cl_ord_id("p-lookup", 0)
    router.exchange.script(cl_ord_id, "unknown_lost")
    router.exchange.script_lookup(cl_ord_id, *["fail"] * 1000)

    await _one_order(router, "p-lookup")

    assert router.exchange.call_count("add_order") == 1
    [failure] = router.sink.failed()
    assert failure.reason == "unknown_outcome"
    assert router.clock() >= START_NS + int(router.config.reconcile_max_s * _S)


async def test_unknown_outcome_is_resolved_once_the_venue_answers_again() -> None:
    """Look-ups failing through an outage keep going; the first answer settles the order."""
    router = make_router()
    cl_ord_id = derive_cl_ord_id("p-outage", 0)
    router.exchange.script(cl_ord_id, "unknown_placed")
    router.exchange.script_lookup(cl_ord_id, *["fail"] * 12)

    await _one_order(router, "p-outage")

    [placed] = router.sink.placed()
    assert placed.reconciled
    assert router.sink.failed() == []
    assert router.exchange.call_count("find_order") == 13


async def test_not_found_before_the_deadline_passed_is_not_absent() -> None:
    """An order may reach the engine up to its deadline: not-found answers before deadline +
    margin do not count; the order is re-sent only after a look-up made past that time."""
    router = make_router()
    cl_ord_id = derive_cl_ord_id("p-early", 0)
    router.exchange.script(cl_ord_id, "unknown_lost")

    await _one_order(router, "p-early")

    [sent_deadline, _] = router.exchange.deadlines
    config = router.config
    absent_after = sent_deadline + int(config.absent_margin_s * _S)
    add_calls = [i for i, call in enumerate(router.exchange.calls) if call[0] == "add_order"]
    assert len(add_calls) == 2
    assert router.clock() >= absent_after
    _no_duplicates(router)


async def test_a_placement_queued_before_sending_gets_its_deadline_when_sent() -> None:
    """The order waits 10 s for the key's send lock: its 5 s deadline counts from the moment
    it is signed, not from when it was planned (it would be elapsed on arrival)."""
    router = make_router()
    router.exchange.send_queue_s.append(10.0)

    await _one_order(router, "p-queued")

    assert router.exchange.deadlines == [START_NS + 15 * _S]
    [placed] = router.sink.placed()
    assert placed.attempts == 1


async def test_absent_is_proven_only_after_the_deadline_actually_sent() -> None:
    """The answer of a placement that queued 10 s before it was signed is lost. Its deadline
    is sent + 5 s = start + 15 s: a not-found before that + margin proves nothing, even though
    the deadline the executor planned (start + 5 s) is long past. Resending earlier could
    place the order twice if the engine takes the first copy late."""
    router = make_router()
    cl_ord_id = derive_cl_ord_id("p-queued-lost", 0)
    router.exchange.script(cl_ord_id, "unknown_lost")
    router.exchange.send_queue_s.append(10.0)
    resent_at: list[int] = []
    router.exchange.after_add_order = lambda _id, _probe: resent_at.append(router.clock())

    await _one_order(router, "p-queued-lost")

    [sent_deadline, _] = router.exchange.deadlines
    assert sent_deadline == START_NS + 15 * _S
    [_, resend] = resent_at
    assert resend >= sent_deadline + int(router.config.absent_margin_s * _S)
    _no_duplicates(router)


async def test_a_host_clock_ahead_of_the_venue_delays_the_absent_proof_by_as_much() -> None:
    """The venue applies the deadline on its clock; this host's runs up to 3 s ahead, so
    "deadline + margin" on the host's clock comes 3 s early: the re-send waits those 3 s."""
    router = make_router()
    router.exchange.clock_ahead = 3 * _S
    cl_ord_id = derive_cl_ord_id("p-ahead", 0)
    router.exchange.script(cl_ord_id, "unknown_lost")
    resent_at: list[int] = []
    router.exchange.after_add_order = lambda _id, _probe: resent_at.append(router.clock())

    await _one_order(router, "p-ahead")

    [sent_deadline, _] = router.exchange.deadlines
    [_, resend] = resent_at
    assert resend >= sent_deadline + int(router.config.absent_margin_s * _S) + 3 * _S
    _no_duplicates(router)


class _LeaseFence:
    """Ownership proven until ``lands_by`` (the lease end + in-flight time a taker waits)."""

    def __init__(self, lands_by: int) -> None:
        self.lands_by = lands_by
        self.confirmed = 0

    async def confirm(self) -> None:
        self.confirmed += 1

    def lands_by_ns(self) -> int:
        return self.lands_by


async def test_a_queued_placement_never_carries_a_deadline_past_what_a_taker_waits_out() -> None:
    """Stamping at send time must not stretch the deadline beyond the ownership proof: a
    router taking the batch over waits only until lease end + in-flight time."""
    router = make_router()
    router.exchange.send_queue_s.append(5.0)
    fence = _LeaseFence(lands_by=START_NS + 8 * _S)

    await _one_order(router, "p-fenced", fence=fence)

    assert router.exchange.deadlines == [START_NS + 8 * _S]  # not start + 5 + 5 s
    assert fence.confirmed == 1


class _RenewedLeaseFence(_LeaseFence):
    """A lease the keeper renews in the background: it always reaches ``ahead_ns`` past now."""

    def __init__(self, clock: FakeClock, ahead_ns: int) -> None:
        super().__init__(lands_by=clock() + ahead_ns)
        self._clock, self._ahead_ns = clock, ahead_ns

    def lands_by_ns(self) -> int:
        return self._clock() + self._ahead_ns


async def test_a_placement_queued_past_its_first_proof_gets_the_cap_of_the_renewed_lease() -> None:
    """Paced 6 s behind the rate limit while the lease was renewed: the cap read when the order
    was planned (start + 4 s) would send it already elapsed — refused unseen, confirmed and
    sent again; the cap of the lease as renewed by then is the one a taker waits out."""
    router = make_router(ExecutionConfig(placement_deadline_s=5.0))
    router.exchange.send_queue_s.append(6.0)
    fence = _RenewedLeaseFence(router.clock, ahead_ns=4 * _S)

    await _one_order(router, "p-renewed", fence=fence)

    assert router.exchange.deadlines == [START_NS + 6 * _S + 4 * _S]  # not START_NS + 4 s


async def test_every_placement_carries_a_short_deadline() -> None:
    """No batch deadline: Kraken's ``deadline`` is still sent, now + placement_deadline_s."""
    router = make_router(ExecutionConfig(placement_deadline_s=4.0))

    await _one_order(router, "p-short")

    assert router.exchange.deadlines == [START_NS + 4 * _S]


async def test_lookup_names_pair_side_volume_and_the_run_start() -> None:
    """Reconciliation asks for the order of this request, opened after this run started."""
    router = make_router(ExecutionConfig(batch_timeout=120.0))  # the run began 30 s ago
    cl_ord_id = derive_cl_ord_id("p-match", 0, "run-2")
    router.exchange.script(cl_ord_id, "unknown_placed")
    run_started = START_NS - 30 * _S

    await router.processor.process_batch_orders(
        [limit_order()],
        BatchStrategy.SEQUENTIAL,
        batch_id="p-match",
        run_id="run-2",
        run_started_ns=run_started,
    )

    lookup = router.exchange.lookups[0]
    assert lookup.cl_ord_id == cl_ord_id
    assert (lookup.pair, lookup.side, lookup.volume) == (
        limit_order().pair,
        "buy",
        limit_order().volume,
    )
    assert run_started - 5 * _S < lookup.opened_after_ns <= run_started


def test_ids_differ_between_runs_of_one_batch_id_and_repeat_within_a_run() -> None:
    assert derive_cl_ord_id("b", 0, "run-1") == derive_cl_ord_id("b", 0, "run-1")
    assert derive_cl_ord_id("b", 0, "run-1") != derive_cl_ord_id("b", 0, "run-2")


async def test_gateway_exception_is_treated_as_unknown_outcome() -> None:
    """A raising gateway may have sent the order: reconcile, never assume failure."""
    router = make_router()
    router.exchange.raise_after_booking = 1

    await _one_order(router, "p-raise")

    [placed] = router.sink.placed()
    assert placed.reconciled
    assert router.exchange.call_count("add_order") == 1


# -- verdicts ----------------------------------------------------------------------------------


async def test_classifier_silent_when_error_definite_then_no_blind_retry() -> None:
    """No verdict: the placement is not retried and ends as failed with the errors."""
    router = make_router()
    router.verdicts.silent = True
    router.exchange.script(derive_cl_ord_id("p-silent", 0), "reject:EService:Busy")

    await _one_order(router, "p-silent")

    assert router.exchange.call_count("add_order") == 1
    [failure] = router.sink.failed()
    assert failure.reason == "retries_exhausted"
    assert failure.errors == ("EService:Busy",)


async def test_classifier_silent_when_outcome_unknown_then_resent_only_once_proven_absent() -> None:
    """No verdict after an unknown outcome: reconcile runs until the order is proven absent
    (looked up after its deadline + margin), and only then is it sent again: a re-send of an
    order that cannot land any more is no blind retry."""
    router = make_router()
    router.verdicts.silent = True
    cl_ord_id = derive_cl_ord_id("p-silent-unknown", 0)
    router.exchange.script(cl_ord_id, "unknown_lost")

    await _one_order(router, "p-silent-unknown")

    assert router.exchange.call_count("find_order") == router.config.reconcile_attempts + 1
    assert router.exchange.call_count("add_order") == 2
    assert router.exchange.bookings == [cl_ord_id]
    [placed] = router.sink.placed()
    assert placed.attempts == 2
    assert router.sink.failed() == []


async def test_concurrent_reconciliations_share_their_lookups() -> None:
    """Ten answers lost at once (one dropped connection): the look-ups of their reconciliations
    go out together, not one per order per round."""
    router = make_router()
    router.verdicts.silent = True
    for index in range(10):
        router.exchange.script(derive_cl_ord_id("p-shared", index), "unknown_placed")

    completed = await router.processor.process_batch_orders(
        [limit_order()] * 10, BatchStrategy.PARALLEL, batch_id="p-shared"
    )

    assert completed.placed == 10
    assert router.exchange.call_count("find_orders") == 1


async def test_retry_follows_verdict_delay_until_exhausted() -> None:
    """Retries wait the verdict's delay and stop at min(verdict, config) max retries."""
    router = make_router(ExecutionConfig(max_retries=2))
    router.verdicts.answer = retry_verdict(delay_s=1.5, max_retries=5)
    router.exchange.script(derive_cl_ord_id("p-exhaust", 0), *["reject:EService:Busy"] * 5)

    completed = await router.processor.process_batch_orders(
        [limit_order()], BatchStrategy.SEQUENTIAL, batch_id="p-exhaust"
    )

    assert router.exchange.call_count("add_order") == 3
    assert router.clock.slept == [1.5, 1.5]
    assert [attempt for _, attempt, _ in router.verdicts.asked] == [1, 2, 3]
    assert router.sink.failed()[0].reason == "retries_exhausted"
    assert completed.retries == 2


async def test_retry_when_transient_error_clears_then_placed() -> None:
    """One transient failure, then success: placed with attempts=2."""
    router = make_router()
    router.exchange.script(derive_cl_ord_id("p-transient", 0), "reject:EService:Unavailable")

    await _one_order(router, "p-transient")

    assert router.sink.placed()[0].attempts == 2


async def test_verdict_rejection_then_order_rejected_with_category() -> None:
    """A definitive Kraken rejection is an OrderRejected with the classifier's category."""
    router = make_router()
    router.verdicts.answer = reject_verdict("insufficient_funds")
    router.exchange.script(derive_cl_ord_id("p-reject", 0), "reject:EOrder:Insufficient funds")

    await _one_order(router, "p-reject")

    [rejection] = router.sink.rejected()
    assert rejection.category == "insufficient_funds"
    assert rejection.errors == ("EOrder:Insufficient funds",)
    assert router.exchange.call_count("add_order") == 1


async def test_verdict_refusing_transient_retry_then_failed_not_rejected() -> None:
    """A transient error whose retry is denied is a failure, not a definitive rejection."""
    router = make_router()
    router.verdicts.answer = refuse_verdict()
    router.exchange.script(derive_cl_ord_id("p-refuse", 0), "reject:EAPI:Rate limit exceeded")

    await _one_order(router, "p-refuse")

    assert router.sink.failed()[0].reason == "retries_exhausted"
    assert router.sink.rejected() == []


async def test_verdict_reconcile_first_then_lookup_before_retry() -> None:
    """reconcile_first on a definite error (internal error) finds a placed order."""
    router = make_router()
    router.verdicts.answer = retry_verdict(reconcile_first=True)
    cl_ord_id = derive_cl_ord_id("p-recfirst", 0)
    router.exchange.script(cl_ord_id, "reject:EGeneral:Internal error")
    router.exchange.book[cl_ord_id] = "OEXIST-TXID"  # it went through after all

    await _one_order(router, "p-recfirst")

    assert router.sink.placed()[0].reconciled
    assert router.exchange.call_count("add_order") == 1


async def test_retry_when_delay_runs_past_batch_timeout_then_failed_timeout() -> None:
    """A retry that cannot happen within execution.batch_timeout is not attempted."""
    router = make_router(ExecutionConfig(batch_timeout=3.0))
    router.verdicts.answer = retry_verdict(delay_s=10.0)
    router.exchange.script(derive_cl_ord_id("p-late", 0), "reject:EService:Busy")

    await _one_order(router, "p-late")

    assert router.exchange.call_count("add_order") == 1
    assert router.sink.failed()[0].reason == "timeout"


# -- batches on the exchange -------------------------------------------------------------------


async def test_smart_routing_when_batch_outcome_unknown_then_each_order_reconciled() -> None:
    """A lost AddOrderBatch reply: every order is found by cl_ord_id, nothing is re-sent."""
    router = make_router()
    router.exchange.script_batch("unknown_placed")

    completed = await router.processor.process_batch_orders(
        [limit_order() for _ in range(4)], BatchStrategy.SMART_ROUTING, batch_id="p-batch-found"
    )

    assert completed.placed == 4
    assert all(event.reconciled for event in router.sink.placed())
    assert router.exchange.call_count("add_order_batch") == 1
    _no_duplicates(router)


async def test_smart_routing_when_batch_lost_then_absent_orders_resent_once() -> None:
    """Nothing booked and the reply lost: after reconciliation the chunk is sent again."""
    router = make_router()
    router.exchange.script_batch("unknown_lost")

    completed = await router.processor.process_batch_orders(
        [limit_order() for _ in range(4)], BatchStrategy.SMART_ROUTING, batch_id="p-batch-lost"
    )

    assert completed.placed == 4
    assert router.exchange.call_count("add_order_batch") == 2
    assert completed.retries == 4
    assert sorted(router.exchange.bookings) == sorted(
        derive_cl_ord_id("p-batch-lost", i) for i in range(4)
    )


# -- circuit breaker ---------------------------------------------------------------------------


async def test_breaker_open_parks_batch_then_fails_circuit_open_at_timeout() -> None:
    """While the trading breaker is open nothing is sent; at the batch timeout: circuit_open."""
    router = make_router(ExecutionConfig(batch_timeout=10.0))
    router.breaker.set_state(BreakerState.OPEN)

    completed = await router.processor.process_batch_orders(
        [limit_order(), limit_order()], BatchStrategy.PARALLEL, batch_id="p-open"
    )

    assert router.exchange.calls == []
    assert [event.reason for event in router.sink.failed()] == ["circuit_open", "circuit_open"]
    assert router.clock.now_ns >= START_NS + 10 * _S
    assert completed.failed == 2


async def test_breaker_half_open_sends_one_probe_then_the_rest_after_close() -> None:
    """Half-open admits one probe order; the others wait until the breaker closes."""
    router = make_router()
    router.breaker.set_state(BreakerState.OPEN)
    router.breaker.schedule = [(START_NS + 5 * _S, BreakerState.HALF_OPEN)]
    in_flight_during_probe: list[int] = []

    def close_after_probe(_cl_ord_id: str, probe: bool) -> None:
        if probe:
            in_flight_during_probe.append(router.exchange.max_in_flight)
            router.breaker.set_state(BreakerState.CLOSED)

    router.exchange.after_add_order = close_after_probe

    completed = await router.processor.process_batch_orders(
        [limit_order() for _ in range(3)], BatchStrategy.PARALLEL, batch_id="p-probe"
    )

    assert router.exchange.probe_flags[0] is True
    assert router.exchange.probe_flags.count(True) == 1
    assert in_flight_during_probe == [1]
    assert router.breaker.probes_granted == 1
    assert completed.placed == 3


async def test_breaker_half_open_splits_probe_out_of_an_exchange_batch() -> None:
    """SMART_ROUTING in half-open: the probe is a single AddOrder, not a whole batch."""
    router = make_router()
    router.breaker.set_state(BreakerState.HALF_OPEN)

    def close(_cl_ord_id: str, _probe: bool) -> None:
        router.breaker.set_state(BreakerState.CLOSED)

    router.exchange.after_add_order = close

    await router.processor.process_batch_orders(
        [limit_order() for _ in range(3)], BatchStrategy.SMART_ROUTING, batch_id="p-probe-batch"
    )

    assert [kind for kind, _ in router.exchange.calls] == ["add_order", "add_order_batch"]
    assert router.exchange.probe_flags == [True, False]


# -- deadlines and modes -----------------------------------------------------------------------


async def test_deadline_is_the_nearer_of_batch_deadline_and_placement_deadline() -> None:
    """Kraken's deadline: min(batch deadline, now + placement_deadline_s), at most now + 60 s."""
    near = make_router(ExecutionConfig(placement_deadline_s=60.0))
    await _one_order(near, "p-deadline-near", deadline_ns=START_NS + 10 * _S)
    far = make_router(ExecutionConfig(batch_timeout=600.0, placement_deadline_s=60.0))
    await _one_order(far, "p-deadline-far", deadline_ns=START_NS + 300 * _S)
    short = make_router()
    await _one_order(short, "p-deadline-short", deadline_ns=START_NS + 10 * _S)

    assert near.exchange.deadlines == [START_NS + 10 * _S]
    assert far.exchange.deadlines == [START_NS + 60 * _S]
    assert short.exchange.deadlines == [START_NS + 5 * _S]


async def test_deadline_less_than_two_seconds_away_then_failed_without_call() -> None:
    """Kraken refuses a deadline under 2 s: the order is not sent."""
    router = make_router()

    await _one_order(router, "p-deadline-close", deadline_ns=START_NS + _S)

    assert router.exchange.calls == []
    [failure] = router.sink.failed()
    assert failure.reason == "timeout"
    assert "2 s" in failure.detail


async def test_validate_only_passes_validate_and_places_with_empty_txid() -> None:
    """validate_only: Kraken validates, nothing is booked, OrderPlaced has txid ''."""
    router = make_router()

    completed = await router.processor.process_batch_orders(
        [limit_order(), limit_order()],
        BatchStrategy.PARALLEL,
        batch_id="p-validate",
        validate_only=True,
    )

    assert router.exchange.validate_flags == [True, True]
    assert router.exchange.bookings == []
    assert [event.txid for event in router.sink.placed()] == ["", ""]
    assert completed.validate_only


async def test_resume_never_replaces_an_existing_order() -> None:
    """Redelivery: orders already on the exchange are reported, only the others are placed."""
    router = make_router()
    orders = [limit_order() for _ in range(3)]
    first, second = derive_cl_ord_id("p-resume", 0), derive_cl_ord_id("p-resume", 1)
    router.exchange.book[first] = "OFIRST-TXID"
    router.exchange.book[second] = "OSECOND-TXID"

    completed = await router.processor.process_batch_orders(
        orders, BatchStrategy.SMART_ROUTING, batch_id="p-resume", resume=True
    )

    assert router.exchange.bookings == [derive_cl_ord_id("p-resume", 2)]
    assert router.exchange.placement_calls == [("add_order", (derive_cl_ord_id("p-resume", 2),))]
    reconciled = {event.cl_ord_id: event.txid for event in router.sink.placed() if event.reconciled}
    assert reconciled == {first: "OFIRST-TXID", second: "OSECOND-TXID"}
    assert completed.placed == 3


async def test_resume_when_lookup_keeps_failing_then_not_placed() -> None:
    """Redelivery with an unreachable exchange: unknown_outcome, never a blind re-send."""
    router = make_router()
    cl_ord_id = derive_cl_ord_id("p-resume-fail", 0)
    router.exchange.script_lookup(cl_ord_id, *["fail"] * 1000)

    completed = await router.processor.process_batch_orders(
        [limit_order()], BatchStrategy.SEQUENTIAL, batch_id="p-resume-fail", resume=True
    )

    assert router.exchange.placement_calls == []
    assert completed.results[0].outcome is OrderOutcome.FAILED
    assert completed.results[0].reason == "unknown_outcome"


async def test_resume_placed_order_is_reported_even_if_risk_would_now_reject_it() -> None:
    """The lookup precedes risk: a live order is never misreported as rejected."""
    router = make_router()
    cl_ord_id = derive_cl_ord_id("p-resume-risk", 0)
    router.exchange.book[cl_ord_id] = "OLIVE-TXID"
    router.market.prices["BTC/USD"] = router.market.prices["BTC/USD"] * 2

    completed = await router.processor.process_batch_orders(
        [limit_order()], BatchStrategy.SEQUENTIAL, batch_id="p-resume-risk", resume=True
    )

    assert completed.results[0].outcome is OrderOutcome.PLACED
    assert router.exchange.placement_calls == []
