"""The actor runtime against a real nats-server: dispatch, acks, redelivery, dead letters,
micro service, dedup, concurrency, tracing and drain on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec
import pytest
import pytest_asyncio
from nats.aio.client import Client

from bus import ActorRunner, Subjects, encode
from bus.codec import EVENTS
from bus.context import ERROR_HEADER
from bus.dispatch import MAX_PAYLOAD_BYTES
from bus.jetstream import MSG_ID_HEADER
from schemas import (
    EventDeadLettered,
    GalFridayConfig,
    PriceQuery,
    PriceQueryReply,
    TradingHalted,
    TradingResumed,
)
from tests.support.probe_actor import ProbeActor, batch, quote
from tests.support.waiting import eventually

pytestmark = pytest.mark.nats


@pytest_asyncio.fixture
async def probe(bus_config: GalFridayConfig) -> AsyncIterator[tuple[ProbeActor, ActorRunner]]:
    actor = ProbeActor()
    async with ActorRunner(actor, bus_config) as runner:
        yield actor, runner


DeadLetters = Callable[[int], Awaitable[list[EventDeadLettered]]]


@pytest_asyncio.fixture
async def dead_letters(client: Client, subject_root: str) -> DeadLetters:
    received: list[EventDeadLettered] = []

    async def on_message(msg: object) -> None:
        event = EVENTS.decode(msg.data)  # type: ignore[attr-defined]
        assert isinstance(event, EventDeadLettered)
        received.append(event)

    await client.subscribe(Subjects(subject_root).dlq("probe"), cb=on_message)

    async def wait_for(count: int) -> list[EventDeadLettered]:
        await eventually(lambda: len(received) >= count)
        return received

    return wait_for


async def test_core_event_is_decoded_and_dispatched_to_its_handler(
    probe: tuple[ProbeActor, ActorRunner], client: Client, subject_root: str
) -> None:
    actor, _ = probe
    await client.publish(Subjects(subject_root).price("ETH/USD"), encode(quote("ETH/USD")))
    await eventually(lambda: len(actor.quotes) == 1)
    assert actor.quotes[0].pair == "ETH/USD"


async def test_jetstream_message_is_acked_after_the_handler_succeeds(
    probe: tuple[ProbeActor, ActorRunner], client: Client, subject_root: str
) -> None:
    actor, _ = probe
    subjects = Subjects(subject_root)
    await client.jetstream().publish(subjects.batch_requested(), encode(batch("b1")))
    await eventually(lambda: actor.batches == [("b1", 1)])
    info = await client.jetstream().consumer_info(
        subjects.stream_name("orders"), subjects.durable_name("probe", "batches")
    )
    await eventually(lambda: True)
    assert info.num_redelivered == 0


async def test_handler_crash_leads_to_redelivery_then_success(
    probe: tuple[ProbeActor, ActorRunner], client: Client, subject_root: str
) -> None:
    actor, _ = probe
    await client.jetstream().publish(
        Subjects(subject_root).batch_requested(), encode(batch("crash-1"))
    )
    await eventually(lambda: actor.batches == [("crash-1", 2)])


async def test_handler_that_always_fails_is_dead_lettered_after_max_deliver(
    probe: tuple[ProbeActor, ActorRunner],
    client: Client,
    subject_root: str,
    dead_letters: DeadLetters,
) -> None:
    await client.jetstream().publish(
        Subjects(subject_root).batch_requested(), encode(batch("always-crash"))
    )
    (letter,) = await dead_letters(1)
    assert "handler failed 3 times" in letter.reason


def _unknown_tag_payload() -> bytes:
    return msgspec.msgpack.encode({"type": "no.such.event", "ts_event": 1, "ts_init": 1})


BAD_PAYLOADS = {
    "garbage bytes": (b"\xc1\xff\x00garbage", "undecodable"),
    "valid msgpack of the wrong type": (msgspec.msgpack.encode([1, 2, 3]), "undecodable"),
    "truncated payload": (encode(quote())[:20], "undecodable"),
    "huge payload": (b"\x00" * (MAX_PAYLOAD_BYTES + 1), "exceeds"),
    "unknown tag": (_unknown_tag_payload(), "no.such.event"),
}


@pytest.mark.parametrize("kind", list(BAD_PAYLOADS))
@pytest.mark.parametrize("transport", ["core", "jetstream"])
async def test_bad_payload_is_dead_lettered_once_and_the_actor_keeps_running(
    kind: str,
    transport: str,
    probe: tuple[ProbeActor, ActorRunner],
    client: Client,
    subject_root: str,
    dead_letters: DeadLetters,
) -> None:
    actor, runner = probe
    subjects = Subjects(subject_root)
    payload, reason_part = BAD_PAYLOADS[kind]
    if transport == "core":
        await client.publish(subjects.price("BTC/USD"), payload)
    else:
        await client.jetstream().publish(subjects.batch_requested(), payload)
    (letter,) = await dead_letters(1)
    assert reason_part in letter.reason
    assert letter.payload == payload[: len(letter.payload)]
    await client.publish(subjects.price("BTC/USD"), encode(quote()))
    await eventually(lambda: len(actor.quotes) == 1)
    await asyncio.sleep(0.5)  # a terminated JetStream message must not come back
    assert runner.dispatcher.message_counts()["dead_lettered"] == 1


async def test_garbage_request_gets_an_error_reply_not_silence(
    probe: tuple[ProbeActor, ActorRunner], client: Client, subject_root: str
) -> None:
    reply = await client.request(Subjects(subject_root).price_query(), b"\x00junk", timeout=5)
    assert "undecodable" in (reply.headers or {})[ERROR_HEADER]


async def test_request_is_answered_with_the_handlers_return_value(
    probe: tuple[ProbeActor, ActorRunner], client: Client, subject_root: str
) -> None:
    reply = await client.request(
        Subjects(subject_root).price_query(), encode(PriceQuery(pair="SOL/USD")), timeout=5
    )
    decoded = msgspec.msgpack.decode(reply.data, type=PriceQueryReply)
    assert decoded.quote is not None
    assert decoded.quote.pair == "SOL/USD"


async def test_micro_service_answers_ping_and_health(
    probe: tuple[ProbeActor, ActorRunner], client: Client, subject_root: str
) -> None:
    ping = await client.request("$SRV.PING.probe", b"", timeout=5)
    assert msgspec.json.decode(ping.data)["name"] == "probe"
    health_subject = Subjects(subject_root).service_endpoint("probe", "health")
    health = await client.request(health_subject, b"", timeout=5)
    report = msgspec.json.decode(health.data)
    assert report["actor"] == "probe"
    assert report["connected"] is True


async def test_jetstream_dedups_by_msg_id(
    probe: tuple[ProbeActor, ActorRunner], client: Client, subject_root: str
) -> None:
    actor, _ = probe
    subject = Subjects(subject_root).batch_requested()
    first = await client.jetstream().publish(
        subject, encode(batch("d1")), headers={MSG_ID_HEADER: "d1"}
    )
    second = await client.jetstream().publish(
        subject, encode(batch("d1")), headers={MSG_ID_HEADER: "d1"}
    )
    assert not first.duplicate
    assert second.duplicate
    await eventually(lambda: len(actor.batches) == 1)
    await asyncio.sleep(0.3)
    assert actor.batches == [("d1", 1)]


async def test_slow_handler_does_not_stall_another_subject(
    probe: tuple[ProbeActor, ActorRunner], client: Client, subject_root: str
) -> None:
    actor, _ = probe
    subjects = Subjects(subject_root)
    halt = TradingHalted(ts_event=1, ts_init=1, reason="slow")
    await client.publish(subjects.kill_switch(), encode(halt))
    await asyncio.sleep(0.1)
    await client.publish(subjects.price("BTC/USD"), encode(quote()))
    await eventually(lambda: len(actor.quotes) == 1)
    assert actor.halts == []  # the quote overtook the slow handler still running


async def test_trace_context_travels_from_a_message_to_what_its_handler_publishes(
    probe: tuple[ProbeActor, ActorRunner], client: Client, subject_root: str
) -> None:
    """One trace across processes: the handler's own publish carries the caller's trace id."""
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"
    received: list[dict[str, str]] = []

    async def capture(msg: object) -> None:
        if isinstance(EVENTS.decode(msg.data), TradingResumed):  # type: ignore[attr-defined]
            received.append(dict(msg.headers or {}))  # type: ignore[attr-defined]

    subjects = Subjects(subject_root)
    await client.subscribe(subjects.kill_switch(), cb=capture)
    halt = TradingHalted(ts_event=1, ts_init=1, reason="echo")
    await client.publish(subjects.kill_switch(), encode(halt), headers={"traceparent": traceparent})
    await eventually(lambda: len(received) == 1)
    assert received[0]["traceparent"].split("-")[1] == trace_id


async def test_sigterm_drains_in_flight_work_before_exit(
    bus_config: GalFridayConfig, client: Client, subject_root: str
) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.probe_actor",
        bus_config.nats.url,
        subject_root,
        cwd=os.getcwd(),
    )
    subjects = Subjects(subject_root)
    try:
        await eventually(lambda: True)
        async with asyncio.timeout(20):
            while True:
                try:
                    await client.request("$SRV.PING.probe", b"", timeout=0.5)
                    break
                except Exception:
                    await asyncio.sleep(0.1)
        await client.jetstream().publish(subjects.batch_requested(), encode(batch("slow-1")))
        await asyncio.sleep(0.5)  # the slow handler (1.5 s) is now in flight
        child.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(child.wait(), 20) == 0
    finally:
        if child.returncode is None:
            child.kill()
    info = await client.jetstream().consumer_info(
        subjects.stream_name("orders"), subjects.durable_name("probe", "batches")
    )
    assert info.num_ack_pending == 0
    assert info.ack_floor.stream_seq == 1


async def test_a_stop_cancels_work_past_the_grace_and_hands_its_message_back(
    bus_config: GalFridayConfig, subject_root: str, client: Client
) -> None:
    """A handler that would run on for minutes (a batch waiting out a venue) must not hold a
    stop hostage: past ``nats.stop_grace_s`` it is cancelled and its stored message is handed
    back at once, so another instance takes it over instead of waiting out ``ack_wait``."""
    config = msgspec.structs.replace(
        bus_config, nats=msgspec.structs.replace(bus_config.nats, stop_grace_s=0.2)
    )
    stuck = ProbeActor(stuck=True)
    runner = ActorRunner(stuck, config)
    await runner.__aenter__()
    try:
        await client.jetstream().publish(
            Subjects(subject_root).batch_requested(), encode(batch("stuck-1"))
        )
        await eventually(lambda: stuck.started == ["stuck-1"])
    finally:
        async with asyncio.timeout(60):  # a hang, not a duration: the bound is generous
            await runner.__aexit__(None, None, None)
    taker = ProbeActor()
    async with ActorRunner(taker, config):
        await eventually(lambda: [b for b, _ in taker.batches] == ["stuck-1"], timeout=5)
    assert taker.batches[0][1] == 2  # the same stored message, delivered a second time


async def test_work_handed_over_leaves_its_message_alone_and_is_no_failure(
    probe: tuple[ProbeActor, ActorRunner],
    client: Client,
    subject_root: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A handler that lost its work's lease to another instance: no ack (the work is not
    done), no nak (the new owner holds the delivery), no error log, never dead-lettered."""
    actor, runner = probe
    with caplog.at_level(logging.INFO, logger="bus.dispatch"):
        await client.jetstream().publish(
            Subjects(subject_root).batch_requested(), encode(batch("handed-over-1"))
        )
        await eventually(lambda: actor.started == ["handed-over-1"])
        await eventually(lambda: any("bus.handed_over" in r.getMessage() for r in caplog.records))
    assert runner.dispatcher.counts["handler_errors"] == 0
    assert runner.dispatcher.counts["dead_lettered"] == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    info = await client.jetstream().consumer_info(
        Subjects(subject_root).stream_name("orders"),
        Subjects(subject_root).durable_name("probe", "batches"),
    )
    assert info.num_ack_pending == 1  # still out with this delivery: not acked, not nak'd
    assert info.num_redelivered == 0
