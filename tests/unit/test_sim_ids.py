"""The simulator's id characters are exactly those of ``random.choice`` on the same stream.

Recorded runs (tests/replay) compare txids, so a faster generator must not change a single id;
if a Python release changes how ``choice`` draws, this fails instead of the replays drifting.
"""

from __future__ import annotations

import random

import pytest

from kraken.sim.clock import ManualClock
from kraken.sim.ids import ID_ALPHABET, draw_id_chars
from kraken.sim.server import SimOptions, build_exchange


@pytest.mark.parametrize("seed", ["0:ids", "11:ids", "42:ids", "7:record-ids"])
def test_draw_id_chars_is_choice_on_the_same_stream(seed: str) -> None:
    by_choice, drawn = random.Random(seed), random.Random(seed)
    for count in [16] * 300 + [1, 5, 33]:
        expected = "".join(by_choice.choice(ID_ALPHABET) for _ in range(count))
        assert draw_id_chars(drawn, count) == expected
    # Both consumed the stream up to the same point.
    assert drawn.getrandbits(64) == by_choice.getrandbits(64)


def _choice_txids(seed: int, count: int) -> list[str]:
    """The txids as the simulator drew them before ``draw_id_chars`` (``choice`` per character)."""
    rng = random.Random(f"{seed}:ids")
    txids = []
    for _ in range(count):
        chars = "".join(rng.choice(ID_ALPHABET) for _ in range(16))
        txids.append(f"O{chars[:5]}-{chars[5:10]}-{chars[10:]}")
    return txids


@pytest.mark.parametrize("seed", [0, 11, 2024])
def test_simulator_txids_are_those_of_choice(seed: int) -> None:
    exchange = build_exchange(SimOptions(seed=seed, clock=ManualClock()))
    assert [exchange.new_txid() for _ in range(100)] == _choice_txids(seed, 100)
