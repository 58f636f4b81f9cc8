"""WS v2 order entry: :class:`kraken.ws_trading.KrakenWsTrading` against the simulator's
authenticated endpoint (``/ws/v2-auth``): every method, tokens, lost answers and executions."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import aiohttp
import pytest

from kraken.credentials import Credentials
from kraken.ratelimit import TradingRateLimiter
from kraken.rest import KrakenRestClient
from kraken.send_deadline import SendDeadline
from kraken.sim import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    LateLandingFault,
    LoseResponseFault,
    ManualClock,
    RunningSim,
    SimOptions,
    running_sim,
)
from kraken.ws_trading import KrakenWsTrading
from schemas.config import KrakenConfig, KrakenTier
from schemas.orders import OrderRequest, OrderSide, OrderType
from tests.support.waiting import eventually

pytestmark = pytest.mark.sim

WAIT_S = 5.0


def _order(side: str = "buy", price: str = "90000", volume: str = "0.01") -> OrderRequest:
    return OrderRequest(
        pair="BTC/USD",
        side=OrderSide(side),
        order_type=OrderType.LIMIT,
        volume=Decimal(volume),
        price=Decimal(price),
    )


async def _until(condition: Callable[[], bool], what: str) -> None:
    try:
        await eventually(condition, WAIT_S)
    except TimeoutError:
        pytest.fail(f"never saw {what}")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def sim(clock: ManualClock) -> AsyncIterator[RunningSim]:
    async with running_sim(
        SimOptions(auto_tick=False, seed=11, clock=clock, heartbeat_interval_s=0.2)
    ) as running:
        running.exchange.set_price("XBTUSD", Decimal(100_000))
        yield running


@pytest.fixture
async def rest(sim: RunningSim, clock: ManualClock) -> AsyncIterator[KrakenRestClient]:
    config = KrakenConfig(rest_url=sim.rest_url, tier=KrakenTier.PRO)
    credentials = Credentials(api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET)
    async with KrakenRestClient(config, credentials=credentials) as client:
        yield client


@pytest.fixture
async def ws(
    sim: RunningSim, rest: KrakenRestClient, clock: ManualClock
) -> AsyncIterator[KrakenWsTrading]:
    client = KrakenWsTrading(
        sim.ws_auth_url, rest.get_websockets_token, clock=clock, request_timeout_s=2.0, seed=1
    )
    async with client:
        yield client


def _ledger(sim: RunningSim, cl_ord_id: str) -> list[str]:
    return [e.status for e in sim.exchange.ledger() if e.cl_ord_id == cl_ord_id]


async def test_add_order_fills_and_executions_reports_it(
    sim: RunningSim, ws: KrakenWsTrading
) -> None:
    reply = await ws.add_order(_order(price="100100"), symbol="BTC/USD", cl_ord_id="fill-1")
    assert reply.ok, reply
    assert reply.result["cl_ord_id"] == "fill-1"
    order_id = reply.result["order_id"]
    assert _ledger(sim, "fill-1") == ["closed"]
    await _until(lambda: ws.orders.get(order_id) is not None, "an executions update")
    await _until(lambda: ws.orders[order_id].order_status == "filled", "the fill")
    assert ws.orders[order_id].cum_qty == Decimal("0.01")


async def test_add_order_rejection_is_kraken_error(sim: RunningSim, ws: KrakenWsTrading) -> None:
    reply = await ws.add_order(_order(volume="0.00000001"), symbol="BTC/USD")
    assert not reply.ok
    assert reply.error == "EOrder:Order minimum not met"
    assert not reply.outcome_unknown
    assert sim.exchange.ledger() == []


async def test_unknown_field_is_refused(ws: KrakenWsTrading) -> None:
    reply = await ws.request("add_order", {"symbol": "BTC/USD", "leverage": 2})
    assert reply.error == "Unsupported field: 'leverage'"


async def test_batch_add_places_every_order_of_one_symbol(
    sim: RunningSim, ws: KrakenWsTrading
) -> None:
    orders = [(_order(price=str(90_000 + i)), f"batch-{i}") for i in range(3)]
    reply = await ws.batch_add("BTC/USD", orders)
    assert reply.ok, reply
    assert [entry["cl_ord_id"] for entry in reply.result] == ["batch-0", "batch-1", "batch-2"]
    assert all(entry["order_id"] for entry in reply.result)
    assert sorted(e.cl_ord_id or "" for e in sim.exchange.ledger()) == [
        "batch-0",
        "batch-1",
        "batch-2",
    ]


async def test_batch_add_refuses_a_single_order(sim: RunningSim, ws: KrakenWsTrading) -> None:
    reply = await ws.batch_add("BTC/USD", [(_order(), "only")])
    assert reply.error == "EGeneral:Invalid arguments:orders"
    assert sim.exchange.ledger() == []


async def test_cancel_order_cancel_all_and_dead_mans_switch(
    sim: RunningSim, ws: KrakenWsTrading, clock: ManualClock
) -> None:
    for i in range(3):
        assert (await ws.add_order(_order(), symbol="BTC/USD", cl_ord_id=f"c-{i}")).ok
    by_cl = await ws.cancel_order(cl_ord_id="c-0")
    assert by_cl.ok
    assert by_cl.result == {"cl_ord_id": "c-0"}
    assert _ledger(sim, "c-0") == ["canceled"]
    again = await ws.cancel_order(cl_ord_id="c-0")
    assert again.error == "EOrder:Unknown order"
    everything = await ws.cancel_all()
    assert everything.result == {"count": 2}
    assert (await ws.add_order(_order(), symbol="BTC/USD", cl_ord_id="dms")).ok
    armed = await ws.cancel_all_orders_after(10)
    assert armed.ok
    assert armed.result["triggerTime"] != "0"
    clock.advance(11)
    sim.exchange.process_time()
    assert _ledger(sim, "dms") == ["canceled"]


async def test_amend_keeps_the_order_and_edit_replaces_it(
    sim: RunningSim, ws: KrakenWsTrading
) -> None:
    placed = await ws.add_order(_order(), symbol="BTC/USD", cl_ord_id="amend-me")
    order_id = placed.result["order_id"]
    amended = await ws.amend_order(order_id=order_id, limit_price=Decimal(91_000))
    assert amended.ok, amended
    assert sim.exchange.orders[order_id].intent.price == Decimal(91_000)
    edited = await ws.edit_order(order_id=order_id, symbol="BTC/USD", order_qty=Decimal("0.02"))
    assert edited.ok, edited
    assert edited.result["original_order_id"] == order_id
    new = sim.exchange.orders[edited.result["order_id"]]
    assert new.intent.volume == Decimal("0.02")
    assert new.is_open
    assert sim.exchange.orders[order_id].status == "canceled"


async def test_request_counts_and_trading_counter_are_shared_with_rest(
    sim: RunningSim, ws: KrakenWsTrading
) -> None:
    assert (await ws.add_order(_order(), symbol="BTC/USD")).ok
    assert sim.exchange.request_counts()["ws:add_order"] == 1
    assert sim.exchange.account().trading_limiter.level("XXBTZUSD") == pytest.approx(1.0)


async def test_a_token_nobody_issued_is_refused(sim: RunningSim) -> None:
    request = {
        "method": "add_order",
        "params": {"token": "forged", "symbol": "BTC/USD", "side": "buy", "order_type": "market"},
        "req_id": 7,
    }
    async with aiohttp.ClientSession() as session, session.ws_connect(sim.ws_auth_url) as socket:
        await socket.send_str(json.dumps(request))
        while True:
            answer = json.loads((await socket.receive(timeout=WAIT_S)).data)
            if answer.get("req_id") == 7:
                break
    assert answer["success"] is False
    assert answer["error"] == "EAPI:Invalid token"
    assert sim.exchange.ledger() == []


async def test_token_expires_unless_a_subscription_holds_it(
    sim: RunningSim, ws: KrakenWsTrading, clock: ManualClock
) -> None:
    """Mid-session: the live subscription keeps the first token valid past 15 minutes; once the
    connection drops, that old token is dead and the client reconnects with a new one."""
    clock.advance(16 * 60)
    assert (await ws.add_order(_order(), symbol="BTC/USD", cl_ord_id="before")).ok
    assert ws.tokens_fetched == 1
    sim.exchange.disconnect_websockets(abrupt=True)
    await _until(lambda: ws.connects == 2 and ws.connected, "a reconnect")
    assert ws.tokens_fetched == 2
    assert (await ws.add_order(_order(), symbol="BTC/USD", cl_ord_id="after")).ok
    assert _ledger(sim, "before") == ["open"]
    assert _ledger(sim, "after") == ["open"]


async def test_revoked_token_is_refreshed_and_the_refused_request_resent_once(
    sim: RunningSim, ws: KrakenWsTrading
) -> None:
    sim.exchange.ws_tokens.revoke_all()
    reply = await ws.add_order(_order(), symbol="BTC/USD", cl_ord_id="resent")
    assert reply.ok, reply
    assert ws.tokens_fetched == 2
    assert _ledger(sim, "resent") == ["open"]


async def test_dropped_connection_after_accepted_add_order_is_unknown_and_never_resent(
    sim: RunningSim, ws: KrakenWsTrading
) -> None:
    sim.faults.add(LoseResponseFault(endpoints=("AddOrder",), mode="drop", calls=1))
    reply = await ws.add_order(_order(price="100100"), symbol="BTC/USD", cl_ord_id="lost-1")
    assert not reply.ok
    assert reply.outcome_unknown
    # The order was accepted and FILLED; the client did not place it again.
    assert _ledger(sim, "lost-1") == ["closed"]
    await _until(lambda: ws.connects == 2 and ws.connected, "a reconnect")
    await _until(lambda: ws.order_by_cl_ord_id("lost-1") is not None, "the snapshot")
    found = ws.order_by_cl_ord_id("lost-1")
    assert found is not None
    assert found.order_status == "filled"
    assert _ledger(sim, "lost-1") == ["closed"]


async def test_fills_missed_while_disconnected_come_back_in_the_snapshot(
    sim: RunningSim, ws: KrakenWsTrading
) -> None:
    placed = await ws.add_order(_order(price="99000"), symbol="BTC/USD", cl_ord_id="gap-1")
    order_id = placed.result["order_id"]
    await _until(lambda: order_id in ws.orders, "the new order on executions")
    assert ws.orders[order_id].order_status == "new"
    sim.exchange.disconnect_websockets(abrupt=True)
    sim.exchange.set_price("XBTUSD", Decimal(98_000))  # fills it while the client is away
    assert _ledger(sim, "gap-1") == ["closed"]
    await _until(lambda: ws.orders[order_id].order_status == "filled", "the fill")
    assert ws.orders[order_id].snapshot


async def test_late_landing_order_reaches_the_engine_after_the_socket_dropped(
    sim: RunningSim, ws: KrakenWsTrading
) -> None:
    sim.faults.add(LateLandingFault(hold_s=0.3, answer="drop", calls=1))
    reply = await ws.add_order(_order(), symbol="BTC/USD", cl_ord_id="late-1")
    assert reply.outcome_unknown
    assert _ledger(sim, "late-1") == []  # still on its way to the engine
    await _until(lambda: _ledger(sim, "late-1") == ["open"], "the late landing")
    await _until(lambda: ws.order_by_cl_ord_id("late-1") is not None, "executions")


async def test_a_placement_paced_by_the_rate_limit_gets_its_deadline_when_sent(
    sim: RunningSim, rest: KrakenRestClient, clock: ManualClock
) -> None:
    """The pair's trading counter is full: the order waits seconds for it before the frame
    leaves. Its 2 s deadline counts from the send, so the engine takes it (a deadline stamped
    before the wait would be elapsed on arrival)."""
    limiter = TradingRateLimiter(KrakenTier.PRO, clock)
    limiter.counter("BTC/USD").snap_to_cap()
    limiter.counter("BTC/USD").charge(15)  # over the cap: about 4 s of decay before a send
    waited: list[float] = []

    async def advance(seconds: float) -> None:
        waited.append(seconds)
        clock.advance(seconds)

    client = KrakenWsTrading(
        sim.ws_auth_url,
        rest.get_websockets_token,
        clock=clock,
        request_timeout_s=2.0,
        seed=1,
        sleeper=advance,
        trading_limiter=limiter,
    )
    deadline = SendDeadline(2 * 1_000_000_000)
    async with client:
        planned_ns = clock()
        reply = await client.add_order(
            _order(price="100100"), symbol="BTC/USD", cl_ord_id="paced-1", deadline=deadline
        )
    assert sum(waited) > 2.0  # the wait alone outlasts the deadline's span
    assert reply.ok, reply
    assert deadline.sent_ns is not None
    assert deadline.sent_ns >= planned_ns + int((sum(waited) + 2.0) * 1_000_000_000)
    assert _ledger(sim, "paced-1") == ["closed"]


async def test_the_answer_leaves_before_the_executions_update_of_its_orders(
    sim: RunningSim,
) -> None:
    """Kraken promises no order between a request's answer and its ``executions`` update; the
    simulator answers first (the update is diffed after the loop turn's trading is done)."""
    token = sim.exchange.ws_tokens.issue(DEFAULT_API_KEY)
    subscribe = {"method": "subscribe", "params": {"channel": "executions", "token": token}}
    orders = [
        {"order_type": "limit", "side": "buy", "order_qty": 0.01, "limit_price": 90000.0,
         "cl_ord_id": f"first-{i}"}
        for i in range(3)
    ]  # fmt: skip
    batch = {
        "method": "batch_add",
        "params": {"symbol": "BTC/USD", "orders": orders, "token": token},
        "req_id": 9,
    }
    async with aiohttp.ClientSession() as session, session.ws_connect(sim.ws_auth_url) as socket:
        await socket.send_str(json.dumps({**subscribe, "req_id": 1}))
        await socket.send_str(json.dumps(batch))
        seen: list[str] = []
        reported: set[str] = set()
        while "answer" not in seen or len(reported) < 3:
            message = json.loads((await socket.receive(timeout=WAIT_S)).data)
            if message.get("req_id") == 9:
                assert message["success"] is True
                seen.append("answer")
            elif message.get("channel") == "executions" and message.get("type") == "update":
                reported |= {entry["cl_ord_id"] for entry in message["data"]}
                seen.append("executions")
    assert seen == ["answer", "executions"]
    assert reported == {f"first-{i}" for i in range(3)}
