"""WS v2 error strings (KRAKEN.md §5) and the verdicts the classifier gives them."""

from __future__ import annotations

import pytest

from actors.error_classifier import ErrorCategory
from tests.unit.test_error_retry import PLACE, READ, Row, assert_decision, classifier

C = ErrorCategory

WS_ROWS = [
    Row("Unsupported field: 'leverage'", C.INVALID_ARGUMENTS, "N", "N", "N", "N"),
    Row("Malformed request", C.INVALID_ARGUMENTS, "N", "N", "N", "N"),
    Row("Method not found", C.INVALID_ARGUMENTS, "N", "N", "N", "N"),
    Row("Currency pair not supported BTC/XYZ", C.UNKNOWN_ASSET, "N", "N", "N", "N"),
    Row(
        "Private data and trading are unavailable on this endpoint. Try ws-auth.kraken.com",
        C.INVALID_ARGUMENTS,
        "N",
        "N",
        "N",
        "N",
    ),
    # A stale token is refused before the engine sees the order: refresh and resend.
    Row("EAPI:Invalid token", C.SESSION_EXPIRED, "R*", "R", "R", "R"),
]


@pytest.mark.parametrize("row", WS_ROWS, ids=[row.text for row in WS_ROWS])
def test_ws_error_strings_get_their_verdicts(row: Row) -> None:
    assert classifier().classify_error(row.text).category is row.category
    assert_decision(row.read, READ, row.text)
    assert_decision(row.place, PLACE, row.text)


def test_currency_pair_detail_is_kept() -> None:
    result = classifier().classify_error("Currency pair not supported BTC/XYZ")
    assert result.code == "Currency pair not supported"
    assert result.detail == "BTC/XYZ"
