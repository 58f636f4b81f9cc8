"""Hypothesis strategies for every schema type, derived from the type hints."""

from __future__ import annotations

import enum
import types
import typing
from decimal import Decimal
from typing import Any

import msgspec
from hypothesis import strategies as st

from schemas.bounds import MAX_MAGNITUDE

__all__ = ["HOSTILE_DECIMALS", "strategy_for"]

_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_BOUNDED_DECIMAL = st.decimals(min_value=Decimal("1e-8"), max_value=MAX_MAGNITUDE, places=8)
"""What a decodable message may carry (see schemas/bounds.py): positive, finite, bounded."""

HOSTILE_DECIMALS = (
    "NaN",
    "sNaN",
    "-NaN",
    "Infinity",
    "-Infinity",
    "1E+308",
    "1E+999999",
    "-1E+999999",
    "1E-999999",
    "1" + "0" * 400,
    "0." + "0" * 60 + "1",
)
"""Strings ``Decimal`` accepts that no arithmetic on a price or volume survives."""


def strategy_for(annotation: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return strategy_for(args[0])
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(strategy_for(arg) for arg in args))
    if origin is tuple:
        return st.lists(strategy_for(args[0]), max_size=3).map(tuple)
    if origin is dict:
        return st.dictionaries(strategy_for(args[0]), strategy_for(args[1]), max_size=3)
    if annotation is type(None):
        return st.none()
    if isinstance(annotation, type):
        if issubclass(annotation, msgspec.Struct):
            hints = typing.get_type_hints(annotation, include_extras=True)
            fields = {
                f.name: strategy_for(hints[f.name]) for f in msgspec.structs.fields(annotation)
            }
            return st.builds(annotation, **fields)
        if issubclass(annotation, enum.Enum):
            return st.sampled_from(list(annotation))
        simple: dict[type, st.SearchStrategy[Any]] = {
            bool: st.booleans(),
            int: _INT64,
            float: st.floats(allow_nan=False),
            str: st.text(max_size=20),
            bytes: st.binary(max_size=64),
            Decimal: _BOUNDED_DECIMAL,
        }
        if annotation in simple:
            return simple[annotation]
    raise TypeError(f"no strategy for {annotation!r}")
