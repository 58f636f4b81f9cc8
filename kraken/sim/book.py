"""A seeded synthetic L2 order book per pair, rebuilt around the price path on every move.

The book is what the market (everyone but the simulated accounts) offers: ``levels`` price
levels per side, ``spacing_ticks`` apart, starting at the price process's bid and ask. Each
level's size is drawn from the pair's own ``random.Random`` as a multiple of the pair's
``ordermin`` (``BookProfile.size_min``..``size_max``), so sizes scale sensibly across pairs (an
``ordermin`` is worth a few dollars on every simulated pair).

Orders of the simulated accounts take liquidity from it (``take``); what they take is gone until
the next price move rebuilds the book. The accounts' own resting orders are not shown in it, so
no account can trade with itself.

Default profile: 100 levels a side, 40 000..120 000 ordermin per level (2..6 BTC on XBTUSD), so
the small orders of the existing tests fill at the touch as they did when the simulator had
infinite liquidity there. ``BookProfile.infinite()`` restores exactly that old behaviour.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from kraken.sim.pairs import PairSpec

__all__ = ["BookProfile", "Level", "SyntheticBook"]

# A level size standing for "as much as anyone asks": more than any simulated balance.
_UNLIMITED = Decimal(10) ** 15


@dataclass(frozen=True, slots=True)
class BookProfile:
    """How the synthetic book looks: depth, spacing and level sizes (multiples of ordermin)."""

    levels: int = 100
    spacing_ticks: int = 1
    size_min: int = 40_000
    size_max: int = 120_000
    unlimited: bool = False

    def __post_init__(self) -> None:
        if self.levels < 1 or self.spacing_ticks < 1:
            raise ValueError("a book needs at least one level and a spacing of at least one tick")
        if not 0 < self.size_min <= self.size_max:
            raise ValueError("level sizes need 0 < size_min <= size_max")

    @classmethod
    def infinite(cls) -> BookProfile:
        """The pre-book behaviour: one level a side at the touch that never runs out."""
        return cls(levels=1, unlimited=True)


class Level:
    """One price level; ``qty`` shrinks as orders take from it."""

    __slots__ = ("price", "qty")

    def __init__(self, price: Decimal, qty: Decimal) -> None:
        self.price = price
        self.qty = qty

    def __repr__(self) -> str:
        return f"Level({self.price}, {self.qty})"


class SyntheticBook:
    def __init__(self, spec: PairSpec, profile: BookProfile, seed: int) -> None:
        self.spec = spec
        self.profile = profile
        self._random = random.Random(f"{seed}:book:{spec.pair_id}")
        self._lot = Decimal(1).scaleb(-spec.lot_decimals)
        lots, remainder = divmod(spec.ordermin, self._lot)
        self._ordermin_lots = int(lots) if remainder == 0 and lots >= 1 else None
        """``ordermin`` in whole lots, when it is one: sizes are then built from integers."""
        self.bids: list[Level] = []
        self.asks: list[Level] = []
        self.version = 0
        self._span = self.profile.size_max - self.profile.size_min + 1
        self._sizes: dict[int, Decimal] = {}
        """The sizes drawn so far, by draw: a rebuild draws 2 × ``levels`` of them on the price
        tick, which shares the sim's event loop with the requests it answers. Filled as drawn:
        a table of every size up front cost each exchange (and each ``/sim/reset``) ~40 MB and
        ~0.3 s for the default profile's 80 001 sizes on every pair."""

    def _size_of(self, multiple: int) -> Decimal:
        if self._ordermin_lots is not None:  # the same Decimal, without Decimal arithmetic
            return Decimal(self._ordermin_lots * multiple).scaleb(-self.spec.lot_decimals)
        return max((self.spec.ordermin * multiple).quantize(self._lot), self._lot)

    def _size(self) -> Decimal:
        if self.profile.unlimited:
            return _UNLIMITED
        drawn = int(self._random.random() * self._span)
        size = self._sizes.get(drawn)
        if size is None:
            size = self._sizes[drawn] = self._size_of(self.profile.size_min + drawn)
        return size

    def rebuild(self, bid: Decimal, ask: Decimal) -> None:
        """Fresh levels from the touch outwards; bids stop before reaching zero."""
        step = self.spec.tick_size * self.profile.spacing_ticks
        size = self._size
        zero = step * 0  # adding it gives the touch the step's decimal places, as before
        asks = []
        price = ask + zero
        for _ in range(self.profile.levels):
            asks.append(Level(price, size()))
            price += step
        bids = []
        price = bid + zero
        for _ in range(self.profile.levels):
            if price <= 0:
                break
            bids.append(Level(price, size()))
            price -= step
        self.asks, self.bids = asks, bids
        self.version += 1

    def best_bid(self) -> Level | None:
        return self.bids[0] if self.bids else None

    def best_ask(self) -> Level | None:
        return self.asks[0] if self.asks else None

    def opposite(self, side: str) -> list[Level]:
        """The levels an order of ``side`` trades against: asks for a buy, bids for a sell."""
        return self.asks if side == "buy" else self.bids

    @staticmethod
    def crosses(side: str, level_price: Decimal, limit: Decimal | None) -> bool:
        if limit is None:
            return True
        return level_price <= limit if side == "buy" else level_price >= limit

    def crossing(self, side: str, limit: Decimal | None) -> bool:
        """Whether an order of ``side`` could take anything now within ``limit``."""
        for level in self.opposite(side):
            if not self.crosses(side, level.price, limit):
                return False
            if level.qty > 0:
                return True
        return False

    def quote_cost(self, side: str, volume: Decimal, limit: Decimal | None) -> Decimal:
        """What taking ``volume`` would cost in quote (without fees), walking the book."""
        cost, left = Decimal(0), volume
        for level in self.opposite(side):
            if left <= 0 or not self.crosses(side, level.price, limit):
                break
            take = min(left, level.qty)
            cost += take * level.price
            left -= take
        return cost

    def take(
        self, side: str, volume: Decimal, limit: Decimal | None
    ) -> list[tuple[Decimal, Decimal]]:
        """Consume up to ``volume`` within ``limit``, best price first: ``[(price, qty), ...]``."""
        levels = self.opposite(side)
        fills: list[tuple[Decimal, Decimal]] = []
        left = volume
        while left > 0 and levels and self.crosses(side, levels[0].price, limit):
            level = levels[0]
            qty = min(left, level.qty)
            fills.append((level.price, qty))
            left -= qty
            if not self.profile.unlimited:
                level.qty -= qty
                if level.qty <= 0:
                    levels.pop(0)
        if fills:
            self.version += 1
        return fills
