"""A simulated exchange is cheap to build and to reset: the synthetic books hold the level
sizes drawn so far, not a table of every size the profile allows (that was ~40 MB and ~0.3 s
per exchange and per ``/sim/reset``, and the test suite, building hundreds of exchanges, grew
past 10 GB)."""

from __future__ import annotations

import tracemalloc

from kraken.sim import SimOptions
from kraken.sim.server import build_exchange

MIB = 1024 * 1024
BUDGET_BYTES = 5 * MIB


def test_building_and_resetting_an_exchange_allocates_little() -> None:
    tracemalloc.start()
    try:
        exchange = build_exchange(SimOptions(seed=3))
        built, _ = tracemalloc.get_traced_memory()
        exchange.reset()
        after_reset, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert built < BUDGET_BYTES, f"{built / MIB:.1f} MiB to build one exchange"
    assert after_reset < BUDGET_BYTES, f"{after_reset / MIB:.1f} MiB after a reset"
