"""Classification of Kraken error strings and transport failures (KRAKEN.md §2)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.error_classifier import (
    ErrorCategory,
    Severity,
    classify_call,
    classify_error,
    classify_errors,
)
from actors.error_classifier.catalogue import CATALOGUE
from schemas.events import KrakenCallFailed, OperationKind

C = ErrorCategory


def failed_call(
    *errors: str,
    operation: OperationKind = OperationKind.READ,
    scope: str = "kraken.private",
    transport_error: str | None = None,
    http_status: int | None = None,
    outcome_unknown: bool = False,
) -> KrakenCallFailed:
    return KrakenCallFailed(
        ts_event=1,
        ts_init=1,
        scope=scope,
        endpoint="AddOrder" if operation is OperationKind.PLACE else "Balance",
        operation=operation,
        latency_ns=1_000_000,
        errors=errors,
        http_status=http_status,
        transport_error=transport_error,
        outcome_unknown=outcome_unknown,
    )


def test_every_catalogue_key_classifies_to_its_own_code() -> None:
    """Each catalogued string matches itself exactly, never a shorter or longer neighbour."""
    for code, category in CATALOGUE.items():
        result = classify_error(code)
        assert (result.code, result.category, result.detail) == (code, category, ""), code


@pytest.mark.parametrize(
    ("text", "category", "code", "detail"),
    [
        (
            "EGeneral:Invalid arguments:volume",
            C.INVALID_ARGUMENTS,
            "EGeneral:Invalid arguments",
            "volume",
        ),
        (
            "EGeneral:Invalid arguments:ordertype",
            C.INVALID_ARGUMENTS,
            "EGeneral:Invalid arguments",
            "ordertype",
        ),
        (
            "EGeneral:Invalid arguments:Index unavailable",
            C.INDEX_UNAVAILABLE,
            "EGeneral:Invalid arguments:Index unavailable",
            "",
        ),
        (
            "EGeneral:Invalid arguments:Index unavailable:BTC/USD",
            C.INDEX_UNAVAILABLE,
            "EGeneral:Invalid arguments:Index unavailable",
            "BTC/USD",
        ),
        ("EGeneral:Internal error:42", C.INTERNAL, "EGeneral:Internal error", "42"),
        (
            "EOrder:Invalid price:Invalid price argument",
            C.INVALID_ORDER,
            "EOrder:Invalid price",
            "Invalid price argument",
        ),
        ("EQuery:Unknown asset pair", C.UNKNOWN_ASSET, "EQuery:Unknown asset pair", ""),
        ("EQuery:Unknown asset", C.UNKNOWN_ASSET, "EQuery:Unknown asset", ""),
        ("EOrder:Rate limit exceeded", C.RATE_LIMIT, "EOrder:Rate limit exceeded", ""),
        (
            "EOrder:Domain rate limit exceeded",
            C.RATE_LIMIT,
            "EOrder:Domain rate limit exceeded",
            "",
        ),
    ],
)
def test_classify_when_suffix_present_then_longest_prefix_wins_and_suffix_is_detail(
    text: str, category: ErrorCategory, code: str, detail: str
) -> None:
    result = classify_error(text)
    assert (result.category, result.code, result.detail) == (category, code, detail)


@pytest.mark.parametrize(
    "text",
    [
        "EService: Throttled: 1700000000",
        "EService:Throttled:1700000000",
        "  EService :  Throttled :  1700000000  ",
        "eservice:throttled: 1700000000",
    ],
)
def test_classify_when_throttled_then_timestamp_becomes_not_before_ns(text: str) -> None:
    result = classify_error(text)
    assert result.category is C.THROTTLED
    assert result.retry_not_before_ns == 1_700_000_000 * 1_000_000_000


def test_classify_when_throttled_without_timestamp_then_no_not_before() -> None:
    assert classify_error("EService:Throttled").retry_not_before_ns is None
    assert classify_error("EService: Throttled: soon").retry_not_before_ns is None
    assert classify_error("EService: Throttled: ١٧٠٠").retry_not_before_ns is None


@pytest.mark.parametrize(
    "text",
    [
        "EGeneral:Invalid  arguments",
        "EGeneral : Invalid arguments",
        "\tEGeneral:Invalid arguments\n",
        "EGENERAL:INVALID ARGUMENTS",
    ],
)
def test_classify_when_whitespace_or_case_varies_then_still_matches(text: str) -> None:
    assert classify_error(text).code == "EGeneral:Invalid arguments"


@pytest.mark.parametrize(
    "text",
    [
        "Invalid arguments",  # no family: substring of a catalogued string is not enough
        "XEGeneral:Invalid arguments",
        "EGeneral:Invalid",
        "EGeneral",
        "EOrder:Insufficient",
        "EOrder:Unknown",
        "something EOrder:Insufficient funds",
    ],
)
def test_classify_when_only_substring_matches_then_unknown(text: str) -> None:
    result = classify_error(text)
    assert result.category is C.UNKNOWN
    assert result.code == ""


def test_classify_when_kraken_warning_then_warning_not_failure() -> None:
    result = classify_error("WGeneral:Some notice")
    assert result.category is C.WARNING
    assert result.severity is Severity.WARNING


@pytest.mark.parametrize(
    ("errors", "category"),
    [
        (("EService:Unavailable", "EGeneral:Invalid arguments:volume"), C.INVALID_ARGUMENTS),
        (("EGeneral:Invalid arguments", "EGeneral:Temporary lockout"), C.LOCKOUT),
        (("EAPI:Rate limit exceeded", "EGeneral:Internal error"), C.INTERNAL),
        (("EAPI:Invalid key", "EGeneral:Temporary lockout"), C.LOCKOUT),
        (("WGeneral:notice", "EService:Busy"), C.BUSY),
        (("EOrder:Insufficient funds", "garbage"), C.UNKNOWN),
        (("EGeneral:Permission denied", "garbage"), C.PERMISSION),
    ],
)
def test_classify_when_several_errors_then_worst_wins(
    errors: tuple[str, ...], category: ErrorCategory
) -> None:
    result = classify_errors(errors)
    assert result.category is category
    assert len(result.matches) == len(errors)
    assert {m.category for m in result.matches} >= {category}


def test_classify_errors_when_empty_then_unknown() -> None:
    assert classify_errors([]).category is C.UNKNOWN


@pytest.mark.parametrize(
    "raw",
    [
        "",
        " ",
        ":",
        "E" + ":" * 100_000,
        "EGeneral:" * 50_000,
        "x" * 5_000_000,
        "EOrder:" + "Insufficient funds " * 300_000,
        b"\xff\xfe\xfd",
        b"EOrder:Insufficient funds\xff",
        "\ud800EGeneral:Invalid arguments",
        "(a+)+$" * 10_000,
        "E" * 1_000_000 + ":Invalid",
    ],
)
def test_classify_when_input_is_hostile_then_returns_bounded_result(raw: str | bytes) -> None:
    result = classify_error(raw)
    assert isinstance(result.category, ErrorCategory)
    assert len(result.text) <= 200
    assert len(result.detail) <= 200
    result.text.encode("utf-8")  # never carries lone surrogates onward
    result.detail.encode("utf-8")


def test_classify_when_bytes_are_valid_utf8_prefix_then_matches() -> None:
    result = classify_error(b"EOrder:Insufficient funds")
    assert result.category is C.INSUFFICIENT_FUNDS


def test_classify_when_huge_suffix_then_prefix_still_matches_and_detail_is_capped() -> None:
    result = classify_error("EGeneral:Invalid arguments:" + "v" * 5_000_000)
    assert result.category is C.INVALID_ARGUMENTS
    assert result.detail.startswith("vvv")
    assert len(result.detail) <= 200


def test_classify_when_throttled_timestamp_absurdly_long_then_ignored() -> None:
    result = classify_error("EService:Throttled:" + "9" * 5000)
    assert result.category is C.THROTTLED
    assert result.retry_not_before_ns is None


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=400), st.binary(max_size=400)))
def test_classify_when_arbitrary_input_then_never_raises(raw: str | bytes) -> None:
    result = classify_error(raw)
    result.text.encode("utf-8")
    assert result.severity in set(Severity)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(CATALOGUE)), st.text(max_size=40).filter(lambda s: ":" not in s))
def test_classify_when_catalogued_prefix_plus_any_suffix_then_category_kept(
    code: str, suffix: str
) -> None:
    result = classify_error(f"{code}:{suffix}")
    # A suffix can only make a *longer* catalogued key match, which shares the family.
    assert result.code == code or result.code.startswith(code + ":")


# -- calls with transport failures ---------------------------------------------------------


@pytest.mark.parametrize(
    ("transport_error", "http_status", "category", "code"),
    [
        ("timeout", None, C.NETWORK, "transport:timeout"),
        ("connection", None, C.NETWORK, "transport:connection"),
        ("http_5xx", 502, C.GATEWAY, "http:502"),
        ("http_5xx", 520, C.GATEWAY, "http:520"),
        ("http_5xx", None, C.GATEWAY, "transport:http_5xx"),
        ("non_json", 200, C.GATEWAY, "transport:non_json"),
        (None, 503, C.GATEWAY, "http:503"),
        (None, 429, C.RATE_LIMIT, "http:429"),
        ("weird", None, C.NETWORK, "transport:other"),
    ],
)
def test_classify_call_when_transport_failure_then_network_or_gateway(
    transport_error: str | None, http_status: int | None, category: ErrorCategory, code: str
) -> None:
    event = failed_call(
        "<html>cloudflare</html>", transport_error=transport_error, http_status=http_status
    )
    result = classify_call(event)
    assert (result.category, result.code) == (category, code)
    assert not result.outcome_unknown  # a read


@pytest.mark.parametrize("transport_error", ["timeout", "connection", "http_5xx", "non_json"])
def test_classify_call_when_transport_failure_on_place_then_outcome_unknown(
    transport_error: str,
) -> None:
    event = failed_call(
        "read timed out", operation=OperationKind.PLACE, transport_error=transport_error
    )
    result = classify_call(event)
    assert result.outcome_unknown
    assert result.severity is Severity.AMBIGUOUS


def test_classify_call_when_internal_error_on_place_then_outcome_unknown() -> None:
    result = classify_call(failed_call("EGeneral:Internal error", operation=OperationKind.PLACE))
    assert result.category is C.INTERNAL
    assert result.outcome_unknown


def test_classify_call_when_caller_says_outcome_unknown_then_kept() -> None:
    event = failed_call("EService:Busy", operation=OperationKind.PLACE, outcome_unknown=True)
    result = classify_call(event)
    assert result.outcome_unknown
    assert result.severity is Severity.AMBIGUOUS


def test_classify_call_when_rejection_next_to_internal_error_on_place_then_rejected() -> None:
    event = failed_call(
        "EGeneral:Internal error", "EOrder:Insufficient funds", operation=OperationKind.PLACE
    )
    result = classify_call(event)
    assert result.category is C.INSUFFICIENT_FUNDS
    assert not result.outcome_unknown


def test_classify_call_when_kraken_string_and_transport_then_both_considered() -> None:
    event = failed_call("EGeneral:Temporary lockout", transport_error="http_5xx", http_status=502)
    result = classify_call(event)
    assert result.category is C.LOCKOUT
    assert {m.code for m in result.matches} == {"EGeneral:Temporary lockout", "http:502"}


def test_classify_call_when_no_errors_at_all_then_unknown() -> None:
    result = classify_call(failed_call())
    assert result.category is C.UNKNOWN
    assert result.detail == "no error string"


# -- issue 11: families and strings the official SDK and ccxt know ------------------------


def test_classify_when_no_funding_method_then_funding() -> None:
    result = classify_error("EFunding:No funding method")
    assert (result.category, result.code) == (C.FUNDING, "EFunding:No funding method")


@pytest.mark.parametrize(
    "text", ["EAuth:Invalid otp", "EAuth:Something new", "EAuth: two factor required"]
)
def test_classify_when_unlisted_eauth_string_then_auth(text: str) -> None:
    """The official SDK treats the whole ``EAuth:*`` family as unrecoverable auth failures."""
    result = classify_error(text)
    assert result.category is C.AUTH
    assert result.severity is Severity.FATAL


def test_classify_when_listed_eauth_string_then_its_own_category_wins() -> None:
    assert classify_error("EAuth:Rate limit exceeded").category is C.RATE_LIMIT
    assert classify_error("EAuth:Account unconfirmed").category is C.ACCOUNT
