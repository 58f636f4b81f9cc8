"""The runtime against payloads that break decoders (issue 9): deep nesting, wrong types on a
subject, implausible timestamps. Each is dead-lettered with a reason, requests get an error
reply, JetStream messages are terminated, and the actor keeps answering."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import msgspec
import pytest
import pytest_asyncio
from nats.aio.client import Client

from bus import ActorRunner, Subjects, encode
from bus.codec import EVENTS, MESSAGES
from bus.context import ERROR_HEADER
from bus.jetstream import MSG_ID_HEADER
from schemas import EventDeadLettered, GalFridayConfig, PriceQuery, PriceQueryReply
from tests.support.probe_actor import ProbeActor, batch, quote
from tests.support.waiting import eventually

pytestmark = pytest.mark.nats

HOUR_NS = 3_600 * 1_000_000_000


def deeply_nested(message: msgspec.Struct, depth: int = 5_000) -> bytes:
    """``message`` with an extra field nested ``depth`` arrays deep (skipped fields recurse)."""
    fields = msgspec.to_builtins(message)
    inner: object = 1
    for _ in range(depth):
        inner = [inner]
    fields["padding"] = inner
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(depth * 4)
    try:
        return msgspec.msgpack.encode(fields)
    finally:
        sys.setrecursionlimit(limit)


@pytest_asyncio.fixture
async def probe(bus_config: GalFridayConfig) -> AsyncIterator[tuple[ProbeActor, ActorRunner]]:
    actor = ProbeActor()
    async with ActorRunner(actor, bus_config) as runner:
        yield actor, runner


@pytest_asyncio.fixture
async def dead_letters(client: Client, subject_root: str) -> list[EventDeadLettered]:
    received: list[EventDeadLettered] = []

    async def on_message(msg: object) -> None:
        event = EVENTS.decode(msg.data)  # type: ignore[attr-defined]
        assert isinstance(event, EventDeadLettered)
        received.append(event)

    await client.subscribe(Subjects(subject_root).dlq("probe"), cb=on_message)
    return received


async def test_a_deeply_nested_request_gets_an_error_reply_and_a_dead_letter(
    probe: tuple[ProbeActor, ActorRunner],
    client: Client,
    subject_root: str,
    dead_letters: list[EventDeadLettered],
) -> None:
    subjects = Subjects(subject_root)
    reply = await client.request(
        subjects.price_query(), deeply_nested(PriceQuery(pair="BTC/USD")), timeout=5
    )
    assert "RecursionError" in (reply.headers or {}).get(ERROR_HEADER, "")
    await eventually(lambda: bool(dead_letters))
    assert "RecursionError" in dead_letters[0].reason
    # Still answering.
    good = await client.request(subjects.price_query(), encode(PriceQuery(pair="BTC/USD")), 5)
    assert isinstance(MESSAGES.decode(good.data), PriceQueryReply)


async def test_a_deeply_nested_stored_message_is_terminated_not_redelivered(
    probe: tuple[ProbeActor, ActorRunner],
    client: Client,
    subject_root: str,
    dead_letters: list[EventDeadLettered],
) -> None:
    actor, runner = probe
    subjects = Subjects(subject_root)
    js = client.jetstream()
    await js.publish(
        subjects.batch_requested(), deeply_nested(batch("deep")), headers={MSG_ID_HEADER: "deep"}
    )
    await js.publish(subjects.batch_requested(), encode(batch("ok")), headers={MSG_ID_HEADER: "ok"})
    await eventually(lambda: ("ok", 1) in actor.batches)
    await eventually(lambda: bool(dead_letters))
    assert dead_letters[0].subject == subjects.batch_requested()
    assert runner.dispatcher.message_counts()["dead_lettered"] == 1
    assert not [b for b in actor.batches if b[0] == "deep"]


async def test_the_wrong_event_type_on_a_subject_is_dead_lettered_not_handled(
    probe: tuple[ProbeActor, ActorRunner],
    client: Client,
    subject_root: str,
    dead_letters: list[EventDeadLettered],
) -> None:
    actor, _ = probe
    subjects = Subjects(subject_root)
    # A quote on the kill-switch subject, a batch on the price subject.
    await client.publish(subjects.kill_switch(), encode(quote("BTC/USD")))
    await client.publish(subjects.price("BTC/USD"), encode(batch("sneaky")))
    await eventually(lambda: len(dead_letters) >= 2)
    assert all("unexpected_type_for_subject" in d.reason for d in dead_letters)
    assert actor.quotes == []
    assert actor.batches == []


async def test_an_event_stamped_far_in_the_future_is_dead_lettered(
    probe: tuple[ProbeActor, ActorRunner],
    client: Client,
    subject_root: str,
    dead_letters: list[EventDeadLettered],
) -> None:
    actor, runner = probe
    subjects = Subjects(subject_root)
    future = msgspec.structs.replace(quote("BTC/USD"), ts_event=runner.clock() + HOUR_NS)
    await client.publish(subjects.price("BTC/USD"), encode(future))
    await client.publish(subjects.price("ETH/USD"), encode(quote("ETH/USD")))
    await eventually(lambda: bool(dead_letters) and bool(actor.quotes))
    assert "implausible_timestamp" in dead_letters[0].reason
    assert [q.pair for q in actor.quotes] == ["ETH/USD"]
