"""msgpack encoding of bus messages: one encoder and one decoder per union, built once."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

from schemas import AnyEvent, AnyMessage
from schemas.bounds import bound_violation

__all__ = ["EVENTS", "MESSAGES", "Codec", "encode"]

T = TypeVar("T")

_ENCODER = msgspec.msgpack.Encoder()


def encode(message: msgspec.Struct) -> bytes:
    return _ENCODER.encode(message)


class Codec(Generic[T]):
    """Decode bytes into one union of tagged Structs (msgpack), or JSON for humans."""

    def __init__(self, union: Any) -> None:
        self._msgpack = msgspec.msgpack.Decoder(union)
        self.decode_msgpack = self._msgpack.decode
        """The raw decoder method, for hot loops that cannot afford one more call frame; its
        result still needs :func:`schemas.bounds.bound_violation`."""
        self._json = msgspec.json.Decoder(union)

    def decode(self, data: bytes) -> T:
        """Raise ``msgspec.DecodeError`` (incl. ``ValidationError``) on anything invalid,
        including numbers outside :mod:`schemas.bounds`."""
        result: T = _bounded(self._msgpack.decode(data))
        return result

    def decode_json(self, data: bytes | str) -> T:
        result: T = _bounded(self._json.decode(data))
        return result

    @staticmethod
    def encode(message: msgspec.Struct) -> bytes:
        return _ENCODER.encode(message)


def _bounded(message: Any) -> Any:
    violation = bound_violation(message)
    if violation is not None:
        raise msgspec.ValidationError(violation)
    return message


EVENTS: Codec[AnyEvent] = Codec(AnyEvent)
MESSAGES: Codec[AnyMessage] = Codec(AnyMessage)
