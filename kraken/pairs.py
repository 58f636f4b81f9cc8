"""Kraken's four names for one pair, mapped in one place (KRAKEN.md §3.1).

=========  ============  ==========================================
REST id    ``XXBTZUSD``  the AssetPairs / Ticker result key
altname    ``XBTUSD``    accepted by every REST call
wsname     ``XBT/USD``   WebSocket v1
symbol     ``BTC/USD``   WebSocket v2 and the project's own name
=========  ============  ==========================================

The v2 symbol is derived from ``wsname`` by renaming Kraken's legacy asset codes (XBT→BTC,
XDG→DOGE). The registry also keeps the metadata the batch router validates orders against.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal

from kraken.models import AssetPair

__all__ = ["PairInfo", "PairRegistry", "v2_symbol_from_wsname"]

_LEGACY_ASSET_CODES = {"XBT": "BTC", "XDG": "DOGE"}


def v2_symbol_from_wsname(wsname: str) -> str:
    base, _, quote = wsname.partition("/")
    return f"{_LEGACY_ASSET_CODES.get(base, base)}/{_LEGACY_ASSET_CODES.get(quote, quote)}"


@dataclass(frozen=True, slots=True)
class PairInfo:
    rest_id: str
    altname: str
    wsname: str
    symbol: str
    base: str
    quote: str
    ordermin: Decimal | None
    """Minimum order volume in base units."""
    costmin: Decimal | None
    """Minimum order cost in quote units."""
    tick_size: Decimal | None
    price_decimals: int
    lot_decimals: int
    cost_decimals: int
    status: str
    """``online``, ``cancel_only``, ``post_only``, ``limit_only`` or ``reduce_only``."""
    taker_fees: tuple[tuple[Decimal, Decimal], ...]
    """``(30-day volume, percent)`` rows, lowest tier first."""
    maker_fees: tuple[tuple[Decimal, Decimal], ...]

    @property
    def price_increment(self) -> Decimal:
        """``tick_size`` if Kraken gave one, else one unit of the last price decimal."""
        return (
            self.tick_size
            if self.tick_size is not None
            else Decimal(1).scaleb(-self.price_decimals)
        )

    @property
    def volume_increment(self) -> Decimal:
        return Decimal(1).scaleb(-self.lot_decimals)


class PairRegistry:
    """Lookup of :class:`PairInfo` by any of the four names."""

    def __init__(self, pairs: Mapping[str, AssetPair]) -> None:
        self._by_name: dict[str, PairInfo] = {}
        self._pairs: list[PairInfo] = []
        for rest_id, pair in pairs.items():
            wsname = pair.wsname or _guess_wsname(pair)
            info = PairInfo(
                rest_id=rest_id,
                altname=pair.altname,
                wsname=wsname,
                symbol=v2_symbol_from_wsname(wsname),
                base=pair.base,
                quote=pair.quote,
                ordermin=pair.ordermin,
                costmin=pair.costmin,
                tick_size=pair.tick_size,
                price_decimals=pair.pair_decimals,
                lot_decimals=pair.lot_decimals,
                cost_decimals=pair.cost_decimals,
                status=pair.status,
                taker_fees=tuple(pair.fees),
                maker_fees=tuple(pair.fees_maker),
            )
            self._pairs.append(info)
            for name in (info.symbol, info.wsname, info.altname, rest_id):
                # The v2 symbol wins a clash (e.g. a REST id equal to another pair's altname).
                self._by_name.setdefault(name, info)

    def __len__(self) -> int:
        return len(self._pairs)

    def __iter__(self) -> Iterator[PairInfo]:
        return iter(self._pairs)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._by_name

    def get(self, name: str) -> PairInfo | None:
        """The pair known by ``name`` in any of its four spellings, or ``None``."""
        return self._by_name.get(name)

    def require(self, name: str) -> PairInfo:
        info = self._by_name.get(name)
        if info is None:
            raise KeyError(f"unknown pair {name!r}")
        return info

    def to_symbol(self, name: str) -> str:
        """WS v2 symbol (``BTC/USD``) of a pair named any way."""
        return self.require(name).symbol

    def to_altname(self, name: str) -> str:
        """REST altname (``XBTUSD``), the name sent on REST calls."""
        return self.require(name).altname

    def to_rest_id(self, name: str) -> str:
        """REST result key (``XXBTZUSD``)."""
        return self.require(name).rest_id

    def symbols(self) -> tuple[str, ...]:
        return tuple(p.symbol for p in self._pairs)


def _guess_wsname(pair: AssetPair) -> str:
    # Dark-pool style pairs have no wsname; a name that no socket knows is still unique.
    return f"{pair.altname}/"
