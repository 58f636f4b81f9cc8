"""Kraken Spot REST client: signing, nonces, rate limits and failures as data.

Every public method returns a :data:`~kraken.result.KrakenResult`: a :class:`KrakenOk` with the
typed value, or a :class:`KrakenFailure` carrying all Kraken error strings, the HTTP status, the
raw body text (truncated), a transport error kind and ``outcome_unknown``. Malformed responses
(HTML, truncated JSON, missing fields, wrong types) become failures, never exceptions.
Exceptions are raised only for programmer errors (bad arguments, using a closed client).

After every call that reached (or tried to reach) the network, ``on_call`` receives a
:class:`KrakenCallSucceeded` or :class:`KrakenCallFailed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Self, TypeVar

import aiohttp
import msgspec

from kraken.credentials import Credentials
from kraken.errors import TransportError, is_general_rate_limit, is_trading_rate_limit
from kraken.http_tracing import http_client_span, record_response
from kraken.models import (
    AddOrderBatchResult,
    AddOrderResult,
    AssetPair,
    CancelAllOrdersAfterResult,
    CancelResult,
    ClosedOrdersResult,
    OhlcResult,
    OpenOrdersResult,
    OrderInfo,
    ServerTime,
    SystemStatus,
    TickerInfo,
    WebSocketsToken,
    decode_envelope,
    decode_ohlc,
    decode_result,
)
from kraken.nonce import PROCESS_NONCES, NonceSource, send_lock
from kraken.pairs import PairRegistry
from kraken.ratelimit import RestCallLimiter, TradingRateLimiter, cancel_penalty
from kraken.result import KrakenFailure, KrakenOk, KrakenResult
from kraken.send_deadline import SendDeadline
from kraken.signing import sign_request
from kraken.venue_clock import VenueClockBound
from schemas.config import KrakenConfig
from schemas.events import KrakenCallFailed, KrakenCallSucceeded, OperationKind
from schemas.orders import OrderRequest, OrderSide, OrderType, TimeInForce

__all__ = [
    "PRIVATE_ENDPOINTS",
    "PUBLIC_ENDPOINTS",
    "STATE_CHANGING_ENDPOINTS",
    "CallObserver",
    "KrakenRestClient",
    "RawResponse",
    "SignedRequest",
    "Sleeper",
    "add_order_params",
    "build_private_request",
    "format_deadline",
    "format_decimal",
    "interpret_response",
    "scope_of",
]

_log = logging.getLogger(__name__)

T = TypeVar("T")
CallObserver = Callable[[KrakenCallSucceeded | KrakenCallFailed], None]
Sleeper = Callable[[float], Awaitable[None]]

PUBLIC_ENDPOINTS = frozenset(
    {"Time", "SystemStatus", "Assets", "AssetPairs", "Ticker", "OHLC", "Depth", "Trades", "Spread"}
)
STATE_CHANGING_ENDPOINTS = frozenset(
    {"AddOrder", "AddOrderBatch", "CancelOrder", "CancelAll", "CancelAllOrdersAfter"}
)
PRIVATE_ENDPOINTS = STATE_CHANGING_ENDPOINTS | frozenset(
    {
        "Balance",
        "BalanceEx",
        "TradeBalance",
        "OpenOrders",
        "ClosedOrders",
        "QueryOrders",
        "TradesHistory",
        "QueryTrades",
        "Ledgers",
        "QueryLedgers",
        "TradeVolume",
        "GetWebSocketsToken",
        "CancelOrderBatch",
    }
)
_PLACING = frozenset({"AddOrder", "AddOrderBatch"})
_RAW_BODY_LIMIT = 2000
_TRACKED_ORDER_HORIZON_NS = 300 * 1_000_000_000
_TRACKED_ORDER_SOFT_LIMIT = 4096
_NS_PER_S = 1_000_000_000


def scope_of(endpoint: str) -> str:
    """Breaker scope of an endpoint: ``kraken.public``, ``kraken.trading`` or ``kraken.private``."""
    if endpoint in PUBLIC_ENDPOINTS:
        return "kraken.public"
    if endpoint in STATE_CHANGING_ENDPOINTS:
        return "kraken.trading"
    return "kraken.private"


def _operation_of(endpoint: str) -> OperationKind:
    if endpoint in _PLACING:
        return OperationKind.PLACE
    if endpoint in STATE_CHANGING_ENDPOINTS:
        return OperationKind.CANCEL
    return OperationKind.READ


def format_decimal(value: Decimal) -> str:
    """A plain decimal string (never an exponent), as Kraken expects."""
    if not value.is_finite():
        raise ValueError(f"not a finite decimal: {value}")
    return format(value, "f")


def format_deadline(deadline_ns: int) -> str:
    """RFC 3339 with milliseconds, UTC."""
    seconds, remainder = divmod(deadline_ns, _NS_PER_S)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{remainder // 1_000_000:03d}Z"


DEADLINE_ANSWER_MARGIN_S = 1.0
"""How long after a placement's Kraken deadline its answer is still waited for."""
MIN_ANSWER_WAIT_S = 1.0


def _answer_by(deadline_ns: int) -> int:
    return deadline_ns + int(DEADLINE_ANSWER_MARGIN_S * _NS_PER_S)


def _with_deadline(
    payload: dict[str, Any] | list[tuple[str, str]], deadline_ns: int
) -> dict[str, Any] | list[tuple[str, str]]:
    stamp = format_deadline(deadline_ns)
    if isinstance(payload, dict):
        return {**payload, "deadline": stamp}
    return [*payload, ("deadline", stamp)]


@dataclass(frozen=True, slots=True)
class _TrackedOrder:
    pair: str
    placed_ns: int


class KrakenRestClient:
    """One ``aiohttp.ClientSession`` to Kraken (or the simulated exchange); use ``async with``.

    **Nonces and ordering.** Nonces are wall-clock nanoseconds from the injected clock, kept
    strictly increasing per key by a process-wide floor (:mod:`kraken.nonce`). A higher nonce
    can still *arrive* first when two requests are in flight, and Kraken then rejects the
    lower one with ``EAPI:Invalid nonce``. So when the key has no nonce window
    (``config.nonce_window == 0``) signing and sending are serialized per key: the nonce is
    drawn under a per-key lock that is held until the response is read, which makes arrival
    order equal nonce order at the cost of one private request in flight per key. With a nonce
    window configured on the key, Kraken tolerates reordering inside it, so the lock is skipped
    and private calls run concurrently.

    **Rate limits.** Before sending, the client waits (through ``sleeper``) until the call fits
    the REST call counter and, for trading calls, the pair's trading counter
    (:mod:`kraken.ratelimit`). A rate-limit error from Kraken snaps the matching counter to its
    cap. Cancel penalties depend on the order's age, known for orders this client placed; a
    cancel of an order it does not know costs the worst case on ``pair`` if given, else nothing.
    """

    def __init__(
        self,
        config: KrakenConfig,
        *,
        credentials: Credentials | None = None,
        clock: Callable[[], int] = time.time_ns,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
        on_call: CallObserver | None = None,
        sleeper: Sleeper = asyncio.sleep,
        nonces: NonceSource = PROCESS_NONCES,
        pairs: PairRegistry | None = None,
        call_id_prefix: str | None = None,
    ) -> None:
        self.config = config
        # Call ids are unique across processes and restarts; ``call_id_prefix`` pins them.
        self._call_id_prefix = call_id_prefix or uuid.uuid4().hex[:16]
        self._calls_reported = 0
        self.credentials = credentials
        self.pairs = pairs
        self._clock = clock
        self._monotonic_ns = monotonic_ns
        self._on_call = on_call
        self._sleeper = sleeper
        self._nonces = nonces
        self.rest_limiter = RestCallLimiter(config.tier, clock)
        self.trading_limiter = TradingRateLimiter(config.tier, clock)
        self.venue_clock = VenueClockBound()
        """How far this host's clock may run ahead of Kraken's (waits for deadlines add it)."""
        self._base_url = config.rest_url.rstrip("/").removesuffix("/0")
        self._session: aiohttp.ClientSession | None = None
        self._tracked: dict[str, _TrackedOrder] = {}

    def __repr__(self) -> str:
        return f"KrakenRestClient(rest_url={self._base_url!r}, credentials={self.credentials!r})"

    def nonce_floor(self) -> int:
        """The last nonce signed for the key by this process (0 without credentials)."""
        return 0 if self.credentials is None else self._nonces.floor(self.credentials.api_key)

    def raise_nonce_floor(self, value: int) -> None:
        """Never sign a nonce at or below ``value`` (another process signed it on this key)."""
        if self.credentials is not None:
            self._nonces.raise_floor(self.credentials.api_key, value)

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(
                total=self.config.request_timeout_s, connect=self.config.request_timeout_s
            )
            self._session = aiohttp.ClientSession(
                timeout=timeout, headers={"User-Agent": self.config.user_agent}
            )

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    @property
    def has_credentials(self) -> bool:
        return self.credentials is not None

    # -- public endpoints ---------------------------------------------------------------------

    async def time(self, *, probe: bool = False) -> KrakenResult[ServerTime]:
        return await self._call("Time", [], _typed(ServerTime), probe=probe)

    async def system_status(self, *, probe: bool = False) -> KrakenResult[SystemStatus]:
        return await self._call("SystemStatus", [], _typed(SystemStatus), probe=probe)

    async def asset_pairs(
        self, pairs: Sequence[str] | None = None, *, probe: bool = False
    ) -> KrakenResult[dict[str, AssetPair]]:
        params = [("pair", ",".join(pairs))] if pairs else []
        return await self._call("AssetPairs", params, _typed(dict[str, AssetPair]), probe=probe)

    async def ticker(
        self, pairs: Sequence[str], *, probe: bool = False
    ) -> KrakenResult[dict[str, TickerInfo]]:
        """Ticker for ``pairs`` (any spelling the registry knows, else sent as given).
        The result is keyed as Kraken keys it (usually the REST id)."""
        names = ",".join(self._rest_name(p) for p in pairs)
        params = [("pair", names)] if names else []
        return await self._call("Ticker", params, _typed(dict[str, TickerInfo]), probe=probe)

    async def ohlc(
        self, pair: str, interval: int = 1, since: int | None = None, *, probe: bool = False
    ) -> KrakenResult[OhlcResult]:
        params = [("pair", self._rest_name(pair)), ("interval", str(interval))]
        if since is not None:
            params.append(("since", str(since)))
        return await self._call("OHLC", params, decode_ohlc, probe=probe)

    # -- private reads ------------------------------------------------------------------------

    async def balance(self, *, probe: bool = False) -> KrakenResult[dict[str, Decimal]]:
        return await self._call("Balance", [], _typed(dict[str, Decimal]), probe=probe)

    async def open_orders(
        self, cl_ord_id: str | None = None, *, probe: bool = False
    ) -> KrakenResult[OpenOrdersResult]:
        params = [("cl_ord_id", cl_ord_id)] if cl_ord_id else []
        return await self._call("OpenOrders", params, _typed(OpenOrdersResult), probe=probe)

    async def closed_orders(
        self,
        cl_ord_id: str | None = None,
        *,
        start_s: int | None = None,
        offset: int = 0,
        probe: bool = False,
    ) -> KrakenResult[ClosedOrdersResult]:
        """Closed orders, newest first, 50 a page from ``offset``; ``start_s`` (unix seconds,
        exclusive) leaves out orders opened and closed before it."""
        params = [("cl_ord_id", cl_ord_id)] if cl_ord_id else []
        if start_s is not None:
            params.append(("start", str(start_s)))
        if offset:
            params.append(("ofs", str(offset)))
        return await self._call("ClosedOrders", params, _typed(ClosedOrdersResult), probe=probe)

    async def query_orders(
        self, txids: Sequence[str], *, probe: bool = False
    ) -> KrakenResult[dict[str, OrderInfo]]:
        """Orders by txid (at most 50); an unknown txid is simply absent from the result."""
        if not 1 <= len(txids) <= 50:
            raise ValueError("query_orders takes 1 to 50 txids")
        params = [("txid", ",".join(txids))]
        return await self._call("QueryOrders", params, _typed(dict[str, OrderInfo]), probe=probe)

    async def get_websockets_token(self, *, probe: bool = False) -> KrakenResult[WebSocketsToken]:
        return await self._call("GetWebSocketsToken", [], _typed(WebSocketsToken), probe=probe)

    # -- trading ------------------------------------------------------------------------------

    async def add_order(
        self,
        *,
        pair: str,
        side: OrderSide | str,
        ordertype: OrderType | str,
        volume: Decimal,
        price: Decimal | None = None,
        price2: Decimal | None = None,
        timeinforce: TimeInForce | str | None = None,
        expiretm: int | None = None,
        post_only: bool = False,
        reduce_only: bool = False,
        cl_ord_id: str | None = None,
        validate: bool = False,
        deadline: SendDeadline | None = None,
        probe: bool = False,
    ) -> KrakenResult[AddOrderResult]:
        """Place one order. ``expiretm`` is a unix time in seconds (GTD); ``deadline`` is
        stamped when the request is signed (Kraken accepts now + 2 s to now + 60 s)."""
        rest_pair = self._rest_name(pair)
        params = add_order_params(
            pair=rest_pair,
            side=side,
            ordertype=ordertype,
            volume=volume,
            price=price,
            price2=price2,
            timeinforce=timeinforce,
            expiretm=expiretm,
            post_only=post_only,
            reduce_only=reduce_only,
            cl_ord_id=cl_ord_id,
            validate=validate,
        )
        charge = [(rest_pair, TradingRateLimiter.add_order_cost())]
        result = await self._call(
            "AddOrder",
            params,
            _typed(AddOrderResult),
            probe=probe,
            trading=charge,
            deadline=deadline,
        )
        if isinstance(result, KrakenOk) and not validate:
            for txid in result.value.txid:
                self._track(txid, rest_pair)
            if cl_ord_id:
                self._track(cl_ord_id, rest_pair)
        return result

    async def add_order_batch(
        self,
        pair: str,
        orders: Sequence[OrderRequest],
        *,
        deadline: SendDeadline | None = None,
        validate: bool = False,
        probe: bool = False,
    ) -> KrakenResult[AddOrderBatchResult]:
        """Place 2–15 orders on one pair in one JSON request. ``pair`` is what is sent; each
        order's own ``pair`` field is ignored. Result rows map to ``orders`` by position."""
        rest_pair = self._rest_name(pair)
        body: dict[str, Any] = {"pair": rest_pair, "orders": [_batch_entry(o) for o in orders]}
        if validate:
            body["validate"] = True
        charge = [(rest_pair, TradingRateLimiter.batch_add_cost(len(orders)))]
        result = await self._call(
            "AddOrderBatch",
            body,
            _typed(AddOrderBatchResult),
            probe=probe,
            trading=charge,
            deadline=deadline,
        )
        if isinstance(result, KrakenOk) and not validate:
            for order, entry in zip(orders, result.value.orders, strict=False):
                if entry.txid:
                    self._track(entry.txid, rest_pair)
                    if order.cl_ord_id:
                        self._track(order.cl_ord_id, rest_pair)
        return result

    async def cancel_order(
        self,
        *,
        txid: str | None = None,
        cl_ord_id: str | None = None,
        pair: str | None = None,
        probe: bool = False,
    ) -> KrakenResult[CancelResult]:
        """Cancel by exchange ``txid`` or by ``cl_ord_id`` (exactly one). ``pair`` only helps the
        rate model for orders this client did not place."""
        if (txid is None) == (cl_ord_id is None):
            raise ValueError("cancel_order takes exactly one of txid or cl_ord_id")
        key = txid if txid is not None else cl_ord_id
        assert key is not None
        params = [("txid", key)] if txid is not None else [("cl_ord_id", key)]
        tracked = self._tracked.get(key)
        charge: list[tuple[str, float]] = []
        if tracked is not None:
            age = self._clock() - tracked.placed_ns
            charge = [(tracked.pair, float(cancel_penalty(age)))]
        elif pair is not None:
            charge = [(self._rest_name(pair), float(cancel_penalty(None)))]
        result = await self._call(
            "CancelOrder", params, _typed(CancelResult), probe=probe, trading=charge
        )
        if isinstance(result, KrakenOk):
            self._tracked.pop(key, None)
        return result

    async def cancel_all(self, *, probe: bool = False) -> KrakenResult[CancelResult]:
        charge = [(p, 1.0) for p in self._tracked_pairs()]
        result = await self._call(
            "CancelAll", [], _typed(CancelResult), probe=probe, trading=charge
        )
        if isinstance(result, KrakenOk):
            self._tracked.clear()
        return result

    async def cancel_all_orders_after(
        self, timeout_s: int, *, probe: bool = False
    ) -> KrakenResult[CancelAllOrdersAfterResult]:
        """Arm (or with 0, disarm) the dead man's switch. Charges +1 on every pair this client
        has orders on, since Kraken does not say which pair counter it lands on."""
        if not 0 <= timeout_s < 86400:
            raise ValueError("timeout_s must be in [0, 86400)")
        charge = [(p, 1.0) for p in self._tracked_pairs()]
        return await self._call(
            "CancelAllOrdersAfter",
            [("timeout", str(timeout_s))],
            _typed(CancelAllOrdersAfterResult),
            probe=probe,
            trading=charge,
        )

    # -- any endpoint (the CLI) ---------------------------------------------------------------

    async def call(
        self,
        endpoint: str,
        params: Mapping[str, Any] | None = None,
        *,
        json_body: bool = False,
        probe: bool = False,
    ) -> KrakenResult[Any]:
        """Call any known endpoint with raw parameters; the result is plain JSON data.

        Values are sent as given (``Decimal`` as a plain string). ``json_body`` sends a JSON
        document instead of a form (needed for AddOrderBatch's nested orders).
        """
        if endpoint not in PUBLIC_ENDPOINTS and endpoint not in PRIVATE_ENDPOINTS:
            raise ValueError(f"unknown Kraken endpoint {endpoint!r}")
        values = dict(params or {})
        charge: list[tuple[str, float]] = []
        if endpoint == "AddOrder" and "pair" in values:
            charge = [(str(values["pair"]), TradingRateLimiter.add_order_cost())]
        payload: dict[str, Any] | list[tuple[str, str]]
        payload = values if json_body else [(k, _form_value(v)) for k, v in values.items()]
        return await self._call(endpoint, payload, _typed(Any), probe=probe, trading=charge)

    # -- machinery ----------------------------------------------------------------------------

    def _rest_name(self, pair: str) -> str:
        if self.pairs is not None and pair in self.pairs:
            return self.pairs.to_altname(pair)
        return pair

    def _track(self, key: str, pair: str) -> None:
        now = self._clock()
        if len(self._tracked) >= _TRACKED_ORDER_SOFT_LIMIT:
            horizon = now - _TRACKED_ORDER_HORIZON_NS
            self._tracked = {k: v for k, v in self._tracked.items() if v.placed_ns >= horizon}
        self._tracked[key] = _TrackedOrder(pair=pair, placed_ns=now)

    def _tracked_pairs(self) -> list[str]:
        return sorted({t.pair for t in self._tracked.values()})

    async def _wait_for_rate_limits(
        self, endpoint: str, trading: Sequence[tuple[str, float]]
    ) -> None:
        if endpoint not in PUBLIC_ENDPOINTS:
            while (wait := self.rest_limiter.try_acquire(endpoint)) > 0:
                await self._sleeper(wait)
        for pair, cost in trading:
            while (wait := self.trading_limiter.try_acquire(pair, cost)) > 0:
                await self._sleeper(wait)

    async def _call(
        self,
        endpoint: str,
        payload: dict[str, Any] | list[tuple[str, str]],
        decode: Callable[[msgspec.Raw], T],
        *,
        probe: bool,
        trading: Sequence[tuple[str, float]] = (),
        deadline: SendDeadline | None = None,
    ) -> KrakenResult[T]:
        """``deadline``: Kraken's ``deadline`` of a placement, stamped into the payload when
        it is signed; its answer is not waited for much past it (such a placement is settled
        by looking it up, not by holding the key's lock)."""
        if self._session is None:
            raise RuntimeError("KrakenRestClient is not open: use `async with client:`")
        private = endpoint not in PUBLIC_ENDPOINTS
        if private and self.credentials is None:
            refused = KrakenFailure(
                endpoint=endpoint,
                errors=(),
                http_status=None,
                latency_ns=0,
                transport_error=TransportError.NO_CREDENTIALS,
                detail="no API credentials configured (KRAKEN_API_KEY / KRAKEN_API_SECRET)",
            )
            # Reported like any failure so the classifier sees an authentication problem.
            self._report(refused, probe)
            return refused
        await self._wait_for_rate_limits(endpoint, trading)
        charged_ns = self._clock()
        started = self._monotonic_ns()
        if private:
            outcome = await self._send_private(self._session, endpoint, payload, deadline)
        else:
            outcome = await self._send_public(self._session, endpoint, payload)
        latency = self._monotonic_ns() - started
        self.venue_clock.observe(outcome.date, self._clock())
        if private:
            self.rest_limiter.counted_by_now(endpoint, charged_ns)
        for pair, cost in trading:
            self.trading_limiter.counted_by_now(pair, cost, charged_ns)
        result = interpret_response(endpoint, outcome, decode, latency)
        if isinstance(result, KrakenFailure):
            if is_general_rate_limit(result.errors):
                self.rest_limiter.snap_to_cap()
            if is_trading_rate_limit(result.errors):
                for pair, _ in trading:
                    self.trading_limiter.snap_to_cap(pair)
        self._report(result, probe)
        return result

    async def _send_public(
        self,
        session: aiohttp.ClientSession,
        endpoint: str,
        payload: dict[str, Any] | list[tuple[str, str]],
    ) -> RawResponse:
        url = f"{self._base_url}/0/public/{endpoint}"
        query = payload if isinstance(payload, list) else list(payload.items())
        with http_client_span("GET", url, endpoint) as span:
            raw = await _exchange(session.get(url, params=query), endpoint)
            record_response(span, raw.status, raw.transport_error)
            return raw

    async def _send_private(
        self,
        session: aiohttp.ClientSession,
        endpoint: str,
        payload: dict[str, Any] | list[tuple[str, str]],
        deadline: SendDeadline | None = None,
    ) -> RawResponse:
        credentials = self.credentials
        assert credentials is not None
        lock: contextlib.AbstractAsyncContextManager[Any] = (
            send_lock(credentials.api_key)
            if self.config.nonce_window == 0
            else contextlib.nullcontext()
        )
        async with lock:
            answer_by_ns: int | None = None
            if deadline is not None:
                # Stamped here, after the lock and any pacing: the queue does not spend it.
                deadline_ns = deadline.stamp(self._clock())
                payload = _with_deadline(payload, deadline_ns)
                answer_by_ns = _answer_by(deadline_ns)
            nonce = self._nonces.next_nonce(credentials.api_key, self._clock)
            signed = build_private_request(endpoint, payload, nonce=nonce, credentials=credentials)
            url = f"{self._base_url}{signed.path}"
            with http_client_span("POST", url, endpoint) as span:
                timeout = self._answer_timeout(answer_by_ns)
                if timeout is None:
                    request = session.post(url, data=signed.body, headers=signed.headers)
                else:
                    request = session.post(
                        url, data=signed.body, headers=signed.headers, timeout=timeout
                    )
                raw = await _exchange(request, endpoint)
                record_response(span, raw.status, raw.transport_error)
                return raw

    def _answer_timeout(self, answer_by_ns: int | None) -> aiohttp.ClientTimeout | None:
        """``None`` (the session's timeout), or a shorter one ending at ``answer_by_ns``."""
        if answer_by_ns is None:
            return None
        left_s = (answer_by_ns - self._clock()) / _NS_PER_S
        total_s = min(self.config.request_timeout_s, max(MIN_ANSWER_WAIT_S, left_s))
        return aiohttp.ClientTimeout(total=total_s, connect=total_s)

    def _report(self, result: KrakenResult[Any], probe: bool) -> None:
        if self._on_call is None:
            return
        now = self._clock()
        self._calls_reported += 1
        call_id = f"{self._call_id_prefix}:{self._calls_reported}"
        event: KrakenCallSucceeded | KrakenCallFailed
        if isinstance(result, KrakenOk):
            event = KrakenCallSucceeded(
                ts_event=now,
                ts_init=now,
                scope=scope_of(result.endpoint),
                endpoint=result.endpoint,
                operation=_operation_of(result.endpoint),
                latency_ns=result.latency_ns,
                http_status=result.http_status,
                probe=probe,
                call_id=call_id,
            )
        else:
            event = KrakenCallFailed(
                ts_event=now,
                ts_init=now,
                scope=scope_of(result.endpoint),
                endpoint=result.endpoint,
                operation=_operation_of(result.endpoint),
                latency_ns=result.latency_ns,
                errors=result.describe(),
                http_status=result.http_status,
                outcome_unknown=result.outcome_unknown,
                transport_error=result.transport_error,
                probe=probe,
                call_id=call_id,
            )
        try:
            self._on_call(event)
        except Exception:
            # A broken observer must not turn a finished call into an exception.
            _log.exception("on_call observer failed for %s", result.endpoint)


# -- request building ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedRequest:
    path: str
    body: bytes
    headers: dict[str, str]

    def __repr__(self) -> str:
        return (
            f"SignedRequest(path={self.path!r}, body=<{len(self.body)} bytes>, headers=<redacted>)"
        )


def build_private_request(
    endpoint: str,
    payload: dict[str, Any] | list[tuple[str, str]],
    *,
    nonce: int,
    credentials: Credentials,
) -> SignedRequest:
    """The exact bytes and headers of a private call (pure; the nonce goes first in the body).

    A list payload is form-encoded; a dict payload is sent as compact JSON (AddOrderBatch).
    """
    path = f"/0/private/{endpoint}"
    if isinstance(payload, dict):
        body = msgspec.json.encode({"nonce": str(nonce), **payload})
        content_type = "application/json"
    else:
        body = urllib.parse.urlencode([("nonce", str(nonce)), *payload]).encode()
        content_type = "application/x-www-form-urlencoded"
    signature = sign_request(
        secret_b64=credentials.api_secret, url_path=path, nonce=nonce, body=body
    )
    headers = {"API-Key": credentials.api_key, "API-Sign": signature, "Content-Type": content_type}
    return SignedRequest(path=path, body=body, headers=headers)


def _typed(result_type: Any) -> Callable[[msgspec.Raw], Any]:
    def decode(raw: msgspec.Raw) -> Any:
        return decode_result(raw, result_type)

    return decode


def _form_value(value: Any) -> str:
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def add_order_params(
    *,
    pair: str,
    side: OrderSide | str,
    ordertype: OrderType | str,
    volume: Decimal,
    price: Decimal | None = None,
    price2: Decimal | None = None,
    timeinforce: TimeInForce | str | None = None,
    expiretm: int | None = None,
    post_only: bool = False,
    reduce_only: bool = False,
    cl_ord_id: str | None = None,
    validate: bool = False,
    deadline_ns: int | None = None,
) -> list[tuple[str, str]]:
    """AddOrder's form fields, in a fixed order, Decimals as plain strings."""
    params = [
        ("pair", pair),
        ("type", str(side)),
        ("ordertype", str(ordertype)),
        ("volume", format_decimal(volume)),
    ]
    params += _order_options(
        price=price,
        price2=price2,
        timeinforce=timeinforce,
        expiretm=expiretm,
        post_only=post_only,
        reduce_only=reduce_only,
        cl_ord_id=cl_ord_id,
    )
    if validate:
        params.append(("validate", "true"))
    if deadline_ns is not None:
        params.append(("deadline", format_deadline(deadline_ns)))
    return params


def _order_options(
    *,
    price: Decimal | None,
    price2: Decimal | None,
    timeinforce: TimeInForce | str | None,
    expiretm: int | None,
    post_only: bool,
    reduce_only: bool,
    cl_ord_id: str | None,
) -> list[tuple[str, str]]:
    options: list[tuple[str, str]] = []
    if price is not None:
        options.append(("price", format_decimal(price)))
    if price2 is not None:
        options.append(("price2", format_decimal(price2)))
    if timeinforce is not None:
        options.append(("timeinforce", str(timeinforce)))
    if expiretm is not None:
        options.append(("expiretm", str(expiretm)))
    if post_only:
        options.append(("oflags", "post"))
    if reduce_only:
        options.append(("reduce_only", "true"))
    if cl_ord_id:
        options.append(("cl_ord_id", cl_ord_id))
    return options


def _batch_entry(order: OrderRequest) -> dict[str, Any]:
    expiretm = None if order.expire_time_ns is None else order.expire_time_ns // _NS_PER_S
    entry: dict[str, Any] = {
        "ordertype": str(order.order_type),
        "type": str(order.side),
        "volume": format_decimal(order.volume),
    }
    for key, value in _order_options(
        price=order.price,
        price2=order.price2,
        timeinforce=order.time_in_force,
        expiretm=expiretm,
        post_only=order.post_only,
        reduce_only=order.reduce_only,
        cl_ord_id=order.cl_ord_id,
    ):
        entry[key] = True if key == "reduce_only" else value
    return entry


# -- response interpretation --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawResponse:
    """What came back: a status and body, or the transport problem that prevented it."""

    status: int | None = None
    body: bytes = b""
    transport_error: TransportError | None = None
    maybe_sent: bool = False
    """For transport failures: could the request have reached Kraken?"""
    detail: str = ""
    date: str | None = None
    """The answer's HTTP ``Date`` header (the venue's clock, to the second)."""


async def _exchange(
    request: Any,  # aiohttp's request context manager
    endpoint: str,
) -> RawResponse:
    try:
        async with request as response:
            body = await response.read()
            return RawResponse(status=response.status, body=body, date=response.headers.get("Date"))
    except aiohttp.ConnectionTimeoutError as e:
        return RawResponse(
            transport_error=TransportError.TIMEOUT, maybe_sent=False, detail=f"connect: {e}"
        )
    except TimeoutError as e:
        return RawResponse(transport_error=TransportError.TIMEOUT, maybe_sent=True, detail=str(e))
    except aiohttp.ClientConnectorError as e:
        return RawResponse(
            transport_error=TransportError.CONNECTION, maybe_sent=False, detail=str(e)
        )
    except (aiohttp.ClientError, OSError) as e:
        detail = f"{type(e).__name__}: {e}"
        return RawResponse(
            transport_error=TransportError.CONNECTION, maybe_sent=True, detail=detail
        )


def interpret_response(
    endpoint: str,
    outcome: RawResponse,
    decode: Callable[[msgspec.Raw], T],
    latency_ns: int,
) -> KrakenResult[T]:
    state_changing = endpoint in STATE_CHANGING_ENDPOINTS
    text = outcome.body[:_RAW_BODY_LIMIT].decode("utf-8", errors="replace")

    def failure(
        kind: TransportError | None,
        errors: Sequence[str] = (),
        unknown: bool = False,
        detail: str = "",
    ) -> KrakenFailure:
        return KrakenFailure(
            endpoint=endpoint,
            errors=tuple(errors),
            http_status=outcome.status,
            latency_ns=latency_ns,
            transport_error=kind,
            outcome_unknown=state_changing and unknown,
            raw_body=text,
            detail=detail,
        )

    if outcome.transport_error is not None:
        return failure(outcome.transport_error, unknown=outcome.maybe_sent, detail=outcome.detail)
    status = outcome.status or 0
    try:
        envelope = decode_envelope(outcome.body)
    except msgspec.ValidationError as e:
        envelope = None
        shape_problem, kind = str(e), TransportError.BAD_SHAPE
    except msgspec.DecodeError as e:
        envelope = None
        shape_problem, kind = str(e), TransportError.NON_JSON
    errors = tuple(envelope.error) if envelope is not None else ()
    if status >= 500:
        return failure(TransportError.HTTP_5XX, errors, unknown=True, detail=f"HTTP {status}")
    if status != 200:
        return failure(TransportError.HTTP_STATUS, errors, detail=f"HTTP {status}")
    if envelope is None:
        return failure(kind, unknown=True, detail=shape_problem)
    if any(not e.startswith("W") for e in errors):
        # Kraken answered; only an internal error leaves an order's fate open (KRAKEN.md §2.2).
        internal = any(e.startswith("EGeneral:Internal error") for e in errors)
        return failure(None, errors, unknown=internal)
    if not envelope.result:
        return failure(TransportError.BAD_SHAPE, unknown=True, detail="no `result` in response")
    try:
        value = decode(envelope.result)
    except msgspec.DecodeError as e:
        return failure(TransportError.BAD_SHAPE, unknown=True, detail=str(e))
    return KrakenOk(endpoint=endpoint, value=value, http_status=status, latency_ns=latency_ns)
