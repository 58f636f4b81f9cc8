"""Placement of one batch: breaker gating, deadlines, retries by verdict, reconciliation."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from actors.batch_router.lookup_coalescer import LookupCoalescer
from actors.batch_router.outcomes import LOCAL_CATEGORY, OrderSlot, OutcomeBook
from actors.batch_router.ports import (
    BatchPlacementReply,
    BreakerView,
    Clock,
    ExchangeGateway,
    LookupResult,
    MarketView,
    NoFence,
    OrderLookup,
    PlacementFence,
    PlacementReply,
    Sleeper,
    VerdictSource,
)
from actors.batch_router.risk import KILL_SWITCH_REASON, ExposureBudget, assess_order
from actors.batch_router.strategies import MIN_EXCHANGE_BATCH, split_evenly
from kraken.send_deadline import SendDeadline
from schemas.config import ExecutionConfig
from schemas.events import BreakerState, KrakenCallFailed, OperationKind
from schemas.queries import RetryVerdict

__all__ = ["BatchExecution", "ExecutionLimits"]

_NS = 1_000_000_000
MIN_DEADLINE_NS = 2 * _NS
"""Kraken refuses a ``deadline`` closer than now + 2 s …"""
MAX_DEADLINE_NS = 60 * _NS
"""… or further than now + 60 s."""
PAUSE_POLL_S = 0.25
"""How often RISK_AWARE re-reads the market while paused."""
TRADING_SCOPE = "kraken.trading"
_DEFINITIVE_SEVERITIES = frozenset({"rejected", "fatal"})
"""Classifier severities meaning Kraken refused the order for good (not a transient failure)."""


DEADLINE_ELAPSED = "EService:Deadline elapsed"
"""Kraken's answer to an order that reached the engine after its ``deadline``: never placed."""
_NOT_SENT_ERRORS = frozenset({DEADLINE_ELAPSED, "EOrder:Rate limit exceeded"})
"""Answers proving the order never reached the book, for reasons of pacing, not of the order."""
CLOCK_SKEW_NS = 2 * _NS
"""How far the venue's order times may lag our clock before a match is refused as too old."""
LOOKUP_BACKOFF_MAX_S = 5.0
"""Longest pause between look-ups while the venue does not answer them."""


@dataclass(frozen=True, slots=True)
class ExecutionLimits:
    """Time bounds of one batch: ``end_ns`` (batch timeout or deadline, whichever is first),
    the client's ``deadline_ns`` (caps every Kraken ``deadline``) and ``run_started_ns``, when
    this run of the batch id began (orders opened before it are not ours)."""

    end_ns: int
    deadline_ns: int | None
    run_started_ns: int = 0


@dataclass(frozen=True, slots=True)
class _Ticket:
    probe: bool


class BatchExecution:
    """Runs the already validated orders of one batch through a strategy.

    Every order handed to a ``run_*`` method ends with exactly one outcome in the book.
    """

    def __init__(
        self,
        *,
        config: ExecutionConfig,
        gateway: ExchangeGateway,
        verdicts: VerdictSource,
        breakers: BreakerView,
        market: MarketView,
        book: OutcomeBook,
        clock: Clock,
        sleep: Sleeper,
        limits: ExecutionLimits,
        validate_only: bool,
        fence: PlacementFence | None = None,
    ) -> None:
        self._config = config
        self._gateway = gateway
        self._verdicts = verdicts
        self._breakers = breakers
        self._market = market
        self._book = book
        self._clock = clock
        self._sleep = sleep
        self._limits = limits
        self._validate_only = validate_only
        self._fence: PlacementFence = fence if fence is not None else NoFence()
        self.retries = 0
        self.api_calls = 0
        self._deadlines: dict[int, list[SendDeadline]] = {}
        """Per order index: the Kraken deadline of each placement call made for it."""
        self._lookups = LookupCoalescer(self._count_and_find)
        self._exchange_places: asyncio.Semaphore | None = None
        """PARALLEL's bound on orders at the exchange at once (``parallel_limit``)."""

    # -- STRATEGIES ------------------------------------------------------------------------

    async def run_sequential(self, slots: Sequence[OrderSlot]) -> None:
        for slot in slots:
            await self._place([slot], attempt=1)

    async def run_parallel(self, slots: Sequence[OrderSlot]) -> None:
        """Every order at once, at most ``parallel_limit`` of them at the exchange: an order
        frees its place when its answer arrives, not after its outcome is recorded."""
        self._exchange_places = asyncio.Semaphore(self._config.parallel_limit)
        try:
            async with asyncio.TaskGroup() as group:
                for slot in slots:
                    group.create_task(self._place([slot], attempt=1))
        finally:
            self._exchange_places = None

    async def run_smart_routing(self, plan: Sequence[Sequence[Sequence[OrderSlot]]]) -> None:
        """``plan``: per pair, its chunks in placement order; pairs run in parallel. A pair's
        chunks go one after another, or together as far as the gateway's
        :meth:`~ExchangeGateway.chunk_plan` allows."""
        limit = asyncio.Semaphore(self._config.parallel_limit)

        async def one(chunks: Sequence[Sequence[OrderSlot]]) -> None:
            async with limit:
                await self._place_chunks(chunks)

        async with asyncio.TaskGroup() as group:
            for chunks in plan:
                group.create_task(one(chunks))

    async def _place_chunks(self, chunks: Sequence[Sequence[OrderSlot]]) -> None:
        slots = [slot for chunk in chunks for slot in chunk]
        sizing = self._gateway.chunk_plan(slots[0].pair, len(slots)) if len(chunks) > 1 else None
        if sizing is None or sizing.wait_s > 0 or sizing.parallel <= 1:
            # Nothing to gain from going together now: the client paces chunk by chunk.
            for chunk in chunks:
                await self._place(list(chunk), attempt=1)
            return
        if sizing.chunk_size < max(len(chunk) for chunk in chunks):
            # The budget affords smaller chunks now: first in the given order.
            chunks = split_evenly(slots, max(MIN_EXCHANGE_BATCH, sizing.chunk_size))
        in_flight = asyncio.Semaphore(max(1, sizing.parallel))

        async def one(chunk: Sequence[OrderSlot]) -> None:
            async with in_flight:
                await self._place(list(chunk), attempt=1)

        async with asyncio.TaskGroup() as group:
            for chunk in chunks:
                group.create_task(one(chunk))

    async def run_risk_aware(self, slots: Sequence[OrderSlot], budget: ExposureBudget) -> None:
        """One at a time in the given order; before each, wait out stale prices and high
        volatility, then re-check the order and the cumulative exposure at live prices."""
        for slot in slots:
            if not await self._wait_until_calm(slot):
                continue
            assessment = assess_order(slot.order, self._market, self._config)
            self._book.set_notional(slot.index, assessment.notional)
            if assessment.problem is not None:
                await self._book.rejected(slot, assessment.problem, category=LOCAL_CATEGORY)
                continue
            assert assessment.notional is not None
            problem = budget.try_reserve(assessment.notional)
            if problem is not None:
                await self._book.rejected(slot, problem, category=LOCAL_CATEGORY)
                continue
            await self._place([slot], attempt=1)
            if not self._book.may_be_live(slot.index):
                budget.release(assessment.notional)

    async def _wait_until_calm(self, slot: OrderSlot) -> bool:
        ceiling = self._config.volatility_ceiling
        while True:
            if self._market.kill_switch_active():
                await self._book.rejected(slot, KILL_SWITCH_REASON, category=LOCAL_CATEGORY)
                return False
            if self._market.is_stale(slot.pair):
                why = f"the price of {slot.pair} is stale"
            else:
                volatility = self._market.volatility(slot.pair)
                if ceiling is None or volatility is None or volatility <= ceiling:
                    return True
                why = f"volatility {volatility:.4f} of {slot.pair} is above {ceiling}"
            remaining_ns = self._limits.end_ns - self._clock()
            if remaining_ns <= 0:
                await self._book.failed(slot, "timeout", detail=f"paused until timeout: {why}")
                return False
            await self._sleep(min(PAUSE_POLL_S, remaining_ns / _NS))

    # -- PLACEMENT -------------------------------------------------------------------------

    async def _place(self, slots: list[OrderSlot], *, attempt: int) -> None:
        """Place ``slots`` (one pair when more than one) and follow up until each is decided."""
        ticket = await self._admit(slots)
        if ticket is None:
            return
        if ticket.probe and len(slots) > 1:
            # A half-open breaker admits one test order, not a whole exchange batch.
            await self._call(slots[:1], attempt=attempt, probe=True)
            await self._place(slots[1:], attempt=attempt)
            return
        await self._call(slots, attempt=attempt, probe=ticket.probe)

    async def _admit(self, slots: Sequence[OrderSlot]) -> _Ticket | None:
        """Wait while the trading breaker is open; ``None`` once the orders are decided."""
        parked = False
        while True:
            if self._market.kill_switch_active():
                for slot in slots:
                    await self._book.rejected(slot, KILL_SWITCH_REASON, category=LOCAL_CATEGORY)
                return None
            state = self._breakers.trading_state()
            blocked = parked or state is not BreakerState.CLOSED
            reason = "circuit_open" if blocked else "timeout"
            now = self._clock()
            deadline = self._limits.deadline_ns
            if deadline is not None and deadline - now < MIN_DEADLINE_NS:
                await self._fail_all(
                    slots, reason, "the batch deadline is less than 2 s away (Kraken's minimum)"
                )
                return None
            remaining_ns = self._limits.end_ns - now
            if remaining_ns <= 0:
                detail = (
                    "the trading circuit breaker stayed open until the batch timeout"
                    if blocked
                    else "the batch timeout passed before the order could be sent"
                )
                await self._fail_all(slots, reason, detail)
                return None
            if state is BreakerState.CLOSED:
                return _Ticket(probe=False)
            if state is BreakerState.HALF_OPEN and self._breakers.try_acquire_probe():
                return _Ticket(probe=True)
            parked = True
            await self._breakers.wait_for_change(remaining_ns / _NS)
            await asyncio.sleep(0)  # never starve the loop, even if the view returns at once

    def _call_deadline(self, slots: Sequence[OrderSlot]) -> SendDeadline:
        """Every placement carries a short deadline, so a lost answer is settled quickly: the
        order is in the engine by then, or never will be. The client stamps it when it signs
        the request (never earlier: a queued order would spend it waiting), capped by the
        batch deadline and by the ownership proof as it stands then (a taker waits out no
        later deadline; the lease renewed while the order queued moves the cap with it)."""
        span_ns = min(int(self._config.placement_deadline_s * _NS), MAX_DEADLINE_NS)
        batch_deadline_ns, validate_only = self._limits.deadline_ns, self._validate_only

        def cap() -> int | None:
            fence_cap = None if validate_only else self._fence.lands_by_ns()
            known = [cap for cap in (batch_deadline_ns, fence_cap) if cap is not None]
            return min(known) if known else None

        deadline = SendDeadline(span_ns, not_after=cap)
        for slot in slots:
            self._deadlines.setdefault(slot.index, []).append(deadline)
        return deadline

    async def _call(self, slots: list[OrderSlot], *, attempt: int, probe: bool) -> None:
        if len(slots) > 1:
            try:
                batch_reply = await self._add_order_batch(slots, probe=probe)
            finally:
                if probe:
                    self._breakers.release_probe()
            await self._handle_batch_reply(slots, batch_reply, attempt=attempt)
            return
        try:
            reply = await self._add_order(slots[0], probe=probe)
        finally:
            if probe:
                self._breakers.release_probe()
        if reply.ok:
            await self._book.placed(slots[0], txid=reply.txid or "", attempts=attempt)
        else:
            await self._after_failure(slots, reply, attempt=attempt, endpoint="AddOrder")

    async def _handle_batch_reply(
        self, slots: list[OrderSlot], reply: BatchPlacementReply, *, attempt: int
    ) -> None:
        failure = reply.failure
        if failure is None and len(reply.entries) != len(slots):
            failure = PlacementReply(
                ok=False,
                errors=(f"reply has {len(reply.entries)} entries for {len(slots)} orders",),
                outcome_unknown=True,
            )
        if failure is not None:
            await self._after_failure(slots, failure, attempt=attempt, endpoint="AddOrderBatch")
            return
        placed: list[tuple[OrderSlot, str]] = []
        rejected: list[tuple[OrderSlot, PlacementReply]] = []
        for slot, entry in zip(slots, reply.entries, strict=True):
            if entry.ok:
                placed.append((slot, entry.txid or ""))
            else:
                rejected.append((slot, entry))
        if placed:
            # Recorded together: one journal write, their events sent together.
            await self._book.placed_many(placed, attempts=attempt)
        if rejected:
            async with asyncio.TaskGroup() as group:
                for slot, entry in rejected:
                    group.create_task(
                        self._after_failure(
                            [slot], entry, attempt=attempt, endpoint="AddOrderBatch"
                        )
                    )

    async def _add_order(self, slot: OrderSlot, *, probe: bool) -> PlacementReply:
        if self._exchange_places is None:
            return await self._send_order(slot, probe=probe)
        async with self._exchange_places:
            return await self._send_order(slot, probe=probe)

    async def _send_order(self, slot: OrderSlot, *, probe: bool) -> PlacementReply:
        # The deadline is stamped here, after any wait for a place at the exchange.
        if not self._validate_only:
            await self._fence.confirm()  # raises OwnershipLost: nothing is sent
        self.api_calls += 1
        try:
            return await self._gateway.add_order(
                slot.order,
                slot.cl_ord_id,
                deadline=self._call_deadline([slot]),
                validate=self._validate_only,
                probe=probe,
            )
        except Exception as e:  # the request may have been sent: outcome unknown
            return _unknown_reply(e)

    async def _add_order_batch(
        self, slots: Sequence[OrderSlot], *, probe: bool
    ) -> BatchPlacementReply:
        if not self._validate_only:
            await self._fence.confirm()  # raises OwnershipLost: nothing is sent
        self.api_calls += 1
        try:
            return await self._gateway.add_order_batch(
                slots[0].pair,
                [(slot.order, slot.cl_ord_id) for slot in slots],
                deadline=self._call_deadline(slots),
                validate=self._validate_only,
                probe=probe,
            )
        except Exception as e:  # the request may have been sent: outcome unknown
            return BatchPlacementReply(failure=_unknown_reply(e))

    # -- FAILURES --------------------------------------------------------------------------

    async def _after_failure(
        self,
        slots: list[OrderSlot],
        failure: PlacementReply,
        *,
        attempt: int,
        endpoint: str,
    ) -> None:
        """Reconcile unknown outcomes first, then follow the classifier's verdict."""
        pending = slots
        reconciled = False
        if failure.outcome_unknown:
            pending = await self.reconcile(pending, attempt=attempt)
            reconciled = True
            if not pending:
                return
        if not failure.outcome_unknown and _NOT_SENT_ERRORS.intersection(failure.errors):
            # Refused unseen: it waited for its turn (rate limit, the key's send lock) past its
            # deadline, or the venue's trading counter was fuller than this process knew (a
            # restart forgets it; the client has now snapped its own counter to the cap). Not
            # the order's fault: send it again, paced by the client, while the batch has time,
            # without spending a retry.
            await self._place(pending, attempt=attempt)
            return
        verdict = await self._ask(self._failure_event(failure, endpoint), attempt)
        if verdict is not None and verdict.reconcile_first and not reconciled:
            pending = await self.reconcile(pending, attempt=attempt)
            if not pending:
                return
        errors = failure.errors
        if verdict is None and reconciled:
            # No classifier, but these orders are proven absent (looked up after their
            # deadline + margin): sending them again is no blind retry.
            await self._send_proven_absent_again(pending, attempt=attempt, errors=errors)
            return
        if verdict is None:
            await self._fail_all(
                pending,
                "retries_exhausted",
                "the error classifier did not answer; a placement is never retried blindly",
                errors,
            )
            return
        if (
            endpoint == "AddOrderBatch"
            and len(pending) > 1
            and not verdict.retry
            and verdict.severity in _DEFINITIVE_SEVERITIES
            and not failure.outcome_unknown
        ):
            # Kraken refuses an AddOrderBatch whole for one bad order, and nothing of it was
            # placed: send the orders one by one, so the culprit alone is rejected.
            for slot in pending:
                await self._place([slot], attempt=attempt)
            return
        if failure.outcome_unknown and verdict.reconcile_first and not verdict.retry:
            # "Reconcile before resending": done, and these orders are proven absent.
            await self._send_proven_absent_again(pending, attempt=attempt, errors=errors)
            return
        if _refused_by_breaker(verdict):
            # Not a verdict on the order: it waits for the breaker (until the batch ends).
            await self._park_until(verdict.retry_not_before_ns)
            await self._place(pending, attempt=attempt)
            return
        if not verdict.retry:
            if verdict.severity in _DEFINITIVE_SEVERITIES and not failure.outcome_unknown:
                reason = f"{verdict.category}: {verdict.reason or '; '.join(errors)}"
                for slot in pending:
                    await self._book.rejected(
                        slot, reason, category=verdict.category, errors=errors
                    )
            else:
                detail = verdict.reason or f"the classifier refused a retry ({verdict.category})"
                await self._fail_all(pending, "retries_exhausted", detail, errors)
            return
        allowed = min(verdict.max_retries, self._config.max_retries)
        if attempt > allowed:
            detail = f"{attempt} attempts, at most {allowed} retries allowed"
            await self._fail_all(pending, "retries_exhausted", detail, errors)
            return
        delay_s = self._retry_delay_s(verdict)
        if self._clock() + int(delay_s * _NS) >= self._limits.end_ns:
            detail = f"the retry delay of {delay_s:.3f} s runs past the batch timeout"
            await self._fail_all(pending, "timeout", detail, errors)
            return
        await self._sleep(delay_s)
        self.retries += len(pending)
        await self._place(pending, attempt=attempt + 1)

    async def _send_proven_absent_again(
        self, pending: list[OrderSlot], *, attempt: int, errors: tuple[str, ...]
    ) -> None:
        """Orders of an unknown outcome that reconciliation proved absent go out again,
        within the retry limit (the Kraken ``deadline`` they were sent with has passed, so the
        first request can no longer land)."""
        if attempt > self._config.max_retries:
            detail = f"{attempt} attempts, at most {self._config.max_retries} retries allowed"
            await self._fail_all(pending, "retries_exhausted", detail, errors)
            return
        self.retries += len(pending)
        await self._place(pending, attempt=attempt + 1)

    async def _park_until(self, not_before_ns: int | None) -> None:
        """Wait for the classifier's ``retry_not_before_ns`` (at most until the batch ends);
        :meth:`_admit` then waits for the breaker itself."""
        until_ns = min(self._limits.end_ns, not_before_ns or self._clock())
        wait_s = (until_ns - self._clock()) / _NS
        if wait_s > 0:
            await self._sleep(wait_s)
        else:
            await self._sleep(PAUSE_POLL_S)  # never spin while the breaker is not yet known

    def _retry_delay_s(self, verdict: RetryVerdict) -> float:
        delay_s = max(0.0, verdict.delay_s)
        if verdict.retry_not_before_ns is not None:
            delay_s = max(delay_s, (verdict.retry_not_before_ns - self._clock()) / _NS)
        return delay_s

    async def _ask(self, failure: KrakenCallFailed, attempt: int) -> RetryVerdict | None:
        try:
            return await self._verdicts.verdict(failure, attempt, OperationKind.PLACE)
        except Exception:  # a broken classifier link counts as silence
            return None

    def _failure_event(self, failure: PlacementReply, endpoint: str) -> KrakenCallFailed:
        if failure.call_failure is not None:
            return failure.call_failure
        now = self._clock()
        return KrakenCallFailed(
            ts_event=now,
            ts_init=now,
            scope=TRADING_SCOPE,
            endpoint=endpoint,
            operation=OperationKind.PLACE,
            latency_ns=0,
            errors=failure.errors,
            outcome_unknown=failure.outcome_unknown,
        )

    async def _fail_all(
        self,
        slots: Sequence[OrderSlot],
        reason: str,
        detail: str,
        errors: tuple[str, ...] = (),
    ) -> None:
        for slot in slots:
            await self._book.failed(slot, reason, detail=detail, errors=errors)

    # -- RECONCILIATION --------------------------------------------------------------------

    async def reconcile(self, slots: Sequence[OrderSlot], *, attempt: int) -> list[OrderSlot]:
        """Look each order up until it is found or proven absent.

        A first ``reconcile_attempts`` rounds, ``reconcile_delay_s`` apart, find most orders
        quickly. An order not found is proven absent only by a look-up made after its Kraken
        deadline plus ``absent_margin_s``: until then the engine may still take it. Failed
        look-ups are repeated (backing off) until the venue answers, for at most
        ``reconcile_max_s``; what is still unknown then ends as ``unknown_outcome``. Found
        orders are recorded as placed; the absent ones are returned (safe to place again).
        """
        if self._validate_only:
            return list(slots)  # a validate call never creates an order
        unresolved = list(slots)
        absent: list[OrderSlot] = []
        # Unknown outcomes are kept looking up until the venue answers, as long as the batch
        # runs (an outage can outlast ``reconcile_max_s``).
        give_up_ns = max(
            max(self._clock(), self._absent_after_ns(slots))
            + int(self._config.reconcile_max_s * _NS),
            self._limits.end_ns,
        )
        round_number = 0
        pause_s = self._config.reconcile_delay_s
        while unresolved:
            if round_number:
                await self._sleep(self._next_pause_s(unresolved, round_number, pause_s))
                if round_number >= self._config.reconcile_attempts:
                    pause_s = min(max(pause_s * 2, 0.05), LOOKUP_BACKOFF_MAX_S)
            round_number += 1
            still_unresolved = []
            looked_at = self._clock()
            answers = await self._find_all(unresolved)
            for slot in unresolved:
                found = answers[slot.cl_ord_id]
                if found.found:
                    await self._book.placed(
                        slot, txid=found.txid or "", attempts=attempt, reconciled=True
                    )
                elif not found.lookup_failed and looked_at >= self._absent_after_ns([slot]):
                    absent.append(slot)
                else:
                    still_unresolved.append(slot)
            unresolved = still_unresolved
            if unresolved and self._clock() >= give_up_ns:
                for slot in unresolved:
                    detail = (
                        "the order could not be looked up for "
                        f"{self._config.reconcile_max_s:.0f} s; it may exist"
                    )
                    await self._book.failed(slot, "unknown_outcome", detail=detail)
                break
        return absent

    def _absent_after_ns(self, slots: Sequence[OrderSlot]) -> int:
        """When a not-found answer proves ``slots`` absent: the latest deadline actually sent
        with any of their placements, plus margin, plus how far this host's clock may run ahead
        of the venue's (which is the clock that applies the deadline). A placement whose
        deadline was never stamped was never signed, so never sent: it cannot land."""
        margin = int(self._config.absent_margin_s * _NS)
        latest = max(
            (
                deadline.sent_ns
                for slot in slots
                for deadline in self._deadlines.get(slot.index, ())
                if deadline.sent_ns is not None
            ),
            default=0,
        )
        if latest == 0:
            return margin
        return latest + margin + self._gateway.clock_ahead_ns()

    def _next_pause_s(
        self, unresolved: Sequence[OrderSlot], round_number: int, pause_s: float
    ) -> float:
        if round_number < self._config.reconcile_attempts:
            return self._config.reconcile_delay_s
        # Past the quick rounds: next look at the absent time; after it, back off while
        # look-ups keep failing.
        until_absent_s = (self._absent_after_ns(unresolved) - self._clock()) / _NS
        return until_absent_s if until_absent_s > 0 else pause_s

    async def resume_lookup(self, slots: Sequence[OrderSlot]) -> None:
        """Before re-placing the orders of a resumed batch, look them all up together (the
        caller has waited out the previous owner's in-flight time, so one not-found answer is
        definite; failed look-ups are repeated). Found orders are recorded placed."""
        await self.reconcile(slots, attempt=0)

    def lookup_of(self, slot: OrderSlot) -> OrderLookup:
        return OrderLookup(
            cl_ord_id=slot.cl_ord_id,
            pair=slot.pair,
            side=str(slot.order.side),
            volume=slot.order.volume,
            opened_after_ns=self._limits.run_started_ns - CLOCK_SKEW_NS,
        )

    async def _find_all(self, slots: Sequence[OrderSlot]) -> dict[str, LookupResult]:
        """One look-up for all ``slots`` (keyed by ``cl_ord_id``); a broken or incomplete
        answer counts as a failed look-up for the orders it leaves out."""
        failed = LookupResult(found=False, lookup_failed=True)
        try:
            answers = await self._lookups.find([self.lookup_of(slot) for slot in slots])
        except Exception:  # a broken lookup is a failed lookup
            answers = {}
        return {slot.cl_ord_id: answers.get(slot.cl_ord_id, failed) for slot in slots}

    async def _count_and_find(self, lookups: Sequence[OrderLookup]) -> dict[str, LookupResult]:
        self.api_calls += 1
        return await self._gateway.find_orders(lookups)


def _refused_by_breaker(verdict: RetryVerdict) -> bool:
    """A retry refused only because a circuit breaker is open (the classifier names it)."""
    return (
        not verdict.retry
        and verdict.severity not in _DEFINITIVE_SEVERITIES
        and verdict.reason.startswith("circuit ")
    )


def _unknown_reply(error: Exception) -> PlacementReply:
    return PlacementReply(
        ok=False, errors=(f"gateway raised {type(error).__name__}",), outcome_unknown=True
    )
