"""``galfriday submit FILE [--wait] [--json]``: publish one batch and, with ``--wait``, its outcome.

Says what happened in every case: the batch was a duplicate (answered at once from the PubAck,
with the stored outcome when there is one), it is waiting on an open breaker (named, with the
time it may admit a probe), it timed out, or here is its result per order.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import orjson
from nats.aio.client import Client
from nats.js.api import DeliverPolicy

from actors.cli.batch_file import BatchDraft, BatchFileError, Reference, parse_batch_file
from actors.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CommandFailed,
    connect_command,
    load_command_config,
    run_command,
)
from actors.cli.result_table import render_outcome
from actors.cli.tracing import traced_publish_headers
from bus import MESSAGES, Subjects, encode
from bus.jetstream import BREAKERS_BUCKET, ensure_topology
from schemas import (
    BatchCompleted,
    BatchRejected,
    BreakerState,
    CircuitBreakerStateChanged,
    GalFridayConfig,
    OrderBatchRequested,
)
from schemas.events import OrderFailed, OrderPlaced, OrderRejected
from schemas.queries import PriceQuery, PriceQueryReply

__all__ = ["register"]

Outcome = BatchCompleted | BatchRejected
_PRICE_QUERY_TIMEOUT_S = 2.0
_STORED_SCAN_IDLE_S = 0.5


def register(subparsers: Any) -> None:
    submit = subparsers.add_parser("submit", help="publish an OrderBatchRequested from YAML/JSON")
    submit.add_argument("file")
    submit.add_argument("--wait", action="store_true", help="wait for the batch's outcome")
    submit.add_argument("--timeout", type=float, default=60.0, help="seconds --wait waits")
    submit.add_argument("--json", action="store_true", help="print the outcome as JSON")
    submit.add_argument("--config", help="YAML config file")
    submit.set_defaults(handler=_submit)


def _submit(args: argparse.Namespace) -> int:
    try:
        data = Path(args.file).read_bytes()
    except OSError as e:
        print(f"galfriday: cannot read {args.file}: {e.strerror}", file=sys.stderr)
        return EXIT_USAGE
    config = load_command_config(args)
    if config is None:
        return EXIT_USAGE
    try:
        now = time.time_ns()
        args.draft = parse_batch_file(
            data,
            max_batch_size=config.execution.max_batch_size,
            now_ns=now,
            default_batch_id=f"{Path(args.file).stem}-{now // 1_000_000}",
        )
    except BatchFileError as e:
        print(f"galfriday: bad batch file {args.file}: {e}", file=sys.stderr)
        return EXIT_USAGE
    return run_command(args, _submit_async)


async def _submit_async(config: GalFridayConfig, args: argparse.Namespace) -> int:
    draft: BatchDraft = args.draft
    subjects = Subjects(config.nats.subject_root)
    client = await connect_command(config)
    try:
        references = {
            pair: await _reference(client, subjects, pair) for pair in draft.pairs_to_price()
        }
        batch = draft.resolve(references, time.time_ns())
        outcomes: asyncio.Queue[Outcome] = asyncio.Queue()
        if args.wait:
            await _watch_outcomes(client, subjects, batch.batch_id, outcomes)
            await _watch_breakers(client, subjects)
            await _watch_progress(client, subjects, batch)
        js = client.jetstream()
        await ensure_topology(js, subjects)
        subject = subjects.batch_requested()
        with traced_publish_headers(subject, batch.batch_id) as headers:
            ack = await js.publish(subject, encode(batch), headers=headers)
        if ack.duplicate:
            return await _duplicate(client, subjects, batch, args)
        note = f"submitted batch {batch.batch_id} (stream seq {ack.seq})"
        print(note, file=sys.stderr if args.wait else sys.stdout, flush=True)
        if not args.wait:
            return EXIT_OK
        await _report_open_breakers(client, subjects)
        try:
            outcome = await asyncio.wait_for(outcomes.get(), args.timeout)
        except TimeoutError:
            raise CommandFailed(
                f"batch {batch.batch_id}: timed out after {args.timeout:g} s without an outcome "
                "(the router may still complete it; `galfriday tail` shows its events)"
            ) from None
        return _show(batch, outcome, args)
    finally:
        await client.close()


async def _reference(client: Client, subjects: Subjects, pair: str) -> Reference:
    """The pair's reference price from market-data, for relative prices."""
    unavailable = f"no reference price for {pair} to resolve a relative price"
    try:
        reply = await client.request(
            subjects.price_query(), encode(PriceQuery(pair=pair)), timeout=_PRICE_QUERY_TIMEOUT_S
        )
        answer = MESSAGES.decode(reply.data)
    except Exception as e:
        raise CommandFailed(
            f"{unavailable}: market-data did not answer {subjects.price_query()} "
            f"({type(e).__name__}; is it running?)"
        ) from None
    if not isinstance(answer, PriceQueryReply) or answer.quote is None:
        why = getattr(answer, "error", None) or "no quote"
        raise CommandFailed(f"{unavailable}: market-data answered {why}")
    if answer.stale:
        raise CommandFailed(f"{unavailable}: market-data's quote is stale")
    return Reference.from_quote(answer.quote.bid, answer.quote.ask)


async def _watch_outcomes(
    client: Client, subjects: Subjects, batch_id: str, outcomes: asyncio.Queue[Outcome]
) -> None:
    async def on_outcome(msg: Any) -> None:
        try:
            event = MESSAGES.decode(msg.data)
        except msgspec.DecodeError:
            return
        if isinstance(event, BatchCompleted | BatchRejected) and event.batch_id == batch_id:
            outcomes.put_nowait(event)

    for subject in (subjects.batch_completed(), subjects.batch_rejected()):
        await client.subscribe(subject, cb=on_outcome)


async def _watch_progress(client: Client, subjects: Subjects, batch: OrderBatchRequested) -> None:
    """One stderr line per decided order, so a long batch shows how far it got."""
    decided: set[int] = set()
    total = len(batch.orders)

    async def on_order(msg: Any) -> None:
        try:
            event = MESSAGES.decode(msg.data)
        except msgspec.DecodeError:
            return
        if not isinstance(event, OrderPlaced | OrderRejected | OrderFailed):
            return
        if event.batch_id != batch.batch_id or event.index in decided:
            return
        decided.add(event.index)
        if isinstance(event, OrderPlaced):
            what = f"placed {event.txid}".rstrip()
        else:
            kind = "rejected" if isinstance(event, OrderRejected) else "failed"
            what = f"{kind}: {event.reason}"
        print(f"[{len(decided)}/{total}] {event.pair} {what}", file=sys.stderr, flush=True)

    await client.subscribe(subjects.order_events_all(), cb=on_order)


async def _watch_breakers(client: Client, subjects: Subjects) -> None:
    async def on_breaker(msg: Any) -> None:
        try:
            event = MESSAGES.decode(msg.data)
        except msgspec.DecodeError:
            return
        if isinstance(event, CircuitBreakerStateChanged):
            _say_breaker(event)

    await client.subscribe(subjects.breakers_all(), cb=on_breaker)


async def _report_open_breakers(client: Client, subjects: Subjects) -> None:
    """Name each breaker that is not closed now: a batch waits on it without another word."""
    try:
        kv = await client.jetstream().key_value(subjects.bucket_name(BREAKERS_BUCKET))
        keys = await kv.keys()
    except Exception:  # no bucket yet, or no keys: nothing is open
        return
    for key in sorted(keys):
        try:
            entry = await kv.get(key)
            event = MESSAGES.decode(entry.value or b"")
        except Exception:
            continue
        if isinstance(event, CircuitBreakerStateChanged) and event.state is not BreakerState.CLOSED:
            _say_breaker(event)


def _say_breaker(event: CircuitBreakerStateChanged) -> None:
    if event.state is BreakerState.CLOSED:
        print(f"breaker {event.scope} closed", file=sys.stderr, flush=True)
        return
    if event.retry_at_ns is None:
        until = "the exchange is back online"
    else:
        until = dt.datetime.fromtimestamp(event.retry_at_ns / 1e9, dt.UTC).isoformat(
            timespec="seconds"
        )
    print(
        f"waiting on breaker {event.scope} ({event.state}: {event.reason}) until {until}",
        file=sys.stderr,
        flush=True,
    )


async def _duplicate(
    client: Client, subjects: Subjects, batch: OrderBatchRequested, args: argparse.Namespace
) -> int:
    print(
        f"batch {batch.batch_id} was already submitted (duplicate batch id): not sent again",
        file=sys.stderr,
        flush=True,
    )
    if not args.wait:
        return EXIT_FAILED
    stored = await _stored_outcome(client, subjects, batch.batch_id)
    if stored is None:
        print(f"batch {batch.batch_id}: no stored outcome yet", file=sys.stderr)
        return EXIT_FAILED
    print(f"batch {batch.batch_id}: the stored outcome follows", file=sys.stderr)
    _show(batch, stored, args)
    return EXIT_FAILED


async def _stored_outcome(client: Client, subjects: Subjects, batch_id: str) -> Outcome | None:
    """The outcome kept in the orders stream for ``batch_id``, if any (newest wins)."""
    js = client.jetstream()
    found: Outcome | None = None
    for subject in (subjects.batch_completed(), subjects.batch_rejected()):
        subscription = await js.subscribe(
            subject, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
        )
        try:
            while True:
                try:
                    msg = await subscription.next_msg(timeout=_STORED_SCAN_IDLE_S)
                except Exception:  # nothing (more) stored
                    break
                try:
                    event = MESSAGES.decode(msg.data)
                except msgspec.DecodeError:
                    event = None
                if isinstance(event, BatchCompleted | BatchRejected) and event.batch_id == batch_id:
                    found = event
                if msg.metadata.num_pending == 0:
                    break
        finally:
            await subscription.unsubscribe()
    return found


def _show(batch: OrderBatchRequested, outcome: Outcome, args: argparse.Namespace) -> int:
    if args.json:
        print(orjson.dumps(msgspec.to_builtins(outcome), option=orjson.OPT_INDENT_2).decode())
    else:
        print(render_outcome(batch, outcome))
    if isinstance(outcome, BatchRejected):
        return EXIT_FAILED
    return EXIT_OK if outcome.failed == 0 and outcome.rejected == 0 else EXIT_FAILED
