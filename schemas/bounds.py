"""Bounds every Decimal on the bus must meet before any code does arithmetic with it.

``Decimal`` decodes ``NaN``, ``sNaN``, ``Infinity`` and ``1E+999999`` without complaint; the
first arithmetic or comparison on them raises (``InvalidOperation``, ``Overflow``,
``DivisionImpossible``). Checking here makes such a message fail to decode, so it is rejected
with a reason at the boundary instead of throwing inside a handler.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["MAX_DECIMAL_PLACES", "MAX_MAGNITUDE", "check_bounded"]

MAX_MAGNITUDE = Decimal("1e15")
"""Far above any price or quantity on Kraken, far below where arithmetic overflows."""
MAX_DECIMAL_PLACES = 18


def check_bounded(name: str, value: Decimal | None, *, positive: bool = False) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is finite and within bounds."""
    if value is None:
        return
    if not value.is_finite():
        raise ValueError(f"{name} must be a finite number, got {value}")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite values have an int exponent
    if exponent < -MAX_DECIMAL_PLACES and value != 0:
        raise ValueError(f"{name} has more than {MAX_DECIMAL_PLACES} decimal places")
    if abs(value) > MAX_MAGNITUDE:
        raise ValueError(f"{name} exceeds {MAX_MAGNITUDE:.0E} in magnitude")
    if positive and value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
