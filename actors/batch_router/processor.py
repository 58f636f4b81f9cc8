"""The batch router's pure core: one call turns a batch request into outcomes."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from typing import Any

from actors.batch_router.client_ids import assign_cl_ord_ids, is_valid_cl_ord_id
from actors.batch_router.executor import BatchExecution, ExecutionLimits
from actors.batch_router.outcomes import (
    LOCAL_CATEGORY,
    DecidedOutcome,
    OrderSlot,
    OutcomeBook,
    OutcomeJournal,
)
from actors.batch_router.ports import (
    BreakerView,
    ClientIdRegistry,
    Clock,
    EventSink,
    ExchangeGateway,
    MarketView,
    PlacementFence,
    Sleeper,
    VerdictSource,
)
from actors.batch_router.pricing import notional
from actors.batch_router.risk import KILL_SWITCH_REASON, ExposureBudget, assess_order
from actors.batch_router.statistics import PerformanceStatistics
from actors.batch_router.strategies import risk_aware_sequence, smart_routing_plan
from actors.batch_router.validation import (
    batch_size_problem,
    duplicate_cl_ord_ids,
    order_problem,
)
from schemas.config import ExecutionConfig
from schemas.events import BatchCompleted, BatchRejected, OrderBatchRequested
from schemas.orders import BatchStrategy, OrderRequest

__all__ = ["OptimizedBatchProcessor"]

_NS = 1_000_000_000


def _random_batch_id() -> str:
    return uuid.uuid4().hex


class OptimizedBatchProcessor:
    """Validation, pre-trade risk, strategy, placement, reconciliation and statistics.

    Order of work for a batch: size check (a refused batch gets ``BatchRejected``); in
    ``resume`` mode each order is looked up by ``cl_ord_id`` first and, if found, reported
    placed and left alone; local validation; kill switch; pre-trade risk; the strategy.
    Exactly one ``BatchCompleted`` is emitted and returned for every batch.
    """

    def __init__(
        self,
        config: ExecutionConfig,
        gateway: ExchangeGateway,
        verdicts: VerdictSource,
        breakers: BreakerView,
        market: MarketView,
        sink: EventSink,
        clock: Clock,
        sleep: Sleeper,
        *,
        new_batch_id: Callable[[], str] = _random_batch_id,
    ) -> None:
        self._config = config
        self._gateway = gateway
        self._verdicts = verdicts
        self._breakers = breakers
        self._market = market
        self._sink = sink
        self._clock = clock
        self._sleep = sleep
        self._new_batch_id = new_batch_id
        self._statistics = PerformanceStatistics()

    async def process(
        self,
        request: OrderBatchRequested,
        *,
        resume: bool = False,
        run_id: str = "",
        run_started_ns: int | None = None,
        fence: PlacementFence | None = None,
        journal: OutcomeJournal | None = None,
        decided: Sequence[DecidedOutcome] = (),
        published: Collection[int] = (),
        client_ids: ClientIdRegistry | None = None,
    ) -> BatchCompleted:
        """Run a bus request; ``resume`` is set by the shell when this run of the batch may
        already have sent orders (redelivery, takeover)."""
        return await self.process_batch_orders(
            request.orders,
            request.strategy,
            batch_id=request.batch_id,
            deadline_ns=request.deadline_ns,
            validate_only=request.validate_only,
            resume=resume,
            run_id=run_id,
            run_started_ns=run_started_ns,
            fence=fence,
            journal=journal,
            decided=decided,
            published=published,
            client_ids=client_ids,
        )

    async def process_batch_orders(
        self,
        orders: Sequence[OrderRequest],
        strategy: BatchStrategy,
        *,
        batch_id: str | None = None,
        deadline_ns: int | None = None,
        validate_only: bool = False,
        resume: bool = False,
        run_id: str = "",
        run_started_ns: int | None = None,
        fence: PlacementFence | None = None,
        journal: OutcomeJournal | None = None,
        decided: Sequence[DecidedOutcome] = (),
        published: Collection[int] = (),
        client_ids: ClientIdRegistry | None = None,
    ) -> BatchCompleted:
        """``run_id`` makes the derived ``cl_ord_id`` values unique to this run of the batch id;
        ``run_started_ns`` (default: now) bounds which exchange orders can be this run's;
        ``fence`` is asked before every placement (see :class:`PlacementFence`); ``journal``
        stores each outcome before it is published, and ``decided`` holds the outcomes a
        previous run stored: they are final, restored first and never decided again (their
        events are published again unless ``published`` says they were); ``client_ids``
        takes the client-supplied ``cl_ord_id`` values of the orders about to be placed and
        refuses those an earlier batch used."""
        started_ns = self._clock()
        batch_id = batch_id if batch_id is not None else self._new_batch_id()
        book = OutcomeBook(batch_id, self._sink, self._clock, journal, order_count=len(orders))
        slots = [
            OrderSlot(index, order, cl_ord_id)
            for index, (order, cl_ord_id) in enumerate(
                zip(orders, assign_cl_ord_ids(batch_id, orders, run_id), strict=True)
            )
        ]
        execution = BatchExecution(
            config=self._config,
            gateway=self._gateway,
            verdicts=self._verdicts,
            breakers=self._breakers,
            market=self._market,
            book=book,
            clock=self._clock,
            sleep=self._sleep,
            limits=self._limits(
                deadline_ns, started_ns if run_started_ns is None else run_started_ns
            ),
            validate_only=validate_only,
            fence=fence,
        )
        refusal = batch_size_problem(len(slots), self._config.max_batch_size)
        if refusal is not None:
            now = self._clock()
            await self._sink.emit(
                BatchRejected(
                    ts_event=now,
                    ts_init=now,
                    batch_id=batch_id,
                    reason=refusal,
                    order_count=len(slots),
                )
            )
            for slot in slots:
                book.record_silently(slot, refusal)
        else:
            if resume and not validate_only:
                await self._restore_decided(slots, book, decided, frozenset(published))
                await self._find_existing(
                    [slot for slot in slots if not book.is_decided(slot.index)], execution
                )
            pending = await self._screen(slots, book, strategy)
            if client_ids is not None and not validate_only:
                pending = await self._claim_client_ids(pending, book, client_ids)
            await self._run(strategy, pending, book, execution)
            for slot in slots:
                if not book.is_decided(slot.index):
                    await book.failed(
                        slot, "unknown_outcome", detail="internal: the order got no outcome"
                    )
        completed = book.completed(
            slots=slots,
            strategy=strategy,
            started_ns=started_ns,
            retries=execution.retries,
            api_calls=execution.api_calls,
            validate_only=validate_only,
        )
        await book.publish_summary(completed)
        self._statistics.record(completed)
        return completed

    def get_performance_statistics(self) -> dict[str, Any]:
        return self._statistics.report()

    # -- STAGES ----------------------------------------------------------------------------

    def _limits(self, deadline_ns: int | None, run_started_ns: int) -> ExecutionLimits:
        # The timeout runs from when the batch was first taken on, never from a resume.
        end_ns = run_started_ns + int(self._config.batch_timeout * _NS)
        if deadline_ns is not None:
            end_ns = min(end_ns, deadline_ns)
        return ExecutionLimits(
            end_ns=end_ns, deadline_ns=deadline_ns, run_started_ns=run_started_ns
        )

    async def _restore_decided(
        self,
        slots: Sequence[OrderSlot],
        book: OutcomeBook,
        decided: Sequence[DecidedOutcome],
        published: frozenset[int],
    ) -> None:
        by_index = {slot.index: slot for slot in slots}
        for outcome in decided:
            slot = by_index.get(outcome.event.index)
            if slot is None or slot.cl_ord_id != outcome.event.cl_ord_id:
                continue  # not this run's order: never trusted
            if not book.is_decided(slot.index):
                await book.restore(slot, outcome, publish=slot.index not in published)

    async def _find_existing(self, slots: Sequence[OrderSlot], execution: BatchExecution) -> None:
        """Resume: every order that may have been sent before the crash is looked up first."""
        duplicates = duplicate_cl_ord_ids(slot.cl_ord_id for slot in slots)
        eligible = [
            slot
            for slot in slots
            if slot.cl_ord_id not in duplicates and is_valid_cl_ord_id(slot.cl_ord_id)
        ]
        if eligible:
            await execution.resume_lookup(eligible)

    async def _screen(
        self, slots: Sequence[OrderSlot], book: OutcomeBook, strategy: BatchStrategy
    ) -> list[OrderSlot]:
        """Validation, kill switch and pre-trade risk; returns the orders still to place."""
        duplicates = duplicate_cl_ord_ids(slot.cl_ord_id for slot in slots)
        now = self._clock()
        valid: list[OrderSlot] = []
        for slot in slots:
            if book.is_decided(slot.index):
                continue
            if slot.cl_ord_id in duplicates:
                problem: str | None = (
                    f"duplicate_cl_ord_id: {slot.cl_ord_id!r} is used by more than one order "
                    "of the batch"
                )
            else:
                problem = order_problem(
                    slot.order,
                    self._gateway.pair_rules(slot.pair),
                    reference_price=self._market.reference_price(slot.pair),
                    now_ns=now,
                )
            if problem is None:
                valid.append(slot)
            else:
                await book.rejected(slot, problem, category=LOCAL_CATEGORY)
        if valid and self._market.kill_switch_active():
            for slot in valid:
                await book.rejected(slot, KILL_SWITCH_REASON, category=LOCAL_CATEGORY)
            return []
        if not self._config.risk_check_enabled:
            for slot in valid:
                reference = self._market.reference_price(slot.pair)
                book.set_notional(slot.index, notional(slot.order, reference))
            return valid
        return await self._pre_trade_risk(valid, book, strategy)

    async def _claim_client_ids(
        self, slots: Sequence[OrderSlot], book: OutcomeBook, client_ids: ClientIdRegistry
    ) -> list[OrderSlot]:
        """Client-supplied ids are executed once: an id an earlier batch used is refused."""
        supplied = {slot.index: slot.cl_ord_id for slot in slots if slot.order.cl_ord_id}
        if not supplied:
            return list(slots)
        refused = await client_ids.claim(supplied)
        for slot in slots:
            if slot.index in refused:
                await book.rejected(slot, refused[slot.index], category=LOCAL_CATEGORY)
        return [slot for slot in slots if slot.index not in refused]

    async def _pre_trade_risk(
        self, slots: Sequence[OrderSlot], book: OutcomeBook, strategy: BatchStrategy
    ) -> list[OrderSlot]:
        # RISK_AWARE re-checks the cumulative exposure in its own order at live prices.
        budget = (
            None
            if strategy is BatchStrategy.RISK_AWARE
            else ExposureBudget(self._config.max_batch_exposure)
        )
        accepted: list[OrderSlot] = []
        for slot in slots:
            assessment = assess_order(slot.order, self._market, self._config)
            book.set_notional(slot.index, assessment.notional)
            problem = assessment.problem
            if problem is None and budget is not None:
                assert assessment.notional is not None
                problem = budget.try_reserve(assessment.notional)
            if problem is None:
                accepted.append(slot)
            else:
                await book.rejected(slot, problem, category=LOCAL_CATEGORY)
        return accepted

    async def _run(
        self,
        strategy: BatchStrategy,
        slots: list[OrderSlot],
        book: OutcomeBook,
        execution: BatchExecution,
    ) -> None:
        if not slots:
            return
        if strategy is BatchStrategy.SEQUENTIAL:
            await execution.run_sequential(slots)
        elif strategy is BatchStrategy.PARALLEL:
            await execution.run_parallel(slots)
        elif strategy is BatchStrategy.SMART_ROUTING:
            by_index = {slot.index: slot for slot in slots}
            plan = smart_routing_plan({slot.index: slot.order for slot in slots})
            await execution.run_smart_routing(
                [[[by_index[index] for index in chunk] for chunk in group] for group in plan]
            )
        else:
            by_index = {slot.index: slot for slot in slots}
            sequence = risk_aware_sequence(
                {slot.index: slot.order for slot in slots},
                {slot.index: book.notional(slot.index) for slot in slots},
            )
            budget = ExposureBudget(self._config.max_batch_exposure)
            await execution.run_risk_aware([by_index[index] for index in sequence], budget)
