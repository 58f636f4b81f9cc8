"""Every benchmark in one run (``make bench``): each prints its own report as before, then one
table of every figure, also written to ``bench/results.json``.

Each bench module exposes ``figures() -> dict[str, float]`` (measure, print, return). A bench
that fails is recorded with its error and the others still run; the exit code is then 1.

    python -m bench.run_all [BENCH ...] [--output PATH]
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

__all__ = ["BENCHES", "main", "run", "table"]

BENCHES = (
    "bus_throughput",
    "durable_publish",
    "error_classifier",
    "retries",
    "breakers",
    "batch_router",
    "ws_order_entry",
    "recovery",
    "order_latency",
    "market_data",
    "sim_market",
    "replay",
    "actor_memory",
)
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results.json"


def run(names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each named bench's figures (or ``{"error": ...}``), in order, with its wall time."""
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        print(f"\n== bench.{name}", flush=True)
        started = time.monotonic()
        try:
            module = importlib.import_module(f"bench.{name}")
            figures: dict[str, Any] = dict(module.figures())
        except Exception as e:  # one broken bench must not hide the others' figures
            traceback.print_exc()
            figures = {"error": f"{type(e).__name__}: {e}"}
        figures["bench_seconds"] = round(time.monotonic() - started, 1)
        results[name] = figures
        sys.stdout.flush()
    return results


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(results: dict[str, dict[str, Any]]) -> str:
    """One line per figure: bench, figure, value."""
    rows = [
        (bench, key, _shown(value))
        for bench, figures in results.items()
        for key, value in figures.items()
    ]
    if not rows:
        return "(no figures)"
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = [
        f"{'bench':<{widths[0]}}  {'figure':<{widths[1]}}  {'value':>{widths[2]}}",
        f"{'-' * widths[0]}  {'-' * widths[1]}  {'-' * widths[2]}",
    ]
    lines += [f"{b:<{widths[0]}}  {k:<{widths[1]}}  {v:>{widths[2]}}" for b, k, v in rows]
    return "\n".join(lines)


def _machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.run_all")
    parser.add_argument("benches", nargs="*", metavar="BENCH", help=", ".join(BENCHES))
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.benches) - set(BENCHES))
    if unknown:
        parser.error(f"unknown bench(es) {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    names = args.benches or list(BENCHES)
    results = run(names)
    print("\n== every figure")
    print(table(results))
    document = {
        "finished_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "benches": results,
    }
    args.output.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"\nwritten to {args.output}")
    return 1 if any("error" in figures for figures in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
