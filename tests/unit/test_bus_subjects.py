"""Subjects are built in one place, with pair tokens escaped by one function."""

from __future__ import annotations

import pytest

from bus.subjects import Subjects, pair_token, token_to_pair
from bus.testing import subject_matches


def test_pair_token_replaces_the_slash() -> None:
    assert pair_token("BTC/USD") == "BTC-USD"
    assert token_to_pair("BTC-USD") == "BTC/USD"


@pytest.mark.parametrize("pair", ["BTC USD", "BTC.USD", "BTC*", "BTC>", "A/B/C"])
def test_pair_token_never_yields_a_separator_or_wildcard(pair: str) -> None:
    token = pair_token(pair)
    assert not set(token) & {".", "*", ">", " "}


def test_subjects_live_under_the_configured_root() -> None:
    subjects = Subjects("desk1")
    assert subjects.price("ETH/USD") == "desk1.md.price.ETH-USD"
    assert subjects.dlq("batch-router") == "desk1.dlq.batch-router"
    assert subjects.breaker("kraken.public") == "desk1.breaker.kraken.public"
    assert subject_matches(subjects.price_all(), subjects.price("SOL/USD"))
    assert not subject_matches(subjects.price_all(), subjects.stale("SOL/USD"))


def test_invalid_root_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid subject root"):
        Subjects("Bad Root")


def test_stream_names_contain_no_dots() -> None:
    assert Subjects("a.b-c").stream_name("orders") == "A_B_C_ORDERS"


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("gf.>", "gf.md.price.BTC-USD", True),
        ("gf.>", "gf", False),
        ("gf.*.price", "gf.md.price", True),
        ("gf.*", "gf.md.price", False),
        ("gf.md", "gf.md", True),
    ],
)
def test_subject_matching_follows_nats_wildcards(
    pattern: str, subject: str, expected: bool
) -> None:
    assert subject_matches(pattern, subject) is expected
