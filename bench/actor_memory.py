"""Memory per actor process after a stretch of load (issue 14): RSS of market-data,
error-classifier and batch-router running as processes against a real nats-server and the
simulator (prices ticking, a small batch every second), and what the holiday library would
cost market-data if it were imported in-process (measured in a child, side by side).

    python -m bench.actor_memory [seconds]     # default 120
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import nats

from bus import encode
from bus.jetstream import MSG_ID_HEADER
from kraken.sim import SimOptions, running_sim
from tests.support.market_orders import market_batch
from tests.support.nats_server import running_nats_server
from tests.support.process_stack import ACTOR_NAMES, ProcessStack

_MIB = 1024 * 1024
_RSS_PROBE = (
    "import resource, sys\n{setup}\nprint(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
)


def _child_peak_rss_kib(setup: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE.format(setup=setup)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout.strip())


def holiday_library_cost_mib() -> tuple[float, float]:
    """Peak RSS of a child that imports the market-data shell, without and with building the
    holiday tables in-process (the old way)."""
    base = "import actors.market_data.shell"
    with_library = (
        base + "\nfrom actors.market_data.holidays import load_exchange_calendar_year\n"
        "[load_exchange_calendar_year(c, 2026) for c in ('XNYS', 'XLON', 'XTKS')]"
    )
    return _child_peak_rss_kib(base) / 1024, _child_peak_rss_kib(with_library) / 1024


async def measure(seconds: float) -> dict[str, float]:
    with running_nats_server() as server, tempfile.TemporaryDirectory() as tmp:
        async with running_sim(SimOptions()) as sim:
            stack = ProcessStack(server.url, f"mem{uuid.uuid4().hex[:8]}", sim, Path(tmp))
            client = await nats.connect(server.url)
            stack.start()
            try:
                await stack.wait_healthy(client)
                js = client.jetstream()
                end = time.monotonic() + seconds
                n = 0
                while time.monotonic() < end:
                    batch = market_batch(f"mem-{n}")
                    await js.publish(
                        stack.subjects.batch_requested(),
                        encode(batch),
                        headers={MSG_ID_HEADER: batch.batch_id},
                    )
                    n += 1
                    await asyncio.sleep(1.0)
                stack.raise_if_exited()
                return {name: stack.rss_bytes(name) / _MIB for name in ACTOR_NAMES}
            finally:
                stack.stop()
                await client.close()


def figures(seconds: float = 120.0) -> dict[str, float]:
    """This bench's figures (printed as it always did) for ``bench.run_all``."""
    rss = asyncio.run(measure(seconds))
    without, with_library = holiday_library_cost_mib()
    print(f"actor RSS after {seconds:.0f} s of load (prices ticking, one batch per second):")
    for name, mib in rss.items():
        print(f"  {name:<17} {mib:6.1f} MiB")
    print("holiday tables in-process vs in a child (peak RSS of a probe process):")
    print(f"  without the library {without:6.1f} MiB, with it {with_library:6.1f} MiB")
    print(f"  saved by building them in a child: {with_library - without:.1f} MiB")
    result = {f"rss_mib_{name}": round(mib, 1) for name, mib in rss.items()}
    result["holiday_library_saved_mib"] = round(with_library - without, 1)
    return result


def main() -> None:
    figures(float(sys.argv[1]) if len(sys.argv) > 1 else 120.0)


if __name__ == "__main__":
    main()
