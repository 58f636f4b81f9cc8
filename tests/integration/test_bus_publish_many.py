"""``publish_durable_many`` against a real nats-server: every message stored, in order, with
its msg id (repeats deduplicated), acks awaited together; a message no stream takes fails it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from nats.aio.client import Client
from nats.js.errors import NoStreamResponseError

from bus import ActorRunner, Subjects
from bus.codec import EVENTS
from bus.jetstream import MSG_ID_HEADER
from bus.ports import BusContext
from schemas import GalFridayConfig
from schemas.events import OrderPlaced
from tests.support.probe_actor import ProbeActor

pytestmark = pytest.mark.nats


@pytest_asyncio.fixture
async def context(bus_config: GalFridayConfig) -> AsyncIterator[BusContext]:
    actor = ProbeActor()
    async with ActorRunner(actor, bus_config):
        yield actor.context


def _placed(index: int) -> OrderPlaced:
    return OrderPlaced(
        ts_event=1, ts_init=1, batch_id="many", index=index, pair="BTC/USD",
        cl_ord_id=f"c{index}", txid=f"O{index}", attempts=1,
    )  # fmt: skip


async def test_every_message_is_stored_in_order_with_its_msg_id(
    context: BusContext, client: Client, subject_root: str
) -> None:
    subject = Subjects(subject_root).order_event("placed")
    messages = [(subject, _placed(index), f"many:{index}:placed") for index in range(20)]
    acks = await context.publish_durable_many(messages)
    assert len(acks) == 20
    assert not any(getattr(ack, "duplicate", True) for ack in acks)
    stored = await client.jetstream().subscribe(subject, ordered_consumer=True)
    for index in range(20):
        msg = await stored.next_msg(timeout=5)
        assert EVENTS.decode(msg.data) == _placed(index)
        assert msg.headers is not None
        assert msg.headers[MSG_ID_HEADER] == f"many:{index}:placed"
    # Published again (a resumed batch): the stream keeps one copy of each.
    again = await context.publish_durable_many(messages[:3])
    assert all(getattr(ack, "duplicate", False) for ack in again)


async def test_a_message_no_stream_takes_fails_the_call(
    context: BusContext, subject_root: str
) -> None:
    stored = Subjects(subject_root).order_event("placed")
    nowhere = f"{subject_root}_no_stream.placed"
    with pytest.raises(NoStreamResponseError):
        await context.publish_durable_many(
            [(stored, _placed(0), "x:0"), (nowhere, _placed(1), "x:1")], timeout=2.0
        )
