"""Kraken's WS v2 ``book`` checksum (KRAKEN.md §5; docs guide ``book-checksum-v2``).

CRC32 over the top 10 levels: asks low to high, then bids high to low; for each level its price
then its quantity, each formatted with the pair's decimals (price: ``pair_decimals``, quantity:
``lot_decimals``), the ``.`` removed and leading zeros stripped. Decimal throughout.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal

__all__ = ["CHECKSUM_LEVELS", "book_checksum", "checksum_text"]

CHECKSUM_LEVELS = 10


def _field(value: Decimal, quantum: Decimal) -> str:
    text = f"{value.quantize(quantum, rounding=ROUND_HALF_EVEN):f}"
    return text.replace(".", "").lstrip("0")


def checksum_text(
    asks: Iterable[tuple[Decimal, Decimal]],
    bids: Iterable[tuple[Decimal, Decimal]],
    *,
    price_decimals: int,
    qty_decimals: int,
) -> str:
    """The string Kraken feeds to CRC32; ``asks`` best (lowest) first, ``bids`` best first."""
    price_quantum = Decimal(1).scaleb(-price_decimals)
    qty_quantum = Decimal(1).scaleb(-qty_decimals)
    parts: list[str] = []
    for side in (asks, bids):
        for index, (price, qty) in enumerate(side):
            if index == CHECKSUM_LEVELS:
                break
            parts.append(_field(price, price_quantum))
            parts.append(_field(qty, qty_quantum))
    return "".join(parts)


def book_checksum(
    asks: Iterable[tuple[Decimal, Decimal]],
    bids: Iterable[tuple[Decimal, Decimal]],
    *,
    price_decimals: int,
    qty_decimals: int,
) -> int:
    """The unsigned 32-bit checksum of the top 10 levels of each side."""
    text = checksum_text(asks, bids, price_decimals=price_decimals, qty_decimals=qty_decimals)
    return zlib.crc32(text.encode("ascii")) & 0xFFFFFFFF
