"""``galfriday replay`` throughput (issue 14 item 4): events per second for a whole run of the
command as a process (start-up, reading the log, publishing, flushing) against a real
nats-server, on a recorded-looking log: price updates, every tenth message with a
``Nats-Msg-Id`` header as durable events carry. The median of three runs counts.

    python -m bench.replay [events]     # default 200000
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import yaml

from bus.codec import encode
from bus.eventlog import EventLogWriter, LogRecord
from bus.jetstream import MSG_ID_HEADER
from bus.subjects import Subjects
from schemas.events import PriceSource, PriceUpdated
from tests.support.nats_server import running_nats_server

__all__ = ["figures", "main", "measure", "write_log"]

REPO_ROOT = Path(__file__).resolve().parents[1]
RUNS = 3
RECORDED_ROOT = "recorded"
REPLAY_ROOT = "replaybench"
_PAIRS = ("BTC/USD", "ETH/USD", "SOL/USD")


def write_log(path: Path, events: int) -> None:
    subjects = Subjects(RECORDED_ROOT)
    base_ns = 1_780_000_000 * 1_000_000_000
    payloads = []
    for index, pair in enumerate(_PAIRS):
        price = Decimal(100_000) / (index + 1)
        quote = PriceUpdated(
            ts_event=base_ns, ts_init=base_ns, pair=pair, bid=price, ask=price + 1, last=price,
            bid_size=Decimal("1.5"), ask_size=Decimal("2.25"), volume_24h=Decimal(1234),
            vwap_24h=price, source=PriceSource.WS,
        )  # fmt: skip
        payloads.append((subjects.price(pair), encode(quote)))
    with path.open("wb") as file:
        writer = EventLogWriter(file)
        for n in range(events):
            subject, payload = payloads[n % len(payloads)]
            headers = {MSG_ID_HEADER: f"evt-{n}"} if n % 10 == 0 else {}
            writer.write(LogRecord(subject, headers, base_ns + n * 1000, payload))


def _run_once(log: Path, config: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "actors.cli.main", "replay", str(log), "--config", str(config),
         "--subject-root", REPLAY_ROOT],
        cwd=REPO_ROOT, check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - started


def measure(events: int = 200_000, runs: int = RUNS) -> dict[str, float]:
    """Median events/s over ``runs`` runs of the command, start-up included; also the median
    start-up alone (``replay`` of an empty log)."""
    with running_nats_server() as server, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        log, empty = workdir / "events.gflog", workdir / "empty.gflog"
        write_log(log, events)
        write_log(empty, 0)
        config = workdir / "replay.yaml"
        config.write_text(
            yaml.safe_dump({"nats": {"url": server.url, "subject_root": REPLAY_ROOT}})
        )
        elapsed = [_run_once(log, config) for _ in range(runs)]
        startup = [_run_once(empty, config) for _ in range(runs)]
    median = statistics.median(elapsed)
    return {
        "events": events,
        "events_per_s": round(events / median),
        "run_s": round(median, 3),
        "startup_s": round(statistics.median(startup), 3),
    }


def report(result: dict[str, float]) -> None:
    print(
        f"galfriday replay of {result['events']:.0f} events, start-up included (median of {RUNS}):"
    )
    print(
        f"  {result['events_per_s']:,.0f} events/s   run {result['run_s']:.2f} s   "
        f"start-up alone {result['startup_s']:.2f} s"
    )


def figures(events: int = 200_000) -> dict[str, float]:
    """This bench's figures (printed) for the collected table (``bench.run_all``)."""
    result = measure(events)
    report(result)
    return result


def main() -> None:
    figures(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)


if __name__ == "__main__":
    main()
