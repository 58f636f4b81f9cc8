"""The bus keeps reading when a publisher sends headers nats-py cannot parse or misreads,
and an actor whose read loop dies anyway is reconnected or exits non-zero (issue 9, point 5).

Hostile frames are written with a raw TCP socket, as a buggy or hostile client would send them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlparse

import msgspec
import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client

from bus import ActorRunner, Subjects, encode, run_actor
from bus.codec import EVENTS
from bus.connection import connect
from bus.errors import HeadersTooLargeError, ReaderUnrecoverableError
from bus.reader_watchdog import ReaderWatchdog, WatchdogPolicy, reader_task
from schemas import EventDeadLettered, GalFridayConfig
from tests.support.probe_actor import ProbeActor, batch, quote
from tests.support.waiting import eventually

pytestmark = pytest.mark.nats

HEADER_LINE_ONLY = b"NATS/1.0"
"""A header block that is only the version line: nats-py 2.16.0 raises IndexError on it."""


async def raw_publish(url: str, subject: str, header_block: bytes, payload: bytes = b"") -> None:
    """``HPUB <subject> <header bytes> <total bytes>`` over a bare socket, then a PING round
    trip so the server has routed the message before this returns."""
    address = urlparse(url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        await reader.readline()  # INFO
        frame = b"HPUB %s %d %d\r\n%s%s\r\n" % (
            subject.encode(),
            len(header_block),
            len(header_block) + len(payload),
            header_block,
            payload,
        )
        connect_line = b'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\n'
        writer.write(connect_line + frame + b"PING\r\n")
        await writer.drain()
        assert await asyncio.wait_for(reader.readline(), 5) == b"PONG\r\n"
    finally:
        writer.close()


@pytest_asyncio.fixture
async def probe(bus_config: GalFridayConfig) -> AsyncIterator[tuple[ProbeActor, ActorRunner]]:
    actor = ProbeActor()
    async with ActorRunner(actor, bus_config) as runner:
        yield actor, runner


async def dead_letter_inbox(client: Client, subject_root: str) -> list[EventDeadLettered]:
    received: list[EventDeadLettered] = []

    async def on_message(msg: object) -> None:
        event = EVENTS.decode(msg.data)  # type: ignore[attr-defined]
        assert isinstance(event, EventDeadLettered)
        received.append(event)

    await client.subscribe(Subjects(subject_root).dlq("probe"), cb=on_message)
    await client.flush()
    return received


async def test_bus_client_keeps_reading_after_a_header_block_without_line_end(
    bus_config: GalFridayConfig,
) -> None:
    """The minimal reproduction: one ``HPUB`` whose header block is only ``NATS/1.0``."""
    bus_client = await connect(bus_config.nats, name="reader-test")
    try:
        received: list[bytes] = []

        async def on_message(msg: object) -> None:
            received.append(msg.data)  # type: ignore[attr-defined]

        await bus_client.subscribe("reader.test", cb=on_message)
        await bus_client.flush()

        await raw_publish(bus_config.nats.url, "reader.test", HEADER_LINE_ONLY, b"poison")
        await raw_publish(bus_config.nats.url, "reader.test", b"NATS/1.0\r\n\r\n", b"after")

        await eventually(lambda: b"after" in received)
        task = reader_task(bus_client)
        assert task is not None
        assert not task.done()
    finally:
        await bus_client.close()


async def test_malformed_header_block_on_a_core_subject_is_dead_lettered_and_health_answers(
    probe: tuple[ProbeActor, ActorRunner], client: Client, subject_root: str
) -> None:
    actor, runner = probe
    dead_letters = await dead_letter_inbox(client, subject_root)
    subjects = Subjects(subject_root)
    url = runner.config.nats.url

    await raw_publish(url, subjects.price("ETH/USD"), HEADER_LINE_ONLY, encode(quote("ETH/USD")))
    await client.publish(subjects.price("BTC/USD"), encode(quote("BTC/USD")))

    await eventually(lambda: len(actor.quotes) == 1 and len(dead_letters) == 1)
    assert actor.quotes[0].pair == "BTC/USD"
    assert "malformed header block" in dead_letters[0].reason
    reply = await client.request(subjects.service_endpoint("probe", "health"), b"", timeout=5)
    assert msgspec.json.decode(reply.data)["connected"] is True


async def test_stored_malformed_header_block_is_dead_lettered_once_not_redelivered(
    probe: tuple[ProbeActor, ActorRunner], client: Client, subject_root: str
) -> None:
    actor, runner = probe
    dead_letters = await dead_letter_inbox(client, subject_root)
    subjects = Subjects(subject_root)

    await raw_publish(
        runner.config.nats.url,
        subjects.batch_requested(),
        HEADER_LINE_ONLY,
        encode(batch("poison")),
    )
    await client.jetstream().publish(subjects.batch_requested(), encode(batch("after")))

    await eventually(lambda: len(actor.batches) == 1 and len(dead_letters) == 1)
    assert actor.batches == [("after", 1)]
    assert "malformed header block" in dead_letters[0].reason
    assert runner.health()["bus_reader"]["deaths"] == 0
    consumer = await client.jetstream().consumer_info(
        subjects.stream_name("orders"), subjects.durable_name("probe", "batches")
    )
    assert consumer.num_ack_pending == 0
    assert consumer.num_redelivered == 0


@pytest.mark.parametrize(
    "header_block",
    [
        pytest.param(b"NATS/1.0\r\nStatus: %s\r\n\r\n" % code, id=f"status-header-{code.decode()}")
        for code in (b"100", b"404", b"408", b"409", b"503")
    ]
    + [pytest.param(b"NATS/1.0 503\r\n\r\n", id="inline-status-503")],
)
async def test_stored_message_with_a_status_header_is_delivered_to_its_handler(
    probe: tuple[ProbeActor, ActorRunner], client: Client, subject_root: str, header_block: bytes
) -> None:
    """nats-py's pull fetch took a stored message's ``Status`` header for a server status
    (no messages, timeout, no responders …) and never returned the message."""
    actor, runner = probe
    subjects = Subjects(subject_root)

    await raw_publish(
        runner.config.nats.url, subjects.batch_requested(), header_block, encode(batch("status"))
    )
    await client.jetstream().publish(subjects.batch_requested(), encode(batch("after")))

    await eventually(lambda: len(actor.batches) == 2)
    assert sorted(actor.batches) == [("after", 1), ("status", 1)]


async def test_stored_message_with_headers_just_below_the_stream_limit_is_delivered(
    probe: tuple[ProbeActor, ActorRunner], client: Client, subject_root: str
) -> None:
    actor, _ = probe
    subjects = Subjects(subject_root)

    await client.jetstream().publish(
        subjects.batch_requested(), encode(batch("big")), headers={"Big": "x" * 60_000}
    )

    await eventually(lambda: len(actor.batches) == 1)
    assert actor.batches == [("big", 1)]


async def test_publishing_headers_a_stream_cannot_store_raises_instead_of_losing_the_event(
    probe: tuple[ProbeActor, ActorRunner],
) -> None:
    """JetStream refuses headers over 64 KiB; a core publish would never hear of it."""
    actor, _ = probe
    context = actor.context
    oversized = {"Big": "x" * 70_000}

    with pytest.raises(HeadersTooLargeError, match="header"):
        await context.publish(context.subjects.batch_requested(), batch("big"), headers=oversized)


async def test_watchdog_reconnects_a_plain_nats_py_client_whose_reader_died(
    bus_config: GalFridayConfig,
) -> None:
    """Defence in depth: whatever kills nats-py's read loop, the connection comes back."""
    plain = await nats.connect(bus_config.nats.url)
    watchdog = ReaderWatchdog(plain, WatchdogPolicy(check_every_s=0.05), on_give_up=lambda: None)
    watching = asyncio.create_task(watchdog.run())
    try:
        received: list[bytes] = []

        async def on_message(msg: object) -> None:
            received.append(msg.data)  # type: ignore[attr-defined]

        await plain.subscribe("reader.test", cb=on_message)
        await plain.flush()
        await raw_publish(bus_config.nats.url, "reader.test", HEADER_LINE_ONLY, b"poison")
        await eventually(lambda: watchdog.deaths == 1)

        await eventually(lambda: plain.is_connected and plain.stats["reconnects"] == 1)
        await plain.flush()  # the subscription is back on the server
        await raw_publish(bus_config.nats.url, "reader.test", b"NATS/1.0\r\n\r\n", b"after")
        await eventually(lambda: b"after" in received)
    finally:
        watching.cancel()
        await plain.close()


async def test_watchdog_gives_up_when_the_reader_keeps_dying(
    bus_config: GalFridayConfig,
) -> None:
    plain = await nats.connect(bus_config.nats.url)
    gave_up = asyncio.Event()
    policy = WatchdogPolicy(check_every_s=0.05, max_deaths=1, window_s=600)
    watchdog = ReaderWatchdog(plain, policy, on_give_up=gave_up.set)
    watching = asyncio.create_task(watchdog.run())
    try:
        await plain.subscribe("reader.test")
        await plain.flush()
        await raw_publish(bus_config.nats.url, "reader.test", HEADER_LINE_ONLY)
        await eventually(lambda: plain.is_connected and plain.stats["reconnects"] == 1)
        await plain.flush()  # the subscription is back on the server
        await raw_publish(bus_config.nats.url, "reader.test", HEADER_LINE_ONLY)

        await asyncio.wait_for(gave_up.wait(), 10)
        assert watchdog.deaths == 2
        await asyncio.wait_for(watching, 5)  # it stops watching once it has given up
    finally:
        watching.cancel()
        await plain.close()


async def test_actor_process_exits_non_zero_when_its_reader_cannot_be_kept_alive(
    bus_config: GalFridayConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """An unknown bug that kills the read loop again and again: run_actor drains and raises
    (the CLI exits 70) so a supervisor restarts the process, instead of it staying up deaf."""
    actor = ProbeActor()
    policy = WatchdogPolicy(check_every_s=0.05, max_deaths=0)
    running = asyncio.create_task(run_actor(actor, bus_config, watchdog=policy))
    caplog.set_level(logging.INFO, logger="bus.runtime")
    await eventually(lambda: any(r.msg.startswith("actor.started") for r in caplog.records))
    task = reader_task(actor.context.client)  # type: ignore[attr-defined]
    assert task is not None
    task.cancel()  # the read loop ends, the client still says it is connected

    with pytest.raises(ReaderUnrecoverableError):
        await asyncio.wait_for(running, 15)
