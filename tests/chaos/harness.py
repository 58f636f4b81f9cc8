"""What every chaos scenario shares: router processes, FILLING orders, and the verdict.

The verdict is judged on the simulator's ledger (every order the exchange ever accepted) against
what the bus stored in the orders stream (the audit trail a desk reads afterwards):

- every intended order reached the exchange exactly once (``duplicated``, ``lost``);
- no order on the exchange the bus did not report placed, no ``OrderPlaced`` that is not on the
  exchange, and the reported txid is the ledger's;
- exactly one terminal event (``BatchCompleted`` or ``BatchRejected``) per batch.

Sizes come from ``GF_CHAOS_BATCHES`` / ``GF_CHAOS_ORDERS`` (``make chaos`` runs them large).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from nats.aio.client import Client
from nats.js.api import ConsumerConfig, DeliverPolicy

from bus import Subjects, encode
from bus.codec import EVENTS
from bus.jetstream import MSG_ID_HEADER
from kraken.sim import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    DEFAULT_BALANCES,
    AccountSetup,
    BookProfile,
    RunningSim,
    Scenario,
    SimOptions,
    running_sim,
)
from schemas import AnyEvent
from schemas.events import (
    BatchCompleted,
    BatchRejected,
    KrakenCallFailed,
    OrderBatchRequested,
    OrderFailed,
    OrderOutcome,
    OrderPlaced,
    OrderRejected,
)
from schemas.orders import BatchStrategy, OrderRequest, OrderSide, OrderType

REPO_ROOT = Path(__file__).resolve().parents[2]
BATCHES = int(os.environ.get("GF_CHAOS_BATCHES", "3"))
ORDERS = int(os.environ.get("GF_CHAOS_ORDERS", "5"))
DEADLINE_ELAPSED = "EService:Deadline elapsed"
SECOND_KEY = "desk-1b-second-router"
SECOND_SECRET = base64.b64encode(b"second-router-same-account".ljust(64, b"z")).decode()


def second_key_on_the_same_account() -> Scenario:
    """A second API key on the default key's account, for a second router (one process per
    key): it sees the first router's orders, and a duplicate by either is the same order twice.
    With two separate accounts neither could find the other's orders."""
    second = AccountSetup(key=SECOND_KEY, secret=SECOND_SECRET, account_of=DEFAULT_API_KEY)
    return Scenario(accounts=(second,))


def spawn_second_router(config_path: Path, log_path: Path) -> subprocess.Popen[bytes]:
    return spawn_router(config_path, log_path, api_key=SECOND_KEY, api_secret=SECOND_SECRET)


@contextlib.asynccontextmanager
async def chaos_sim(scenario: Scenario | None = None, seed: int = 5) -> AsyncIterator[RunningSim]:
    """A sim with money for any size of run and an unlimited book: every market order fills."""
    balances = {**DEFAULT_BALANCES, "ZUSD": Decimal(10**12)}
    options = SimOptions(
        auto_tick=False,
        seed=seed,
        balances=balances,
        tier="pro",
        scenario=scenario,
        book_profile=BookProfile.infinite(),
    )
    async with running_sim(options) as running:
        running.exchange.set_price("BTC/USD", Decimal(100_000))
        yield running


def market(volume: str = "0.0001", side: OrderSide = OrderSide.BUY) -> OrderRequest:
    """A market order: it fills at once, so a second placement of it would really land."""
    return OrderRequest(
        pair="BTC/USD", side=side, order_type=OrderType.MARKET, volume=Decimal(volume)
    )


def batch(batch_id: str, count: int) -> OrderBatchRequested:
    return OrderBatchRequested(
        ts_event=1,
        ts_init=1,
        batch_id=batch_id,
        orders=tuple(market() for _ in range(count)),
        strategy=BatchStrategy.SEQUENTIAL,
    )


async def submit(client: Client, subjects: Subjects, request: OrderBatchRequested) -> int:
    """Publish a batch request the way ``galfriday submit`` does; returns its stream sequence."""
    ack = await client.jetstream().publish(
        subjects.batch_requested(), encode(request), headers={MSG_ID_HEADER: request.batch_id}
    )
    return int(ack.seq)


def write_router_config(
    path: Path,
    *,
    nats_url: str,
    root: str,
    sim: RunningSim,
    order_entry: str = "ws",
    **execution: Any,
) -> Path:
    settings: dict[str, Any] = {
        "risk_check_enabled": False,
        "reconcile_delay_s": 0.1,
        "batch_ack_wait_s": 3.0,
        "placement_deadline_s": 2.0,
        "absent_margin_s": 0.5,
        "batch_timeout": 600.0,
        "max_batch_size": 50,
        **execution,
    }
    path.write_text(
        yaml.safe_dump(
            {
                "nats": {"url": nats_url, "subject_root": root},
                "kraken": {
                    "rest_url": sim.rest_url,
                    "ws_url": sim.ws_url,
                    "tier": "pro",
                    "request_timeout_s": 3.0,
                    "order_entry": order_entry,
                },
                "execution": settings,
            }
        )
    )
    return path


def spawn_router(
    config_path: Path,
    log_path: Path,
    *,
    api_key: str = DEFAULT_API_KEY,
    api_secret: str = DEFAULT_API_SECRET,
) -> subprocess.Popen[bytes]:
    """A batch-router process (its log appended to ``log_path``, read it when a test fails)."""
    return spawn_actor(
        "batch-router", config_path, log_path, api_key=api_key, api_secret=api_secret
    )


def spawn_classifier(config_path: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """The error classifier: the router retries a failed placement only on its verdict."""
    return spawn_actor("error-classifier", config_path, log_path)


def spawn_actor(
    actor: str,
    config_path: Path,
    log_path: Path,
    *,
    api_key: str = DEFAULT_API_KEY,
    api_secret: str = DEFAULT_API_SECRET,
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "GF_CONFIG": str(config_path),
        "KRAKEN_API_KEY": api_key,
        "KRAKEN_API_SECRET": api_secret,
    }
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "actors.cli.main", "actor", actor],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


@contextlib.asynccontextmanager
async def classifier_and_router(
    config_path: Path, workdir: Path, client: Client, subjects: Subjects
) -> AsyncIterator[subprocess.Popen[bytes]]:
    """An error classifier and one router, serving; both stopped afterwards. Yields the router."""
    classifier = spawn_classifier(config_path, workdir / "classifier.log")
    router = spawn_router(config_path, workdir / "router.log")
    try:
        await wait_until_serving(client, subjects, "error-classifier")
        await wait_until_serving(client, subjects)
        yield router
    finally:
        stop(router)
        stop(classifier)


def stop(process: subprocess.Popen[bytes], grace_s: float = 15.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def wait_until_serving(
    client: Client, subjects: Subjects, actor: str = "batch-router", timeout: float = 30.0
) -> None:
    async with asyncio.timeout(timeout):
        while True:
            try:
                await client.request(subjects.service_endpoint(actor, "health"), b"", timeout=0.5)
                return
            except Exception:  # not up yet: no responders or timeout
                await asyncio.sleep(0.1)


async def stored_events(
    client: Client, subjects: Subjects, kind: str = "orders", timeout: float = 30.0
) -> list[AnyEvent]:
    """Every event the ``kind`` stream (``orders``, ``kraken``) holds, in stream order."""
    js = client.jetstream()
    stream = subjects.stream_name(kind)
    expected = (await js.stream_info(stream)).state.messages
    events: list[AnyEvent] = []
    if expected == 0:
        return events
    done = asyncio.Event()

    async def collect(msg: Any) -> None:
        events.append(EVENTS.decode(msg.data))
        if len(events) >= expected:
            done.set()

    subscription = await js.subscribe(
        f"{subjects.root}.>",
        stream=stream,
        cb=collect,
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
    )
    try:
        async with asyncio.timeout(timeout):
            await done.wait()
    finally:
        await subscription.unsubscribe()
    return events


async def wait_for_terminal(
    client: Client, subjects: Subjects, batch_ids: Sequence[str], timeout: float
) -> None:
    """Until every batch has its terminal event stored (read back from the stream: core NATS
    would miss what is published while a subscriber's connection is down)."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                stored = await stored_events(client, subjects, timeout=5.0)
            except Exception:  # the server is down or restarting: look again
                stored = []
            if set(terminal_batch_ids(stored)) >= set(batch_ids):
                return
            await asyncio.sleep(0.5)


def terminal_batch_ids(events: Sequence[AnyEvent]) -> Counter[str]:
    return Counter(e.batch_id for e in events if isinstance(e, BatchCompleted | BatchRejected))


@dataclass
class Verdict:
    scenario: str
    intended: int
    placed: int
    """Orders on the exchange (ledger entries)."""
    duplicated: int
    lost: int
    """Intended orders that never reached the exchange."""
    unreported: list[str] = field(default_factory=list)
    """On the exchange, but no stored ``OrderPlaced`` (or another txid)."""
    misreported: list[str] = field(default_factory=list)
    """Reported placed, but not on the exchange."""
    terminal_events: dict[str, int] = field(default_factory=dict)
    contradicted: list[str] = field(default_factory=list)
    """Orders whose stored trail says both placed and failed/rejected."""
    failures: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        return (
            f"chaos {self.scenario}: intended={self.intended} placed={self.placed} "
            f"duplicated={self.duplicated} lost={self.lost} unreported={len(self.unreported)} "
            f"misreported={len(self.misreported)} contradicted={len(self.contradicted)} "
            f"failures={dict(self.failures)}"
        )

    def assert_exactly_once(self, batch_ids: Sequence[str]) -> None:
        assert self.duplicated == 0, self.line()
        assert self.lost == 0, self.line()
        assert self.unreported == [], self.line()
        assert self.misreported == [], self.line()
        assert self.terminal_events == dict.fromkeys(batch_ids, 1), self.line()
        assert self.contradicted == [], self.line()


def _contradicted(events: Sequence[AnyEvent]) -> list[str]:
    outcomes: dict[tuple[str, int], set[str]] = {}
    for e in events:
        if isinstance(e, OrderPlaced | OrderFailed | OrderRejected):
            outcomes.setdefault((e.batch_id, e.index), set()).add(type(e).__name__)
    mixed = {order: kinds for order, kinds in outcomes.items() if len(kinds) > 1}
    return sorted(f"{b}:{i} {sorted(kinds)}" for (b, i), kinds in mixed.items())


def judge(
    scenario: str,
    sim: RunningSim,
    events: Sequence[AnyEvent],
    intended: Mapping[str, int],
    calls: Sequence[AnyEvent] = (),
) -> Verdict:
    """``intended``: orders per batch id; ``calls``: the stored Kraken call reports (their
    failures are printed). Printed too (``make chaos`` runs with ``-s``)."""
    ledger = sim.exchange.ledger()
    on_exchange = Counter(entry.cl_ord_id for entry in ledger)
    txids = {entry.cl_ord_id: entry.txid for entry in ledger}
    reported = {e.cl_ord_id: e.txid for e in events if isinstance(e, OrderPlaced)}
    for completed in (e for e in events if isinstance(e, BatchCompleted)):
        for result in completed.results:
            if result.outcome is OrderOutcome.PLACED:
                reported.setdefault(result.cl_ord_id, result.txid or "")
    total = sum(intended.values())
    verdict = Verdict(
        scenario=scenario,
        intended=total,
        placed=len(ledger),
        duplicated=sum(count - 1 for count in on_exchange.values()),
        lost=total - len(on_exchange),
        unreported=sorted(
            str(cl_ord_id)
            for cl_ord_id in on_exchange
            if reported.get(str(cl_ord_id)) != txids[cl_ord_id]
        ),
        misreported=sorted(cl_ord_id for cl_ord_id in reported if cl_ord_id not in on_exchange),
        terminal_events=dict(terminal_batch_ids(events)),
        contradicted=_contradicted(events),
        failures=Counter(
            f"{e.reason}: {e.detail} {e.errors}" for e in events if isinstance(e, OrderFailed)
        ),
    )
    failed_calls = Counter(
        f"{e.endpoint} {','.join(e.errors)}" for e in calls if isinstance(e, KrakenCallFailed)
    )
    print(f"\n{verdict.line()}\n  failed Kraken calls: {dict(failed_calls)}")
    return verdict
