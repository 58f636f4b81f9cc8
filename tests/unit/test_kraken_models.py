"""Every recorded fixture decodes with the client's decoders; Kraken's type drift is tolerated."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest

from kraken.models import (
    AddOrderBatchResult,
    AddOrderResult,
    AssetPair,
    CancelResult,
    ClosedOrdersResult,
    OrderInfo,
    ServerTime,
    SystemStatus,
    TickerInfo,
    decode_envelope,
    decode_ohlc,
    decode_result,
)
from kraken.rest import RawResponse, interpret_response
from kraken.result import KrakenFailure, KrakenOk
from kraken.ws import BookUpdate, StatusUpdate, SubscriptionResult, TickerUpdate, decode_ws_message
from tests.support.sim import KRAKEN_FIXTURES

FIXTURES = KRAKEN_FIXTURES

REST_FIXTURES: dict[str, Any] = {
    "rest_addorder_official_docs_example.json": AddOrderResult,
    "rest_addorderbatch_official_docs_example.json": AddOrderBatchResult,
    "rest_assetpairs_XBTUSDT_2025-11_nautilus.json": dict[str, AssetPair],
    "rest_systemstatus_official_docs_example.json": SystemStatus,
    "rest_systemstatus_online_2025-11_nautilus.json": SystemStatus,
    "rest_ticker_XBTUSDT_2025-11_nautilus.json": dict[str, TickerInfo],
    "rest_time_2025-11_nautilus.json": ServerTime,
    "synthetic/nautilus_http_add_order_spot.json": AddOrderResult,
    "synthetic/nautilus_http_cancel_order_spot.json": CancelResult,
}


def _decode_fixture(name: str, result_type: Any) -> Any:
    envelope = decode_envelope((FIXTURES / name).read_bytes())
    assert envelope.error == []
    assert envelope.result
    return decode_result(envelope.result, result_type)


def test_fixture_list_when_directory_read_then_every_rest_fixture_is_covered() -> None:
    """No REST fixture is left out of the decoding tests."""
    on_disk = {
        str(p.relative_to(FIXTURES))
        for p in FIXTURES.rglob("*.json")
        if p.name.startswith(("rest_", "nautilus_http_"))
    }
    assert on_disk == set(REST_FIXTURES)


@pytest.mark.parametrize(("name", "result_type"), sorted(REST_FIXTURES.items()))
def test_rest_fixture_when_decoded_then_typed_result(name: str, result_type: Any) -> None:
    """Each recorded REST response decodes into its typed result."""
    assert _decode_fixture(name, result_type) is not None


def test_ticker_fixture_when_decoded_then_decimals_exact() -> None:
    """Prices keep Kraken's exact digits."""
    tickers = _decode_fixture("rest_ticker_XBTUSDT_2025-11_nautilus.json", dict[str, TickerInfo])

    ticker = tickers["XBTUSDT"]
    assert ticker.a == (Decimal("105944.30000"), Decimal(1), Decimal("1.000"))
    assert ticker.c[0] == Decimal("105899.40000")
    assert ticker.t == (35, 3276)
    assert ticker.o == Decimal("106021.60000")


def test_assetpairs_fixture_when_decoded_then_metadata_decimals() -> None:
    """Order minimums, tick size and fee tiers come out as Decimals."""
    pairs = _decode_fixture("rest_assetpairs_XBTUSDT_2025-11_nautilus.json", dict[str, AssetPair])

    pair = pairs["XBTUSDT"]
    assert (pair.altname, pair.wsname) == ("XBTUSDT", "XBT/USDT")
    assert pair.ordermin == Decimal("0.00005")
    assert pair.tick_size == Decimal("0.1")
    assert pair.fees[0] == (Decimal(0), Decimal("0.4"))


def test_addorder_fixture_when_decoded_then_txid_is_array() -> None:
    """AddOrder's txid is a list."""
    result = _decode_fixture("rest_addorder_official_docs_example.json", AddOrderResult)

    assert result.txid == ["OUF4EM-FRGI2-MQMWZD"]
    assert result.descr.close is not None


def test_addorderbatch_fixture_when_decoded_then_txid_scalar_per_entry() -> None:
    """Batch entries carry a scalar txid each, in request order."""
    result = _decode_fixture("rest_addorderbatch_official_docs_example.json", AddOrderBatchResult)

    assert [o.txid for o in result.orders] == ["65LRD3-AHGRA-YAH8E5", "OK8HFF-5J2PL-XLR17S"]


def test_addorderbatch_when_partial_rejection_then_entry_error_kept() -> None:
    """A per-order rejection is an `error` string on that row; siblings keep their txid."""
    raw = (
        b'{"orders":[{"txid":"OA-1","descr":{"order":"x"}},{"error":"EOrder:Insufficient funds"}]}'
    )

    result: AddOrderBatchResult = decode_result(raw, AddOrderBatchResult)

    assert result.orders[0].txid == "OA-1"
    assert result.orders[1].txid is None
    assert result.orders[1].error == "EOrder:Insufficient funds"


@pytest.mark.parametrize("count", [b"1", b'"1"'])
def test_cancel_result_when_count_string_or_int_then_int(count: bytes) -> None:
    """`count` is an int in the spec and a string in recorded data."""
    assert decode_result(b'{"count":' + count + b"}", CancelResult).count == 1


@pytest.mark.parametrize(
    ("userref", "opentm", "expected_userref"),
    [
        (b"null", b'"1705259439.563000"', None),
        (b'"0"', b"1705259439.563", 0),
        (b"42", b'"1705259439.563"', 42),
    ],
)
def test_order_info_when_types_drift_then_decodes(
    userref: bytes, opentm: bytes, expected_userref: int | None
) -> None:
    """`userref` null/string/int and `opentm` string/number all decode."""
    raw = (
        b'{"status":"open","userref":' + userref + b',"opentm":' + opentm + b","
        b'"vol":"1.5","vol_exec":0,"cost":"0.0","fee":0.0,"price":"0","descr":{"pair":"XBTUSD",'
        b'"type":"buy","ordertype":"limit","price":"30000.0","price2":"0","order":"buy"}}'
    )

    info: OrderInfo = decode_result(raw, OrderInfo)

    assert info.userref == expected_userref
    assert info.opentm is not None
    assert info.opentm.quantize(Decimal("0.001")) == Decimal("1705259439.563")
    assert info.vol == Decimal("1.5")


def test_closed_orders_when_count_is_string_then_int() -> None:
    """ClosedOrders' grand total may arrive as a string."""
    result: ClosedOrdersResult = decode_result(b'{"closed":{},"count":"7"}', ClosedOrdersResult)

    assert result.count == 7


@pytest.mark.parametrize("last", [b"1688672160", b'"1688672160"'])
def test_ohlc_when_last_string_or_int_then_cursor_int(last: bytes) -> None:
    """OHLC rows decode with Decimals and the `last` cursor accepts both types."""
    raw = (
        b'{"XXBTZUSD":[[1688671200,"30306.1","30306.2","30305.7","30305.7","30306.1",'
        b'"3.39243896",23]],"last":' + last + b"}"
    )

    result = decode_ohlc(msgspec.Raw(raw))

    assert result.pair == "XXBTZUSD"
    assert result.last == 1688672160
    assert result.bars[0].volume == Decimal("3.39243896")
    assert result.bars[0].count == 23


def test_ticker_when_numbers_instead_of_strings_then_decodes() -> None:
    """Live Ticker may use JSON numbers; the decoder accepts them."""
    raw = (
        b'{"XXBTZUSD":{"a":[1.5,1,1.0],"b":["1.4","1","1.000"],"c":[1.45,"0.1"],"v":[1,2],'
        b'"p":[1,2],"t":["3",4],"l":[1,2],"h":[1,2],"o":1.3}}'
    )

    tickers: dict[str, TickerInfo] = decode_result(raw, dict[str, TickerInfo])

    assert tickers["XXBTZUSD"].a[0] == Decimal("1.5")
    assert tickers["XXBTZUSD"].t == (3, 4)


def test_ws_ticker_fixtures_when_decoded_then_decimals_from_text() -> None:
    """WS v2 ticker floats become exact Decimals (via their JSON text, not float)."""
    official = msgspec.json.decode(
        (FIXTURES / "ws_v2_ticker_subscribe_and_snapshot_official_docs_example.json").read_bytes()
    )
    synthetic = (FIXTURES / "synthetic/nautilus_ws_ticker_snapshot.json").read_bytes()

    official_updates = decode_ws_message(msgspec.json.encode(official["snapshot"]), 7)
    synthetic_updates = decode_ws_message(synthetic, 8)

    assert official_updates is not None
    assert synthetic_updates is not None
    first = official_updates[0]
    assert isinstance(first, TickerUpdate)
    assert first.symbol == "ALGO/USD"
    assert first.ask_qty == Decimal("1361.44813783")
    assert first.snapshot
    assert first.received_ns == 7
    second = synthetic_updates[0]
    assert isinstance(second, TickerUpdate)
    assert second.bid == Decimal("105944.20")


def test_ws_subscribe_ack_fixture_when_decoded_then_success() -> None:
    """A subscribe ack becomes a successful SubscriptionResult per symbol."""
    updates = decode_ws_message(
        (FIXTURES / "synthetic/nautilus_ws_subscribe_response.json").read_bytes(), 1
    )

    assert updates == [
        SubscriptionResult(channel="ticker", symbol="BTC/USD", success=True, received_ns=1)
    ]


def test_ws_book_fixture_decodes_as_a_book_update() -> None:
    raw = (FIXTURES / "synthetic/nautilus_ws_book_update.json").read_bytes()
    [update] = decode_ws_message(raw, 0) or []
    assert isinstance(update, BookUpdate)
    assert update.bids[0].price == Decimal("105944.20")
    assert not update.snapshot


def test_ws_other_fixtures_when_decoded_then_ignored_not_failed() -> None:
    """Pong and trading messages decode as 'nothing of interest' rather than errors."""
    names = [
        "synthetic/nautilus_ws_pong.json",
        "synthetic/nautilus_ws_add_order_response_success.json",
        "synthetic/nautilus_ws_add_order_response_failure.json",
        "synthetic/nautilus_ws_batch_add_response_partial.json",
    ]
    for name in names:
        assert decode_ws_message((FIXTURES / name).read_bytes(), 0) == [], name


def test_ws_status_when_connection_id_exceeds_int64_then_exact() -> None:
    """The status channel's connection_id can exceed int64."""
    raw = (
        b'{"channel":"status","type":"update","data":[{"system":"online","api_version":"v2",'
        b'"connection_id":18125794168470749634,"version":"2.0.0"}]}'
    )

    assert decode_ws_message(raw, 0) == [
        StatusUpdate(
            system="online",
            api_version="v2",
            connection_id=18125794168470749634,
            version="2.0.0",
        )
    ]


def test_ws_subscribe_when_rejected_without_result_then_failure_with_error() -> None:
    """A rejection lacking `result` still decodes, as a failure."""
    raw = b'{"method":"subscribe","success":false,"error":"Currency pair not supported FOO/BAR"}'

    (update,) = decode_ws_message(raw, 0) or []

    assert isinstance(update, SubscriptionResult)
    assert not update.success
    assert update.error == "Currency pair not supported FOO/BAR"


def test_ws_message_when_not_json_then_none() -> None:
    """Garbage is reported as undecodable (None), not raised."""
    assert decode_ws_message(b"<html>", 0) is None
    assert (
        decode_ws_message(b'{"channel":"ticker","type":"update","data":[{"bid":"x"}]}', 0) is None
    )


# -- response interpretation (pure) ---------------------------------------------------------------


def _interpret(endpoint: str, status: int, body: bytes) -> Any:
    return interpret_response(
        endpoint,
        RawResponse(status=status, body=body),
        lambda raw: decode_result(raw, CancelResult),
        5,
    )


def test_interpret_when_kraken_errors_then_failure_with_all_errors() -> None:
    """Every Kraken error string is kept, and a plain rejection is not an unknown outcome."""
    result = _interpret(
        "CancelOrder", 200, b'{"error":["EOrder:Unknown order","EGeneral:Invalid arguments"]}'
    )

    assert isinstance(result, KrakenFailure)
    assert result.errors == ("EOrder:Unknown order", "EGeneral:Invalid arguments")
    assert result.transport_error is None
    assert not result.outcome_unknown


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (200, b"<html><body>Bad gateway</body></html>", "non_json"),
        (200, b'{"error":[],"result":{"cou', "non_json"),
        (200, b'{"result":{"count":1}}', "bad_shape"),
        (200, b'{"error":[],"result":{"count":"many"}}', "bad_shape"),
        (200, b'{"error":[],"result":{}}', "bad_shape"),
        (200, b'{"error":[]}', "bad_shape"),
        (502, b"<html>502</html>", "http_5xx"),
    ],
)
def test_interpret_when_malformed_on_state_change_then_typed_unknown_failure(
    status: int, body: bytes, kind: str
) -> None:
    """Malformed replies to a cancel are typed failures with the raw text, outcome unknown."""
    result = _interpret("CancelAll", status, body)

    assert isinstance(result, KrakenFailure)
    assert result.transport_error == kind
    assert result.raw_body == body.decode()
    assert result.outcome_unknown


def test_interpret_when_malformed_on_read_then_outcome_known() -> None:
    """A read never has an unknown outcome."""
    result = _interpret("OpenOrders", 502, b"<html>502</html>")

    assert isinstance(result, KrakenFailure)
    assert not result.outcome_unknown


def test_interpret_when_internal_error_on_order_then_outcome_unknown() -> None:
    """EGeneral:Internal error leaves an order's fate open."""
    result = _interpret("AddOrder", 200, b'{"error":["EGeneral:Internal error:123"]}')

    assert isinstance(result, KrakenFailure)
    assert result.outcome_unknown


def test_interpret_when_only_warnings_then_success() -> None:
    """Warnings (W-prefixed) alone do not fail a call."""
    result = _interpret("CancelAll", 200, b'{"error":["WGeneral:Deprecated"],"result":{"count":2}}')

    assert isinstance(result, KrakenOk)
    assert result.value == CancelResult(count=2)
