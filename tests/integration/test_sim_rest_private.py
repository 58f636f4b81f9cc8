"""Private REST endpoints of the simulated exchange: auth, orders, batches, limits, modes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from kraken.sim import DUPLICATE_CL_ORD_ID, ManualClock, RunningSim, SimOptions
from kraken.sim.wire import rfc3339_seconds
from tests.support.sim import SimClient, kraken_fixture, sim_fixture

pytestmark = pytest.mark.sim


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def sim(clock: ManualClock) -> AsyncIterator[RunningSim]:
    async for running in sim_fixture(SimOptions(auto_tick=False, clock=clock)):
        running.exchange.set_price("XBTUSD", Decimal("50000.0"))  # bid 50000.0, ask 50000.1
        yield running


@pytest.fixture
async def client(sim: RunningSim) -> AsyncIterator[SimClient]:
    async with SimClient(sim) as opened:
        yield opened


def limit(side: str, volume: str, price: str, **extra: str) -> dict[str, str]:
    return {
        "pair": "XBTUSD",
        "type": side,
        "ordertype": "limit",
        "volume": volume,
        "price": price,
        **extra,
    }


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


# -- auth ----------------------------------------------------------------------------------


async def test_auth_errors_use_kraken_strings(sim: RunningSim) -> None:
    async with SimClient(sim, api_key="wrong") as bad_key:
        assert await bad_key.private("Balance") == {"error": ["EAPI:Invalid key"]}
    async with SimClient(sim, api_secret="c2VjcmV0" * 11) as bad_secret:
        assert await bad_secret.private("Balance") == {"error": ["EAPI:Invalid signature"]}


async def test_nonce_repeated_or_lower_is_refused(client: SimClient) -> None:
    assert (await client.private("Balance", nonce=1000))["error"] == []
    assert await client.private("Balance", nonce=1000) == {"error": ["EAPI:Invalid nonce"]}
    assert await client.private("Balance", nonce=999) == {"error": ["EAPI:Invalid nonce"]}
    assert (await client.private("Balance", nonce=1001))["error"] == []


async def test_nonce_window_accepts_late_nonces_once() -> None:
    async for sim in sim_fixture(SimOptions(auto_tick=False, nonce_window=10)):
        async with SimClient(sim) as client:
            assert (await client.private("Balance", nonce=100))["error"] == []
            assert (await client.private("Balance", nonce=95))["error"] == []
            assert await client.private("Balance", nonce=95) == {"error": ["EAPI:Invalid nonce"]}
            assert await client.private("Balance", nonce=80) == {"error": ["EAPI:Invalid nonce"]}


async def test_json_body_is_signed_over_its_exact_bytes(client: SimClient) -> None:
    answer = await client.private("Balance", as_json=True)
    assert answer["error"] == []
    assert answer["result"]["ZUSD"] == "1000000.0000"
    assert answer["result"]["XXBT"] == "10.0000000000"


# -- orders --------------------------------------------------------------------------------


async def test_addorder_answer_has_the_documented_shape(client: SimClient) -> None:
    documented = kraken_fixture("rest_addorder_official_docs_example.json")
    answer = await client.private("AddOrder", limit("buy", "1.25", "37500"))
    assert answer["result"]["descr"] == {"order": "buy 1.25000000 XBTUSD @ limit 37500.0"}
    documented["result"]["descr"].pop("close")  # only present with a conditional close
    assert _shape(answer) == _shape(documented)


async def test_validate_returns_descr_without_txid_and_places_nothing(
    sim: RunningSim, client: SimClient
) -> None:
    answer = await client.private("AddOrder", limit("buy", "0.01", "40000", validate="true"))
    assert answer == {
        "error": [],
        "result": {"descr": {"order": "buy 0.01000000 XBTUSD @ limit 40000.0"}},
    }
    assert sim.exchange.ledger() == []


@pytest.mark.parametrize(
    ("params", "error"),
    [
        (limit("buy", "0.00001", "40000"), "EOrder:Order minimum not met"),
        (limit("buy", "0.00005", "1000"), "EOrder:Cost minimum not met"),
        (limit("buy", "0.01", "40000.05"), "EOrder:Tick size check failed"),
        (limit("buy", "-1", "40000"), "EGeneral:Invalid arguments:volume"),
        ({**limit("buy", "0.01", "40000"), "pair": "XBTEUR"}, "EQuery:Unknown asset pair"),
        (limit("buy", "100", "40000"), "EOrder:Insufficient funds"),
        (limit("sell", "11", "60000"), "EOrder:Insufficient funds"),
        (limit("buy", "0.01", "50000.1", oflags="post"), "EOrder:Post only order"),
    ],
)
async def test_addorder_when_invalid_then_kraken_error_and_nothing_placed(
    sim: RunningSim, client: SimClient, params: dict[str, str], error: str
) -> None:
    assert await client.private("AddOrder", params) == {"error": [error]}
    assert sim.exchange.ledger() == []


async def test_market_buy_fills_at_ask_with_taker_fee(sim: RunningSim, client: SimClient) -> None:
    market = {"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": "0.01"}
    [txid] = (await client.private("AddOrder", market))["result"]["txid"]
    order = (await client.private("QueryOrders", {"txid": txid}))["result"][txid]
    assert order["status"] == "closed"
    assert order["price"] == "50000.1"
    assert order["cost"] == "500.00100"
    assert order["fee"] == "2.00000"  # 0.4 % taker, first tier of AssetPairs fees
    balance = (await client.private("Balance"))["result"]
    assert balance["XXBT"] == "10.0100000000"
    assert Decimal(balance["ZUSD"]) == Decimal("1000000") - Decimal("500.001") - Decimal("2.0000")


async def test_limit_rests_then_fills_at_its_price_with_maker_fee_when_price_crosses(
    sim: RunningSim, client: SimClient
) -> None:
    [txid] = (await client.private("AddOrder", limit("buy", "0.01", "49000", cl_ord_id="rest-1")))[
        "result"
    ]["txid"]
    opened = (await client.private("OpenOrders", {"cl_ord_id": "rest-1"}))["result"]["open"]
    assert list(opened) == [txid]
    assert opened[txid]["status"] == "open"
    sim.exchange.set_price("XBTUSD", Decimal("48000"))
    assert (await client.private("OpenOrders"))["result"]["open"] == {}
    closed = (await client.private("ClosedOrders", {"cl_ord_id": "rest-1"}))["result"]
    assert closed["count"] == 1
    order = closed["closed"][txid]
    assert (order["status"], order["price"], order["fee"]) == ("closed", "49000.0", "1.22500")
    assert sim.exchange.ledger()[0].status == "closed"


async def test_duplicate_cl_ord_id_among_open_orders_is_refused(
    sim: RunningSim, client: SimClient
) -> None:
    assert (await client.private("AddOrder", limit("buy", "0.01", "40000", cl_ord_id="dup")))[
        "error"
    ] == []
    again = await client.private("AddOrder", limit("buy", "0.01", "40000", cl_ord_id="dup"))
    assert again == {"error": [DUPLICATE_CL_ORD_ID]}
    assert len(sim.exchange.ledger()) == 1


async def test_cancel_by_cl_ord_id_then_unknown(client: SimClient) -> None:
    await client.private("AddOrder", limit("buy", "0.01", "40000", cl_ord_id="c-1"))
    assert await client.private("CancelOrder", {"cl_ord_id": "c-1"}) == {
        "error": [],
        "result": {"count": 1},
    }
    assert await client.private("CancelOrder", {"cl_ord_id": "c-1"}) == {
        "error": ["EOrder:Unknown order"]
    }
    closed = (await client.private("ClosedOrders", {"cl_ord_id": "c-1"}))["result"]["closed"]
    assert [order["reason"] for order in closed.values()] == ["User requested"]


async def test_deadline_past_is_elapsed_and_too_far_is_invalid(
    sim: RunningSim, client: SimClient, clock: ManualClock
) -> None:
    past = rfc3339_seconds(clock() - 1_000_000_000)
    far = rfc3339_seconds(clock() + 120 * 1_000_000_000)
    soon = rfc3339_seconds(clock() + 10 * 1_000_000_000)
    assert await client.private("AddOrder", limit("buy", "0.01", "40000", deadline=past)) == {
        "error": ["EService:Deadline elapsed"]
    }
    assert await client.private("AddOrder", limit("buy", "0.01", "40000", deadline=far)) == {
        "error": ["EGeneral:Invalid arguments:deadline"]
    }
    assert sim.exchange.ledger() == []
    assert (await client.private("AddOrder", limit("buy", "0.01", "40000", deadline=soon)))[
        "error"
    ] == []


# -- batches -------------------------------------------------------------------------------


def _batch(*orders: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "pair": "XBTUSD",
        "orders": [{k: v for k, v in o.items() if k != "pair"} for o in orders],
        **extra,
    }


async def test_batch_answer_has_the_documented_shape_and_scalar_txids(client: SimClient) -> None:
    documented = kraken_fixture("rest_addorderbatch_official_docs_example.json")
    answer = await client.private(
        "AddOrderBatch",
        _batch(limit("buy", "0.01", "40000"), limit("sell", "0.01", "60000")),
        as_json=True,
    )
    assert _shape(answer) == _shape(documented)
    assert all(isinstance(entry["txid"], str) for entry in answer["result"]["orders"])


async def test_batch_with_one_invalid_order_is_rejected_whole(
    sim: RunningSim, client: SimClient
) -> None:
    answer = await client.private(
        "AddOrderBatch",
        _batch(limit("buy", "0.01", "40000"), limit("buy", "0.01", "40000.05")),
        as_json=True,
    )
    assert answer == {"error": ["EOrder:Tick size check failed"]}
    assert sim.exchange.ledger() == []


async def test_batch_funding_rejection_is_per_order_and_siblings_are_placed(
    sim: RunningSim, client: SimClient
) -> None:
    answer = await client.private(
        "AddOrderBatch",
        _batch(
            limit("buy", "15", "50000"), limit("buy", "15", "50000"), limit("buy", "0.01", "40000")
        ),
        as_json=True,
    )
    assert answer["error"] == []
    orders = answer["result"]["orders"]
    assert orders[1] == {"error": "EOrder:Insufficient funds"}
    assert "txid" in orders[0]
    assert "txid" in orders[2]
    assert [entry.txid for entry in sim.exchange.ledger()] == [orders[0]["txid"], orders[2]["txid"]]


async def test_batch_of_16_is_refused_and_form_encoded_batch_works(
    sim: RunningSim, client: SimClient
) -> None:
    sixteen = _batch(*[limit("buy", "0.01", "40000")] * 16)
    assert await client.private("AddOrderBatch", sixteen, as_json=True) == {
        "error": ["EGeneral:Invalid arguments:orders"]
    }
    form = {"pair": "XBTUSD"}
    for index, side in enumerate(("buy", "sell")):
        price = "40000" if side == "buy" else "60000"
        form |= {
            f"orders[{index}][{k}]": v for k, v in limit(side, "0.01", price).items() if k != "pair"
        }
    answer = await client.private("AddOrderBatch", form)
    assert answer["error"] == []
    assert len(answer["result"]["orders"]) == 2
    assert len(sim.exchange.ledger()) == 2


async def test_batch_validate_returns_descr_only(sim: RunningSim, client: SimClient) -> None:
    answer = await client.private(
        "AddOrderBatch",
        _batch(limit("buy", "0.01", "40000"), limit("sell", "0.01", "60000"), validate=True),
        as_json=True,
    )
    assert [set(entry) for entry in answer["result"]["orders"]] == [{"descr"}, {"descr"}]
    assert sim.exchange.ledger() == []


# -- dead man's switch, rate limits, modes --------------------------------------------------


async def test_dead_mans_switch_cancels_open_orders_when_it_fires(
    sim: RunningSim, client: SimClient, clock: ManualClock
) -> None:
    await client.private("AddOrder", limit("buy", "0.01", "40000"))
    armed = (await client.private("CancelAllOrdersAfter", {"timeout": "5"}))["result"]
    assert set(armed) == {"currentTime", "triggerTime"}
    clock.advance(4)
    sim.exchange.process_time()
    assert len((await client.private("OpenOrders"))["result"]["open"]) == 1
    clock.advance(2)
    sim.exchange.process_time()
    assert (await client.private("OpenOrders"))["result"]["open"] == {}
    assert [entry.status for entry in sim.exchange.ledger()] == ["canceled"]


async def test_dead_mans_switch_disarmed_with_zero(
    sim: RunningSim, client: SimClient, clock: ManualClock
) -> None:
    await client.private("AddOrder", limit("buy", "0.01", "40000"))
    await client.private("CancelAllOrdersAfter", {"timeout": "5"})
    disarmed = (await client.private("CancelAllOrdersAfter", {"timeout": "0"}))["result"]
    assert disarmed["triggerTime"] == "0"
    clock.advance(10)
    sim.exchange.process_time()
    assert len((await client.private("OpenOrders"))["result"]["open"]) == 1


async def test_rest_call_counter_trips_then_decays(client: SimClient, clock: ManualClock) -> None:
    answers = [await client.private("Balance") for _ in range(16)]
    assert all(answer["error"] == [] for answer in answers[:15])
    assert answers[15] == {"error": ["EAPI:Rate limit exceeded"]}
    clock.advance(4)  # starter decays 0.33/s
    assert (await client.private("Balance"))["error"] == []


async def test_trading_counter_trips_with_cancel_penalties_then_decays(
    client: SimClient, clock: ManualClock
) -> None:
    for _ in range(7):  # each cycle: +1 add, +8 cancel of a young order -> 63
        [txid] = (await client.private("AddOrder", limit("buy", "0.01", "40000")))["result"]["txid"]
        assert (await client.private("CancelOrder", {"txid": txid}))["error"] == []
    assert await client.private("AddOrder", limit("buy", "0.01", "40000")) == {
        "error": ["EOrder:Rate limit exceeded"]
    }
    clock.advance(10)  # starter decays 1/s
    assert (await client.private("AddOrder", limit("buy", "0.01", "40000")))["error"] == []


async def test_status_modes_gate_orders(sim: RunningSim, client: SimClient) -> None:
    [txid] = (await client.private("AddOrder", limit("buy", "0.01", "40000")))["result"]["txid"]
    sim.exchange.set_status("cancel_only")
    assert await client.private("AddOrder", limit("buy", "0.01", "40000")) == {
        "error": ["EService:Market in cancel_only mode"]
    }
    assert (await client.private("CancelOrder", {"txid": txid}))["result"] == {"count": 1}
    sim.exchange.set_status("post_only")
    market = {"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": "0.01"}
    assert await client.private("AddOrder", market) == {
        "error": ["EService:Market in post_only mode"]
    }
    assert (await client.private("AddOrder", limit("buy", "0.01", "40000", oflags="post")))[
        "error"
    ] == []
    sim.exchange.set_status("maintenance")
    assert await client.private("Balance") == {"error": ["EService:Unavailable"]}
    sim.exchange.set_status("online")
    sim.exchange.set_pair_status("XBTUSD", "cancel_only")
    assert await client.private("AddOrder", limit("buy", "0.01", "40000")) == {
        "error": ["EService:Market in cancel_only mode"]
    }


async def test_websockets_token_and_unknown_method(client: SimClient) -> None:
    token = (await client.private("GetWebSocketsToken"))["result"]
    assert isinstance(token["token"], str)
    assert token["expires"] == 900
    assert await client.private("Withdraw") == {"error": ["EGeneral:Unknown method"]}
