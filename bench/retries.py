"""Retries under the two fault profiles of issue 14 item 1, with the default configuration and
the error classifier's pure core (seeded, injected clock):

- independent transient faults (one call in five fails with ``EService:Unavailable``/``Busy``):
  orders that still fail with retries on, against retries off (goal: >= 90 % fewer);
- a full outage after a healthy spell: retries as a share of calls (goal: <= 10 %, no storm).

    python -m bench.retries
"""

from __future__ import annotations

import random
import sys

from bus.clock import ManualClock
from tests.support.retry_profiles import ORDERS, START_NS, engine, run_orders

__all__ = ["figures", "main", "measure"]

SEEDS = (1, 2, 3)


def measure(orders: int = ORDERS, seeds: tuple[int, ...] = SEEDS) -> dict[str, float]:
    failed_off = failed_on = 0
    for seed in seeds:
        clock = ManualClock(start_ns=START_NS)
        off = run_orders(engine(clock), clock, random.Random(seed), retries_on=False, orders=orders)
        clock = ManualClock(start_ns=START_NS)
        on = run_orders(engine(clock), clock, random.Random(seed), retries_on=True, orders=orders)
        failed_off += off.orders_failed
        failed_on += on.orders_failed
    clock = ManualClock(start_ns=START_NS)
    classifier = engine(clock)
    run_orders(classifier, clock, random.Random(9), retries_on=True, orders=orders // 2)
    outage = run_orders(classifier, clock, None, retries_on=True, orders=orders)
    return {
        "transient_failed_orders_retries_off": failed_off,
        "transient_failed_orders_retries_on": failed_on,
        "transient_fewer_failed_pct": round(100 * (1 - failed_on / max(failed_off, 1)), 1),
        "outage_calls": outage.calls,
        "outage_retries": outage.retries,
        "outage_retries_pct_of_calls": round(100 * outage.retries / max(outage.calls, 1), 1),
    }


def report(result: dict[str, float]) -> None:
    print(f"retries, default config, {ORDERS} orders per run (seeds {SEEDS})")
    print(
        f"  20 % independent transient faults: {result['transient_failed_orders_retries_off']:.0f}"
        f" failed orders with retries off, {result['transient_failed_orders_retries_on']:.0f}"
        f" with retries on ({result['transient_fewer_failed_pct']:.1f} % fewer; goal >= 90 %)"
    )
    print(
        f"  full outage: {result['outage_retries']:.0f} retries in {result['outage_calls']:.0f}"
        f" calls ({result['outage_retries_pct_of_calls']:.1f} %; goal <= 10 %)"
    )


def figures() -> dict[str, float]:
    """This bench's figures (printed as it always did) for ``bench.run_all``."""
    result = measure()
    report(result)
    return result


def main() -> int:
    figures()
    return 0


if __name__ == "__main__":
    sys.exit(main())
