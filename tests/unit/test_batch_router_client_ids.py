"""Deterministic client order ids (crash-resume relies on them)."""

from __future__ import annotations

import base64
import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.batch_router import assign_cl_ord_ids, derive_cl_ord_id, is_valid_cl_ord_id
from tests.support.batch_router_doubles import limit_order


def test_derive_cl_ord_id_is_deterministic_and_kraken_sized() -> None:
    """The same batch id and index always give the same printable id of at most 18 chars."""
    first = derive_cl_ord_id("batch-7f3a", 3)
    assert first == derive_cl_ord_id("batch-7f3a", 3)
    assert len(first) <= 18
    assert is_valid_cl_ord_id(first)


def test_derive_cl_ord_id_when_batch_or_index_differs_then_ids_differ() -> None:
    """Ids do not collide across 200 batches of 50 orders."""
    ids = {derive_cl_ord_id(f"batch-{batch}", index) for batch in range(200) for index in range(50)}
    assert len(ids) == 200 * 50


def test_assign_cl_ord_ids_keeps_client_ids_and_derives_the_rest() -> None:
    """A client-given id wins; others are derived from the batch id and index."""
    orders = [limit_order(cl_ord_id="mine-1"), limit_order()]
    assert assign_cl_ord_ids("b1", orders) == ("mine-1", derive_cl_ord_id("b1", 1))


def test_is_valid_cl_ord_id_rejects_long_or_non_printable_ids() -> None:
    """Kraken free text: 1-18 printable ASCII characters, no spaces."""
    assert not is_valid_cl_ord_id("x" * 19)
    assert not is_valid_cl_ord_id("has space")
    assert not is_valid_cl_ord_id("")
    assert is_valid_cl_ord_id("x" * 18)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.integers(min_value=0, max_value=10_000), st.text(max_size=20))
def test_derived_ids_are_the_first_17_rfc4648_base32_characters_of_the_blake2b_digest(
    batch_id: str, index: int, run_id: str
) -> None:
    """The ids are a contract with every router that ever ran the batch (a resumed run, a
    rolling upgrade): however they are computed, they stay these."""
    key = f"{batch_id}\x00{index}" if not run_id else f"{batch_id}\x00{index}\x00{run_id}"
    digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
    expected = "g" + base64.b32encode(digest).decode("ascii").lower()[:17]
    assert derive_cl_ord_id(batch_id, index, run_id) == expected
    assert derive_cl_ord_id("b", 0) == "ggxle5jrbryqnt44xw"
