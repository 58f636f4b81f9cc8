"""Every bus message survives a msgpack round trip through the union decoders."""

from __future__ import annotations

import typing
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.codec import EVENTS, MESSAGES, encode
from schemas import AnyMessage, PriceQuery, PriceSource, PriceUpdated
from tests.support.strategies import strategy_for

MESSAGE_TYPES = typing.get_args(AnyMessage)


@pytest.mark.parametrize("message_type", MESSAGE_TYPES, ids=lambda t: t.__name__)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_round_trip_keeps_every_field(message_type: type, data: st.DataObject) -> None:
    """Decoding what was encoded gives an equal message of the same type."""
    message = data.draw(strategy_for(message_type))
    decoded = MESSAGES.decode(encode(message))
    assert type(decoded) is message_type
    assert decoded == message


def test_every_message_type_has_a_unique_explicit_tag() -> None:
    tags = [msgspec.inspect.type_info(t).tag for t in MESSAGE_TYPES]
    assert all(isinstance(tag, str) and "." in tag for tag in tags)
    assert len(set(tags)) == len(tags)


def test_events_codec_rejects_a_query_message() -> None:
    """The event union does not accept request/reply messages."""
    with pytest.raises(msgspec.ValidationError):
        EVENTS.decode(encode(PriceQuery(pair="BTC/USD")))


def test_decimal_travels_as_exact_string() -> None:
    """0.1 + 0.2 stays exact: Decimals are strings on the wire, never floats."""
    quote = PriceUpdated(
        ts_event=1,
        ts_init=2,
        pair="BTC/USD",
        bid=Decimal("0.1"),
        ask=Decimal("0.3"),
        last=Decimal("0.2"),
        bid_size=Decimal(1),
        ask_size=Decimal(1),
        volume_24h=Decimal(5),
        vwap_24h=Decimal("0.2"),
        source=PriceSource.WS,
    )
    decoded = EVENTS.decode(encode(quote))
    assert isinstance(decoded, PriceUpdated)
    assert decoded.bid + decoded.last == decoded.ask
