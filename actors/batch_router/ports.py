"""What the batch-router core needs from the outside world, as small Protocols and value types.

The NATS shell implements these: the exchange gateway wraps the Kraken REST client, the
verdict source asks the error classifier, the breaker and market views are fed by bus events.
Rate-limit waiting happens inside the Kraken client, never here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from actors.batch_router.batch_sizing import ChunkPlan
from kraken.send_deadline import SendDeadline
from schemas.events import (
    BatchCompleted,
    BatchRejected,
    BookUpdated,
    BreakerState,
    KrakenCallFailed,
    OperationKind,
    OrderFailed,
    OrderPlaced,
    OrderRejected,
)
from schemas.orders import OrderRequest
from schemas.queries import RetryVerdict

__all__ = [
    "BatchPlacementReply",
    "BreakerView",
    "ClientIdRegistry",
    "Clock",
    "EventSink",
    "ExchangeGateway",
    "LookupResult",
    "MarketView",
    "NoFence",
    "OrderLookup",
    "OutcomeEvent",
    "OwnershipLost",
    "PairRules",
    "PlacementFence",
    "PlacementReply",
    "Sleeper",
    "VerdictSource",
]

Clock = Callable[[], int]
"""Nanoseconds since the Unix epoch."""

Sleeper = Callable[[float], Awaitable[None]]
"""``await sleep(seconds)``; tests inject one that advances a fake clock."""

OutcomeEvent = OrderPlaced | OrderRejected | OrderFailed | BatchCompleted | BatchRejected


class PairRules(Protocol):
    """Trading rules of one pair (Kraken ``AssetPairs``); ``kraken.pairs.PairInfo`` fits as is."""

    @property
    def symbol(self) -> str:
        """WS v2 symbol, e.g. ``BTC/USD``."""

    @property
    def ordermin(self) -> Decimal | None:
        """Minimum volume in base units."""

    @property
    def costmin(self) -> Decimal | None:
        """Minimum cost (price × volume) in quote units."""

    @property
    def tick_size(self) -> Decimal | None: ...

    @property
    def price_decimals(self) -> int: ...

    @property
    def lot_decimals(self) -> int: ...

    @property
    def status(self) -> str:
        """``online``, ``cancel_only``, ``post_only``, ``limit_only`` or ``reduce_only``."""


@dataclass(frozen=True, slots=True)
class PlacementReply:
    """The answer to one placement (an ``AddOrder`` call or one entry of an ``AddOrderBatch``).

    ``ok`` with ``txid=None`` is a successful ``validate`` call. ``outcome_unknown`` marks a
    timeout, 5xx, non-JSON body or lost connection: the order may or may not exist.
    ``call_failure`` is the event the gateway published for a failed call; for a per-entry
    rejection inside a batch it may be ``None`` (the core then builds one from ``errors``).
    """

    ok: bool
    txid: str | None = None
    errors: tuple[str, ...] = ()
    outcome_unknown: bool = False
    call_failure: KrakenCallFailed | None = None


@dataclass(frozen=True, slots=True)
class BatchPlacementReply:
    """The answer to ``AddOrderBatch``: either a top-level ``failure`` (whole batch refused or
    outcome unknown) or one ``entries`` item per order, in request order."""

    failure: PlacementReply | None = None
    entries: tuple[PlacementReply, ...] = ()


@dataclass(frozen=True, slots=True)
class LookupResult:
    """An order looked up by ``cl_ord_id`` (OpenOrders, then ClosedOrders).

    ``lookup_failed`` means the exchange could not be asked; ``found=False`` without it is a
    definite "no such order right now".
    """

    found: bool
    txid: str | None = None
    status: str | None = None
    lookup_failed: bool = False


@dataclass(frozen=True, slots=True)
class OrderLookup:
    """One order of a run, as the exchange must show it to count as ours: its ``cl_ord_id``,
    pair, side and volume, opened no earlier than ``opened_after_ns`` (the run's start, less a
    clock-skew margin). An older order sharing the ``cl_ord_id`` is not ours."""

    cl_ord_id: str
    pair: str
    side: str
    volume: Decimal
    opened_after_ns: int


class ExchangeGateway(Protocol):
    """Kraken, seen from the router. Methods never raise for exchange errors: they answer."""

    async def add_order(
        self,
        order: OrderRequest,
        cl_ord_id: str,
        *,
        deadline: SendDeadline | None,
        validate: bool,
        probe: bool,
    ) -> PlacementReply:
        """Place one order. ``deadline`` is stamped into Kraken's ``deadline`` when the request
        is signed, so waiting for the key's send lock or pacing does not spend it; its
        ``sent_ns`` then tells how long the order may still land.
        ``probe`` marks the half-open breaker's single test call (for ``KrakenCall*`` events)."""

    async def add_order_batch(
        self,
        pair: str,
        orders: Sequence[tuple[OrderRequest, str]],
        *,
        deadline: SendDeadline | None,
        validate: bool,
        probe: bool,
    ) -> BatchPlacementReply:
        """Place 2–15 orders of one pair, given with their ``cl_ord_id``."""

    async def find_orders(self, lookups: Sequence[OrderLookup]) -> dict[str, LookupResult]:
        """Look orders up by client id, a whole batch with a few calls (never two per order),
        counting only orders that match their whole ``lookup``; keyed by ``cl_ord_id``, one
        entry per lookup."""

    def pair_rules(self, pair: str) -> PairRules | None:
        """Rules of a WS v2 symbol, or ``None`` when the pair is unknown."""

    def clock_ahead_ns(self) -> int:
        """How far this host's clock may run ahead of the venue's (``>= 0``): a wait that ends
        at a Kraken deadline, read on this host's clock, is that much longer."""

    def chunk_plan(self, pair: str, order_count: int) -> ChunkPlan | None:
        """How ``order_count`` orders of ``pair`` may go out now: chunk size and how many
        chunks at once, from the pair's live trading-rate budget. ``None``: one chunk after
        another (e.g. REST, whose signed calls are serialized per key by their nonces)."""


class OwnershipLost(Exception):
    """This router no longer provably owns the batch: it must stop working on it at once."""


class PlacementFence(Protocol):
    async def confirm(self) -> None:
        """Prove, right before a placement, that this router still owns the batch (e.g. a
        compare-and-set renewal of its lease); raise :class:`OwnershipLost` otherwise."""

    def lands_by_ns(self) -> int | None:
        """The latest Kraken ``deadline`` an order confirmed by the last proof may carry: a
        router taking the batch over waits until then (plus a margin) before it looks orders
        up. ``None``: no bound. The deadline is stamped when the request is signed, possibly
        long after :meth:`confirm` (send lock, pacing), so it is capped by this."""


class NoFence:
    """For a single process with nothing to fence against (tests, the pure core alone)."""

    async def confirm(self) -> None:
        return None

    def lands_by_ns(self) -> int | None:
        return None


class ClientIdRegistry(Protocol):
    async def claim(self, cl_ord_ids: Mapping[int, str]) -> dict[int, str]:
        """Record the client-supplied ids (order index → id) as taken by this batch run;
        answer index → reason for each id an earlier batch already used (those orders must
        not be sent). Raises when it cannot tell: then nothing is sent."""


class VerdictSource(Protocol):
    async def verdict(
        self, failure: KrakenCallFailed, attempt: int, operation: OperationKind
    ) -> RetryVerdict | None:
        """The classifier's verdict, or ``None`` when it did not answer in time."""


class BreakerView(Protocol):
    """The ``kraken.trading`` breaker as last broadcast by the error classifier."""

    def trading_state(self) -> BreakerState: ...

    async def wait_for_change(self, timeout_s: float) -> None:
        """Return when the trading state changes or the probe slot is released, or after
        ``timeout_s`` seconds, whichever comes first."""

    def try_acquire_probe(self) -> bool:
        """In HALF_OPEN, grant the single probe slot to one caller; ``False`` if it is taken."""

    def release_probe(self) -> None:
        """Give the probe slot back once the probe call has been answered."""


class MarketView(Protocol):
    """Latest market state, fed by ``PriceUpdated``/``BookUpdated``/``PriceStale``/
    ``VolatilityUpdated`` and the kill switch. Synchronous: the shell keeps these values in
    memory."""

    def reference_price(self, pair: str) -> Decimal | None:
        """The price risk checks measure against (e.g. mid), or ``None`` if never seen."""

    def book(self, pair: str) -> BookUpdated | None:
        """The pair's latest L2 book top while fresh, else ``None`` (never seen or too old)."""

    def is_stale(self, pair: str) -> bool: ...

    def volatility(self, pair: str) -> float | None:
        """Latest annualized volatility reading for the pair, if any."""

    def kill_switch_active(self) -> bool: ...


class EventSink(Protocol):
    async def emit(self, event: OutcomeEvent) -> None:
        """Publish an outcome event; raising aborts the batch (the request is not acked)."""

    async def emit_many(self, events: Sequence[OutcomeEvent]) -> None:
        """Publish several, in order, pipelined (acks awaited together); raising aborts the
        batch, and then any of them may or may not be on the bus."""
