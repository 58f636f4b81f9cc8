"""The client's request-building path against Kraken's official signing vector (KRAKEN.md §1.2)."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from kraken.credentials import Credentials
from kraken.rest import add_order_params, build_private_request, format_deadline, format_decimal
from kraken.signing import sign_request

OFFICIAL_SECRET = (
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
)
OFFICIAL_NONCE = 1616492376594
OFFICIAL_BODY = b"nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
OFFICIAL_SIGN = (
    "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
)


def _official_credentials() -> Credentials:
    return Credentials(api_key="public-key", api_secret=OFFICIAL_SECRET)


def test_build_private_request_when_official_vector_then_signature_matches() -> None:
    """Form fields built from Decimals give Kraken's documented body and API-Sign."""
    fields = dict(
        add_order_params(
            pair="XBTUSD",
            side="buy",
            ordertype="limit",
            volume=Decimal("1.25"),
            price=Decimal("37500"),
        )
    )
    payload = [(key, fields[key]) for key in ("ordertype", "pair", "price", "type", "volume")]

    request = build_private_request(
        "AddOrder", payload, nonce=OFFICIAL_NONCE, credentials=_official_credentials()
    )

    assert request.path == "/0/private/AddOrder"
    assert request.body == OFFICIAL_BODY
    assert request.headers["API-Sign"] == OFFICIAL_SIGN
    assert request.headers["API-Key"] == "public-key"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_build_private_request_when_balance_then_matches_derived_vector() -> None:
    """Nonce-only bodies sign as in the locally derived Balance vector."""
    request = build_private_request(
        "Balance", [], nonce=OFFICIAL_NONCE, credentials=_official_credentials()
    )

    assert request.body == b"nonce=1616492376594"
    assert request.headers["API-Sign"] == (
        "1nH4vwR+8FHiYh1QT649xXkGd3JR3x0DWkgv3u9Ed/Qqv6KPtgQpEU4m+Emb/VgpEji3j1XNwI+HCbfXxmrTOg=="
    )


def test_build_private_request_when_json_payload_then_signs_exact_json_bytes() -> None:
    """A dict payload goes out as JSON with the nonce inside; the signature covers those bytes."""
    request = build_private_request(
        "AddOrderBatch",
        {"pair": "XBTUSD", "orders": [{"type": "buy"}]},
        nonce=OFFICIAL_NONCE,
        credentials=_official_credentials(),
    )

    assert msgspec.json.decode(request.body) == {
        "nonce": "1616492376594",
        "pair": "XBTUSD",
        "orders": [{"type": "buy"}],
    }
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["API-Sign"] == sign_request(
        secret_b64=OFFICIAL_SECRET,
        url_path="/0/private/AddOrderBatch",
        nonce=OFFICIAL_NONCE,
        body=request.body,
    )


def test_signed_request_repr_when_printed_then_hides_signature() -> None:
    """Neither the signature nor the key appear in the repr."""
    request = build_private_request(
        "Balance", [], nonce=OFFICIAL_NONCE, credentials=_official_credentials()
    )

    assert request.headers["API-Sign"] not in repr(request)
    assert "public-key" not in repr(request)


def test_format_decimal_when_exponent_form_then_plain_string() -> None:
    """Decimals never reach the wire in exponent notation."""
    assert format_decimal(Decimal("1E+3")) == "1000"
    assert format_decimal(Decimal("1E-8")) == "0.00000001"
    assert format_decimal(Decimal("37500.10")) == "37500.10"


def test_format_deadline_when_ns_then_rfc3339_millis() -> None:
    """Deadlines go out as RFC 3339 UTC with milliseconds."""
    assert format_deadline(1_616_492_376_594_123_456) == "2021-03-23T09:39:36.594Z"


def test_add_order_params_when_all_options_then_kraken_field_names() -> None:
    """Every option maps to Kraken's form field."""
    params = dict(
        add_order_params(
            pair="XBTUSD",
            side="sell",
            ordertype="stop-loss-limit",
            volume=Decimal("0.5"),
            price=Decimal("100"),
            price2=Decimal("99.5"),
            timeinforce="GTD",
            expiretm=1_700_000_000,
            post_only=True,
            reduce_only=True,
            cl_ord_id="abc-1",
            validate=True,
            deadline_ns=1_700_000_000_000_000_000,
        )
    )

    assert params == {
        "pair": "XBTUSD",
        "type": "sell",
        "ordertype": "stop-loss-limit",
        "volume": "0.5",
        "price": "100",
        "price2": "99.5",
        "timeinforce": "GTD",
        "expiretm": "1700000000",
        "oflags": "post",
        "reduce_only": "true",
        "cl_ord_id": "abc-1",
        "validate": "true",
        "deadline": "2023-11-14T22:13:20.000Z",
    }
