"""Recovery after a router kill -9 (issue 12): 20 batches × 20 market orders (they fill) are
submitted at once to the three actors running as processes (real nats-server, simulator with
prices ticking, risk checks on); once a quarter of the orders are placed the router is killed
with SIGKILL and started again. Measured: seconds from submission until every batch is terminal,
orders that ended other than placed, and duplicated orders on the exchange ledger — without a
kill, with a kill, and (``--before REV``) the same for another revision run from a temporary
``git worktree`` in the same invocation.

    python -m bench.recovery [--batches 20] [--orders 20] [--before REV] [--lost 10x10]

The ``lost10`` run (issue 12, point 11): 10 % of placement answers held by the venue, nonce
window 0 (private calls serialized per key); median and p95 batch latency.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import nats
from nats.aio.msg import Msg

from bus import EVENTS, Subjects, encode
from bus.jetstream import MSG_ID_HEADER
from kraken.sim import (
    DEFAULT_BALANCES,
    LatencyFault,
    LoseResponseFault,
    SimOptions,
    running_sim,
)
from schemas.events import (
    BatchCompleted,
    BatchRejected,
    OrderFailed,
    OrderOutcome,
)
from tests.support.market_orders import market_batch
from tests.support.nats_server import running_nats_server
from tests.support.process_stack import REPO_ROOT, ProcessStack
from tests.support.waiting import eventually

KILL_AT_SHARE = 0.25
"""The router is killed once this share of the orders is on the ledger."""
TIMEOUT_S = 900.0


@dataclass(frozen=True)
class Run:
    label: str
    seconds: float
    """Submission until every batch is terminal (``inf``: not within the timeout)."""
    not_placed: int
    """Orders that ended rejected or failed (the load is valid: each such is a loss)."""
    reasons: Counter[str]
    duplicated: int
    terminal: int
    unreported: int
    """Orders on the exchange ledger that no ``BatchCompleted`` reports placed."""
    failures: Counter[str]
    """``OrderFailed`` reason, detail and errors: why an order was lost."""
    batch_seconds: tuple[float, ...] = ()
    """Each batch's own duration (``BatchCompleted.duration_ns``)."""

    def percentile(self, share: float) -> float:
        ordered = sorted(self.batch_seconds)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def measure(
    code_dir: Path,
    *,
    batches: int,
    orders: int,
    kill: bool,
    label: str,
    lost_share: float = 0.0,
) -> Run:
    """One run; ``lost_share``: that share of placements is processed by the venue but its
    answer is held for a minute (the client's 10 s timeout ends the wait, unless the answer
    wait is bounded by the order's deadline)."""
    root = f"rec{uuid.uuid4().hex[:8]}"
    balances = {**DEFAULT_BALANCES, "ZUSD": Decimal(10**12)}
    with running_nats_server() as server, tempfile.TemporaryDirectory() as tmp:
        async with running_sim(SimOptions(seed=5, balances=balances, tier="pro")) as sim:
            sim.exchange.set_price("BTC/USD", Decimal(100_000))
            sim.exchange.faults.add(LatencyFault(endpoints=("AddOrder",), ms=40))
            if lost_share:
                sim.exchange.faults.add(
                    LoseResponseFault(mode="timeout", hold_s=60.0, probability=lost_share)
                )
            stack = ProcessStack(
                server.url,
                root,
                sim,
                Path(tmp),
                settings={
                    "kraken": {"tier": "pro"},
                    "execution": {
                        "batch_ack_wait_s": 3.0,
                        "placement_deadline_s": 2.0,
                        "absent_margin_s": 0.5,
                        "batch_timeout": 300.0,
                        "max_order_notional": 1_000_000,
                        "max_batch_exposure": 100_000_000,
                    },
                },
                code_dir=code_dir,
            )
            subjects = Subjects(root)
            client = await nats.connect(server.url)
            terminal: dict[str, BatchCompleted | BatchRejected] = {}
            all_terminal = asyncio.Event()

            async def on_terminal(msg: Msg) -> None:
                event = EVENTS.decode(msg.data)
                if isinstance(event, BatchCompleted | BatchRejected):
                    terminal.setdefault(event.batch_id, event)
                    if len(terminal) >= batches:
                        all_terminal.set()

            failures: Counter[str] = Counter()

            async def on_failed(msg: Msg) -> None:
                event = EVENTS.decode(msg.data)
                if isinstance(event, OrderFailed):
                    failures[f"{event.reason}: {event.detail} {event.errors}"[:160]] += 1

            await client.subscribe(subjects.order_event("failed"), cb=on_failed)
            await client.subscribe(subjects.batch_completed(), cb=on_terminal)
            await client.subscribe(subjects.batch_rejected(), cb=on_terminal)
            stack.start()
            try:
                await stack.wait_healthy(client)
                await stack.wait_until_priced(client)
                js = client.jetstream()
                ids = [f"{label}-{n}" for n in range(batches)]
                started = time.monotonic()
                for batch_id in ids:
                    await js.publish(
                        subjects.batch_requested(),
                        encode(market_batch(batch_id, orders)),
                        headers={MSG_ID_HEADER: batch_id},
                    )
                if kill:
                    target = int(batches * orders * KILL_AT_SHARE)
                    await eventually(lambda: len(sim.exchange.ledger()) >= target, TIMEOUT_S)
                    stack.kill("batch-router")
                    stack.killed.discard("batch-router")
                    stack.start_instance("batch-router", "batch-router")
                seconds = float("inf")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(TIMEOUT_S):
                        await all_terminal.wait()
                        seconds = time.monotonic() - started
            finally:
                stack.stop()
                await client.drain()
            reasons: Counter[str] = Counter()
            for event in terminal.values():
                if isinstance(event, BatchRejected):
                    reasons[event.reason.split(":")[0]] += event.order_count
                    continue
                for result in event.results:
                    if result.outcome is not OrderOutcome.PLACED:
                        reasons[f"{result.outcome}:{(result.reason or '').split(':')[0]}"] += 1
            per_id = Counter(entry.cl_ord_id for entry in sim.exchange.ledger())
            reported = {
                result.cl_ord_id
                for event in terminal.values()
                if isinstance(event, BatchCompleted)
                for result in event.results
                if result.outcome is OrderOutcome.PLACED
            }
            return Run(
                label=label,
                seconds=seconds,
                not_placed=sum(reasons.values()),
                reasons=reasons,
                duplicated=sum(count - 1 for count in per_id.values() if count > 1),
                terminal=len(terminal),
                failures=failures,
                unreported=sum(1 for cl_ord_id in per_id if cl_ord_id not in reported),
                batch_seconds=tuple(
                    event.duration_ns / 1e9
                    for event in terminal.values()
                    if isinstance(event, BatchCompleted)
                ),
            )


@contextlib.contextmanager
def checkout(rev: str) -> Iterator[Path]:
    """``rev`` in a temporary git worktree, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="recovery-bench-")) / "tree"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(path), rev],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    )
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(path)],
            cwd=REPO_ROOT,
            check=False,
            capture_output=True,
        )


async def compare(
    code_dirs: dict[str, Path], *, batches: int, orders: int, lost: tuple[int, int] | None = None
) -> list[Run]:
    """No kill and a kill per revision; with ``lost`` (batches, orders) also a run where 10 %
    of the placement answers are held."""
    runs = []
    for name, code_dir in code_dirs.items():
        for kill in (False, True):
            label = f"{name}-{'kill' if kill else 'nokill'}"
            runs.append(
                await measure(code_dir, batches=batches, orders=orders, kill=kill, label=label)
            )
        if lost is not None:
            runs.append(
                await measure(
                    code_dir,
                    batches=lost[0],
                    orders=lost[1],
                    kill=False,
                    label=f"{name}-lost10",
                    lost_share=0.1,
                )
            )
    return runs


def report(runs: list[Run], *, batches: int, orders: int) -> None:
    print(f"recovery after kill -9 of the router: {batches} batches x {orders} market orders")
    print(
        f"{'run':<16}{'all terminal s':>16}{'batch p50 s':>13}{'batch p95 s':>13}"
        f"{'not placed':>12}{'duplicated':>12}{'unreported':>12}  reasons"
    )
    for run in runs:
        reasons = ", ".join(f"{k}={v}" for k, v in run.reasons.most_common()) or "-"
        print(
            f"{run.label:<16}{run.seconds:>16.1f}{run.percentile(0.5):>13.1f}"
            f"{run.percentile(0.95):>13.1f}{run.not_placed:>12}{run.duplicated:>12}"
            f"{run.unreported:>12}  {reasons}"
        )
    for run in runs:
        for failure, count in run.failures.most_common(5):
            print(f"  {run.label}: {count} x {failure}")
    by_label = {run.label: run for run in runs}
    for name in sorted({run.label.rsplit("-", 1)[0] for run in runs}):
        calm, killed = by_label.get(f"{name}-nokill"), by_label.get(f"{name}-kill")
        if calm is not None and killed is not None and calm.seconds > 0:
            print(f"{name}: kill / no-kill time = {killed.seconds / calm.seconds:.2f}x")


def _size(text: str) -> tuple[int, int]:
    batches, _, orders = text.partition("x")
    return int(batches), int(orders)


def figures(batches: int = 20, orders: int = 20) -> dict[str, float]:
    """This bench's figures for ``bench.run_all`` (the current code only, no ``--before``)."""
    runs = asyncio.run(compare({"after": REPO_ROOT}, batches=batches, orders=orders))
    report(runs, batches=batches, orders=orders)
    found: dict[str, float] = {}
    for run in runs:
        found[f"{run.label}_all_terminal_s"] = run.seconds
        found[f"{run.label}_orders_not_placed"] = run.not_placed
        found[f"{run.label}_orders_duplicated"] = run.duplicated
    by_label = {run.label: run for run in runs}
    if "after-kill" in by_label and "after-nokill" in by_label:
        found["kill_time_x_no_kill"] = by_label["after-kill"].seconds / max(
            by_label["after-nokill"].seconds, 1e-9
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--orders", type=int, default=20)
    parser.add_argument("--before", help="also measure this git revision (e.g. main)")
    parser.add_argument(
        "--lost",
        default="10x10",
        help="BATCHESxORDERS of the 10 %% held-answers run ('0' to skip)",
    )
    args = parser.parse_args()
    lost = None if args.lost == "0" else _size(args.lost)
    with contextlib.ExitStack() as stack:
        code_dirs = {"after": REPO_ROOT}
        if args.before:
            code_dirs = {"before": stack.enter_context(checkout(args.before)), **code_dirs}
        runs = asyncio.run(compare(code_dirs, batches=args.batches, orders=args.orders, lost=lost))
    report(runs, batches=args.batches, orders=args.orders)


if __name__ == "__main__":
    main()
