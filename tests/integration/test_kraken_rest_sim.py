"""The REST client against the simulated exchange: round trips, nonces, rate limits, faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import TypeVar

import pytest

from kraken.credentials import Credentials
from kraken.models import AssetPair
from kraken.nonce import NonceSource
from kraken.pairs import PairRegistry
from kraken.rest import KrakenRestClient
from kraken.result import KrakenFailure, KrakenOk
from kraken.sim import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    LoseResponseFault,
    MalformedFault,
    RunningSim,
    SimOptions,
    running_sim,
)
from schemas.config import KrakenConfig
from schemas.events import KrakenCallFailed, KrakenCallSucceeded, OperationKind
from schemas.orders import OrderRequest, OrderSide, OrderType

pytestmark = pytest.mark.sim

T = TypeVar("T")
CREDENTIALS = Credentials(api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET)
Event = KrakenCallSucceeded | KrakenCallFailed


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with running_sim(SimOptions(auto_tick=False)) as running:
        yield running


def _client(
    sim: RunningSim, events: list[Event] | None = None, **config: object
) -> KrakenRestClient:
    settings = {"rest_url": sim.rest_url, "ws_url": sim.ws_url, "request_timeout_s": 5.0, **config}
    return KrakenRestClient(
        KrakenConfig(**settings),  # type: ignore[arg-type]
        credentials=CREDENTIALS,
        on_call=None if events is None else events.append,
        nonces=NonceSource(),
    )


def _ok(result: KrakenOk[T] | KrakenFailure) -> T:
    assert isinstance(result, KrakenOk), result
    return result.value


async def test_public_endpoints_when_called_then_typed_results_and_events(sim: RunningSim) -> None:
    """Time, SystemStatus, AssetPairs, Ticker and OHLC round-trip and report kraken.public."""
    events: list[Event] = []
    async with _client(sim, events) as client:
        server_time = _ok(await client.time())
        status = _ok(await client.system_status())
        asset_pairs: dict[str, AssetPair] = _ok(await client.asset_pairs())
        pairs = PairRegistry(asset_pairs)
        client.pairs = pairs
        tickers = _ok(await client.ticker(["BTC/USD"]))
        ohlc = _ok(await client.ohlc("BTC/USD", interval=1))

    assert server_time.unixtime > 0
    assert status.status == "online"
    assert pairs.to_altname("BTC/USD") == "XBTUSD"
    (ticker,) = tickers.values()
    assert ticker.a[0] > ticker.b[0] > 0
    assert ohlc.last > 0
    assert [e.scope for e in events] == ["kraken.public"] * 5
    assert all(isinstance(e, KrakenCallSucceeded) and e.http_status == 200 for e in events)


async def test_order_lifecycle_when_placed_queried_cancelled_then_consistent(
    sim: RunningSim,
) -> None:
    """AddOrder → OpenOrders/QueryOrders by cl_ord_id → CancelOrder → ClosedOrders."""
    events: list[Event] = []
    async with _client(sim, events) as client:
        balance = _ok(await client.balance())
        placed = _ok(
            await client.add_order(
                pair="XBTUSD",
                side="buy",
                ordertype="limit",
                volume=Decimal("0.01"),
                price=Decimal("50000.0"),
                post_only=True,
                cl_ord_id="gf-life-1",
            )
        )
        opened = _ok(await client.open_orders(cl_ord_id="gf-life-1"))
        queried = _ok(await client.query_orders(placed.txid))
        cancelled = _ok(await client.cancel_order(cl_ord_id="gf-life-1"))
        closed = _ok(await client.closed_orders(cl_ord_id="gf-life-1"))

    assert balance["ZUSD"] > 0
    (txid,) = placed.txid
    assert list(opened.open) == [txid]
    assert queried[txid].cl_ord_id == "gf-life-1"
    assert queried[txid].vol == Decimal("0.01")
    assert cancelled.count == 1
    assert closed.closed[txid].status == "canceled"
    scopes = {e.endpoint: (e.scope, e.operation) for e in events}
    assert scopes["AddOrder"] == ("kraken.trading", OperationKind.PLACE)
    assert scopes["CancelOrder"] == ("kraken.trading", OperationKind.CANCEL)
    assert scopes["Balance"] == ("kraken.private", OperationKind.READ)


async def test_batch_and_cancel_all_when_called_then_rows_by_position(sim: RunningSim) -> None:
    """AddOrderBatch (JSON body) returns one row per order; CancelAll and the timer work."""
    orders = [
        OrderRequest(
            pair="BTC/USD",
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            volume=Decimal("0.01"),
            price=Decimal(price),
            cl_ord_id=f"gf-batch-{i}",
        )
        for i, price in enumerate(["40000.0", "41000.0"])
    ]
    async with _client(sim) as client:
        validated = _ok(await client.add_order_batch("XBTUSD", orders, validate=True))
        batch = _ok(await client.add_order_batch("XBTUSD", orders))
        timer = _ok(await client.cancel_all_orders_after(60))
        cancelled = _ok(await client.cancel_all())
        disarmed = _ok(await client.cancel_all_orders_after(0))
        token = _ok(await client.get_websockets_token())

    assert all(row.txid is None for row in validated.orders)
    assert len(batch.orders) == 2
    assert all(row.txid and row.error is None for row in batch.orders)
    assert timer.trigger_time != "0"
    assert cancelled.count == 2
    assert disarmed.trigger_time == "0"
    assert token.token
    assert token.token not in repr(token)


async def test_kraken_rejection_when_order_invalid_then_failure_with_errors(
    sim: RunningSim,
) -> None:
    """An exchange rejection is data: all error strings, known outcome, a failed event."""
    events: list[Event] = []
    async with _client(sim, events) as client:
        result = await client.add_order(
            pair="XBTUSD", side="buy", ordertype="market", volume=Decimal("1000000")
        )

    assert isinstance(result, KrakenFailure)
    assert result.errors
    assert all(e.startswith("E") for e in result.errors)
    assert not result.outcome_unknown
    assert isinstance(events[-1], KrakenCallFailed)
    assert events[-1].errors == result.errors


async def test_concurrent_private_calls_when_no_nonce_window_then_no_invalid_nonce(
    sim: RunningSim,
) -> None:
    """Fourteen concurrent private calls on one key all succeed (sign-and-send is serialized)."""
    async with _client(sim) as client:
        results = await asyncio.gather(
            *(client.open_orders() if i % 2 else client.balance() for i in range(14))
        )

    failures = [r for r in results if isinstance(r, KrakenFailure)]
    assert failures == []


async def test_two_clients_same_key_when_concurrent_then_no_invalid_nonce(
    sim: RunningSim,
) -> None:
    """Two clients sharing a key in one process share the nonce floor and the send lock."""
    nonces = NonceSource()
    config = KrakenConfig(rest_url=sim.rest_url, tier="pro")  # type: ignore[arg-type]
    first = KrakenRestClient(config, credentials=CREDENTIALS, nonces=nonces)
    second = KrakenRestClient(config, credentials=CREDENTIALS, nonces=nonces)
    async with first, second:
        results = await asyncio.gather(*(c.balance() for c in (first, second) * 6))

    assert all(isinstance(r, KrakenOk) for r in results), results


async def test_rest_counter_when_exhausted_then_client_waits_instead_of_erroring(
    sim: RunningSim,
) -> None:
    """When the model says the counter is full, the client sleeps before sending."""
    sleeps: list[float] = []

    async def sleeper(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(seconds)

    async with _client(sim, tier="pro") as client:
        client._sleeper = sleeper
        client.rest_limiter.snap_to_cap()
        client.rest_limiter.counter._level = client.rest_limiter.counter.limits.cap - 0.9
        result = await client.balance()

    assert isinstance(result, KrakenOk)
    assert len(sleeps) >= 1
    assert 0 < sleeps[0] <= 1.0


@pytest.mark.parametrize("mode", ["html", "truncated_json", "missing_result", "wrong_types"])
async def test_malformed_response_when_injected_then_typed_failure_with_raw_text(
    sim: RunningSim, mode: str
) -> None:
    """Malformed bodies become failures with the raw text, never exceptions."""
    sim.faults.add(MalformedFault(mode=mode, endpoints=("Ticker",), calls=1))  # type: ignore[arg-type]
    events: list[Event] = []
    async with _client(sim, events) as client:
        result = await client.ticker(["XBTUSD"])
        after = await client.ticker(["XBTUSD"])

    assert isinstance(result, KrakenFailure)
    assert result.transport_error in {"non_json", "bad_shape"}
    assert result.raw_body
    assert not result.outcome_unknown
    assert isinstance(events[0], KrakenCallFailed)
    assert events[0].transport_error == result.transport_error
    assert isinstance(after, KrakenOk)


async def test_wrong_types_when_order_reply_unreadable_then_outcome_unknown(
    sim: RunningSim,
) -> None:
    """An AddOrder reply whose txid array became a string is unreadable: outcome unknown."""
    sim.faults.add(MalformedFault(mode="wrong_types", endpoints=("AddOrder",), calls=1))
    async with _client(sim) as client:
        result = await client.add_order(
            pair="XBTUSD",
            side="buy",
            ordertype="limit",
            volume=Decimal("0.01"),
            price=Decimal("50000.0"),
            cl_ord_id="gf-wrongtypes",
        )

    assert isinstance(result, KrakenFailure)
    assert result.transport_error == "bad_shape"
    assert result.outcome_unknown
    assert "txid" in result.raw_body


@pytest.mark.parametrize("mode", ["drop", "http_502", "timeout"])
async def test_accepted_order_response_lost_when_injected_then_outcome_unknown(
    sim: RunningSim, mode: str
) -> None:
    """The order is accepted but the reply is lost: outcome_unknown, and reconcile finds it."""
    sim.faults.add(LoseResponseFault(mode=mode, calls=1, hold_s=2.0))  # type: ignore[arg-type]
    events: list[Event] = []
    async with _client(sim, events, request_timeout_s=0.5) as client:
        result = await client.add_order(
            pair="XBTUSD",
            side="buy",
            ordertype="limit",
            volume=Decimal("0.01"),
            price=Decimal("50000.0"),
            cl_ord_id=f"gf-lost-{mode}",
        )
        found = _ok(await client.open_orders(cl_ord_id=f"gf-lost-{mode}"))

    assert isinstance(result, KrakenFailure)
    assert result.outcome_unknown
    assert result.transport_error in {"timeout", "connection", "http_5xx"}
    assert isinstance(events[0], KrakenCallFailed)
    assert events[0].outcome_unknown
    assert len(found.open) == 1


async def test_private_call_when_no_credentials_then_failure_without_sending(
    sim: RunningSim,
) -> None:
    """A private call without credentials fails locally, sends nothing, and is reported as
    such (the classifier files it under authentication)."""
    events: list[Event] = []
    config = KrakenConfig(rest_url=sim.rest_url)
    async with KrakenRestClient(config, on_call=events.append) as client:
        result = await client.balance()

    assert isinstance(result, KrakenFailure)
    assert result.transport_error == "no_credentials"
    assert not result.outcome_unknown
    assert [(type(e), getattr(e, "transport_error", None)) for e in events] == [
        (KrakenCallFailed, "no_credentials")
    ]


async def test_connection_refused_when_no_server_then_connection_failure_known_outcome() -> None:
    """Nothing listening: a connection failure whose outcome is known (not sent)."""
    config = KrakenConfig(rest_url="http://127.0.0.1:9", request_timeout_s=2.0)
    async with KrakenRestClient(config, credentials=CREDENTIALS, nonces=NonceSource()) as client:
        result = await client.cancel_all()

    assert isinstance(result, KrakenFailure)
    assert result.transport_error == "connection"
    assert not result.outcome_unknown


async def test_probe_flag_when_set_then_passed_to_event(sim: RunningSim) -> None:
    """probe=True is carried into the call event."""
    events: list[Event] = []
    async with _client(sim, events) as client:
        await client.system_status(probe=True)

    assert events[0].probe
