"""Order parameters for the sim's engine tests: a side, a kind and an offset from the touch."""

from __future__ import annotations

from decimal import Decimal

from kraken.sim import SimExchange
from kraken.sim.pairs import PairSpec

__all__ = ["order_params"]


def order_params(
    exchange: SimExchange, spec: PairSpec, side: str, kind: str, volume: Decimal, offset: int
) -> dict[str, str]:
    """AddOrder parameters: ``kind`` is market, limit or ioc (an IOC limit); a limit is priced
    ``offset`` ticks from the touch its side would take (the ask for a buy)."""
    quote = exchange.quote(spec.altname)
    params = {"type": side, "ordertype": "market" if kind == "market" else "limit"}
    params["volume"] = str(volume)
    if kind != "market":
        touch = quote.ask if side == "buy" else quote.bid
        params["price"] = str(touch + offset * spec.tick_size)
    if kind == "ioc":
        params["timeinforce"] = "IOC"
    return params
