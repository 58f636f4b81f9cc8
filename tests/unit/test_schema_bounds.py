"""The schema boundary against extreme values (issue 9): every Decimal field of every message
type refuses numbers no arithmetic survives, and no byte string makes a decoder raise anything
but a decode error (or a RecursionError, which dispatch dead-letters)."""

from __future__ import annotations

import contextlib
import typing
from decimal import Decimal
from typing import Any, get_args

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.codec import MESSAGES
from schemas import AnyMessage
from schemas.bounds import MAX_MAGNITUDE, check_bounded
from schemas.orders import OrderRequest, OrderSide, OrderType
from tests.support.strategies import HOSTILE_DECIMALS, strategy_for

MESSAGE_TYPES = get_args(AnyMessage)


def _is_decimal(annotation: Any) -> bool:
    return annotation is Decimal or Decimal in typing.get_args(annotation)


def _checked_decimal_fields(message_type: type) -> list[str]:
    hints = typing.get_type_hints(message_type, include_extras=True)
    return [
        f.name
        for f in msgspec.structs.fields(message_type)
        if _is_decimal(hints[f.name]) and hasattr(message_type, "__post_init__")
    ]


BOUNDED = [(t, name) for t in MESSAGE_TYPES for name in _checked_decimal_fields(t)]
BOUNDED += [(OrderRequest, name) for name in _checked_decimal_fields(OrderRequest)]


def test_prices_and_order_quantities_are_bounded() -> None:
    names = {(t.__name__, name) for t, name in BOUNDED}
    assert {("PriceUpdated", "bid"), ("PriceUpdated", "ask"), ("OrderRequest", "volume")} <= names
    assert ("OrderRequest", "price2") in names


@pytest.mark.parametrize("hostile", HOSTILE_DECIMALS)
@pytest.mark.parametrize(
    ("message_type", "field"), BOUNDED, ids=lambda v: getattr(v, "__name__", v)
)
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_a_hostile_decimal_in_any_bounded_field_fails_to_decode(
    message_type: type, field: str, hostile: str, data: st.DataObject
) -> None:
    valid = data.draw(strategy_for(message_type))
    fields = msgspec.to_builtins(valid)
    fields[field] = hostile
    wire = msgspec.msgpack.encode(fields)
    decoder = msgspec.msgpack.Decoder(message_type)
    with pytest.raises(msgspec.ValidationError, match=field):
        decoder.decode(wire)


@pytest.mark.parametrize("hostile", HOSTILE_DECIMALS)
def test_a_hostile_order_inside_a_batch_fails_the_batch_decode(hostile: str) -> None:
    order = {"pair": "BTC/USD", "side": "buy", "order_type": "limit", "volume": hostile}
    batch = {
        "type": "orders.batch.requested",
        "ts_event": 1,
        "ts_init": 1,
        "batch_id": "b",
        "orders": [order],
        "strategy": "SEQUENTIAL",
    }
    with pytest.raises(msgspec.ValidationError, match="volume"):
        MESSAGES.decode(msgspec.msgpack.encode(batch))


@pytest.mark.parametrize(
    "value", ["0", "-1", "0.000000000000000001", "999999999999999", "1e15", "123.456"]
)
def test_ordinary_values_pass_and_sign_is_left_to_the_router(value: str) -> None:
    order = OrderRequest(
        pair="BTC/USD", side=OrderSide.BUY, order_type=OrderType.MARKET, volume=Decimal(value)
    )
    assert order.volume == Decimal(value)


def test_positive_bounds_name_the_field() -> None:
    with pytest.raises(ValueError, match="bid must be positive"):
        check_bounded("bid", Decimal(0), positive=True)
    with pytest.raises(ValueError, match="exceeds"):
        check_bounded("ask", MAX_MAGNITUDE * 10)


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=512))
def test_random_bytes_only_ever_raise_decode_errors(payload: bytes) -> None:
    with contextlib.suppress(msgspec.DecodeError):
        MESSAGES.decode(payload)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_every_message_type_survives_extreme_integers_and_text(data: st.DataObject) -> None:
    message_type = data.draw(st.sampled_from(MESSAGE_TYPES))
    fields = msgspec.to_builtins(data.draw(strategy_for(message_type)))
    extreme = st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70),
        st.text(max_size=200),
        st.none(),
        st.lists(st.integers(), max_size=3),
    )
    key = data.draw(st.sampled_from(sorted(fields)))
    if key != "type":
        fields[key] = data.draw(extreme)
    with contextlib.suppress(msgspec.DecodeError):
        MESSAGES.decode(msgspec.msgpack.encode(fields))
