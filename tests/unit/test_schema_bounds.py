"""The schema boundary against extreme values (issue 9): every Decimal a handler computes with
refuses numbers no arithmetic survives when it is decoded from the bus, and no byte string makes
a decoder raise anything but a decode error (or a RecursionError, which dispatch dead-letters)."""

from __future__ import annotations

import contextlib
import typing
from decimal import Decimal
from typing import get_args

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.codec import MESSAGES, encode
from schemas import AnyMessage
from schemas.bounds import BOUNDED_TYPES, MAX_MAGNITUDE, check_bounded
from schemas.events import OrderBatchRequested, PriceUpdated
from schemas.orders import BatchStrategy, OrderRequest, OrderSide, OrderType
from tests.support.strategies import HOSTILE_DECIMALS, strategy_for

MESSAGE_TYPES = get_args(AnyMessage)


def _decimal_fields(message_type: type) -> list[str]:
    hints = typing.get_type_hints(message_type, include_extras=True)
    return [
        f.name
        for f in msgspec.structs.fields(message_type)
        if hints[f.name] is Decimal or Decimal in typing.get_args(hints[f.name])
    ]


BOUNDED = [(t, name) for t in MESSAGE_TYPES if t in BOUNDED_TYPES for name in _decimal_fields(t)]


def test_every_decimal_a_handler_computes_with_is_bounded() -> None:
    assert {name for t, name in BOUNDED if t is PriceUpdated} == set(_decimal_fields(PriceUpdated))
    assert OrderBatchRequested in BOUNDED_TYPES
    assert set(_decimal_fields(OrderRequest)) == {"volume", "price", "price2"}


@pytest.mark.parametrize("hostile", HOSTILE_DECIMALS)
@pytest.mark.parametrize(
    ("message_type", "field"), BOUNDED, ids=lambda v: getattr(v, "__name__", str(v))
)
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_a_hostile_decimal_in_any_bounded_field_fails_to_decode(
    message_type: type, field: str, hostile: str, data: st.DataObject
) -> None:
    fields = msgspec.to_builtins(data.draw(strategy_for(message_type)))
    fields[field] = hostile
    with pytest.raises(msgspec.ValidationError, match=field):
        MESSAGES.decode(msgspec.msgpack.encode(fields))


@pytest.mark.parametrize("hostile", HOSTILE_DECIMALS)
@pytest.mark.parametrize("field", ["volume", "price", "price2"])
def test_a_hostile_order_inside_a_batch_fails_the_batch_decode(hostile: str, field: str) -> None:
    order = {"pair": "BTC/USD", "side": "buy", "order_type": "limit", "volume": "1", field: hostile}
    batch = {
        "type": "orders.batch.requested",
        "ts_event": 1,
        "ts_init": 1,
        "batch_id": "b",
        "orders": [order],
        "strategy": "SEQUENTIAL",
    }
    with pytest.raises(msgspec.ValidationError, match=rf"orders\[0\]\.{field}"):
        MESSAGES.decode(msgspec.msgpack.encode(batch))


@pytest.mark.parametrize(
    "value", ["0", "-1", "0.000000000000000001", "999999999999999", "1e15", "123.456"]
)
def test_ordinary_values_pass_and_sign_is_left_to_the_router(value: str) -> None:
    order = OrderRequest(
        pair="BTC/USD", side=OrderSide.BUY, order_type=OrderType.MARKET, volume=Decimal(value)
    )
    batch = OrderBatchRequested(
        ts_event=1, ts_init=1, batch_id="b", orders=(order,), strategy=BatchStrategy.SEQUENTIAL
    )
    decoded = MESSAGES.decode(encode(batch))
    assert isinstance(decoded, OrderBatchRequested)
    assert decoded.orders[0].volume == Decimal(value)


def test_bounds_name_the_field() -> None:
    with pytest.raises(ValueError, match="bid must be positive"):
        check_bounded("bid", Decimal(0), positive=True)
    with pytest.raises(ValueError, match="ask exceeds"):
        check_bounded("ask", MAX_MAGNITUDE * 10)
    with pytest.raises(ValueError, match="volume has more than"):
        check_bounded("volume", Decimal("1E-30"))


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=512))
def test_random_bytes_only_ever_raise_decode_errors(payload: bytes) -> None:
    with contextlib.suppress(msgspec.DecodeError):
        MESSAGES.decode(payload)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_every_message_type_survives_extreme_integers_and_text(data: st.DataObject) -> None:
    message_type = data.draw(st.sampled_from(MESSAGE_TYPES))
    fields = msgspec.to_builtins(data.draw(strategy_for(message_type)))
    extreme = st.one_of(
        st.integers(min_value=-(2**63), max_value=2**64 - 1),
        st.text(max_size=200),
        st.none(),
        st.lists(st.integers(min_value=0, max_value=9), max_size=3),
        st.sampled_from(HOSTILE_DECIMALS),
    )
    key = data.draw(st.sampled_from(sorted(fields)))
    if key != "type":
        fields[key] = data.draw(extreme)
    with contextlib.suppress(msgspec.DecodeError):
        MESSAGES.decode(msgspec.msgpack.encode(fields))
