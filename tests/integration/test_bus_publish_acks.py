"""Pipelined JetStream acks against a real nats-server: each answer reaches its own publish —
stored, a duplicate, the stream's refusal, no stream at all — and a refusal is reported as
such at once, not as a timeout."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client
from nats.js.api import StreamConfig
from nats.js.errors import APIError, NoStreamResponseError

from bus.jetstream import MSG_ID_HEADER
from bus.publish_acks import PublishAcks

pytestmark = pytest.mark.nats

_EXPECTED_STREAM_HEADER = "Nats-Expected-Stream"
_WRONG_EXPECTED_STREAM = 10060
"""JetStream's ``err_code`` for a message whose expected stream is not the one storing it."""


async def _stream(client: Client, root: str) -> str:
    name = f"ACKS_{root}"
    await client.jetstream().add_stream(StreamConfig(name=name, subjects=[f"{root}.acks.>"]))
    return name


async def test_each_ack_answers_its_own_publish(client: Client, subject_root: str) -> None:
    stream = await _stream(client, subject_root)
    acks = PublishAcks(client)
    futures = [
        await acks.publish(f"{subject_root}.acks.{index % 3}", b"x", {MSG_ID_HEADER: f"m{index}"})
        for index in range(30)
    ]
    repeat = await acks.publish(f"{subject_root}.acks.0", b"x", {MSG_ID_HEADER: "m7"})
    answers = await asyncio.wait_for(asyncio.gather(*futures, repeat), 5)
    assert [answer.seq for answer in answers[:30]] == list(range(1, 31))
    assert {answer.stream for answer in answers} == {stream}
    assert not any(answer.duplicate for answer in answers[:30])
    assert answers[30].duplicate
    assert answers[30].seq == 8  # the stored copy's sequence
    assert acks.waiting == 0


async def test_a_refusal_is_reported_at_once_not_as_a_timeout(
    client: Client, subject_root: str
) -> None:
    await _stream(client, subject_root)
    acks = PublishAcks(client)
    refused = await acks.publish(
        f"{subject_root}.acks.1", b"x", {_EXPECTED_STREAM_HEADER: "SOMEWHERE_ELSE"}
    )
    stored = await acks.publish(f"{subject_root}.acks.1", b"y")
    with pytest.raises(APIError) as raised:
        await asyncio.wait_for(refused, 2)
    assert raised.value.err_code == _WRONG_EXPECTED_STREAM
    assert (await asyncio.wait_for(stored, 2)).seq == 1  # the refused one took no sequence


async def test_a_subject_no_stream_takes_fails_with_no_stream(
    client: Client, subject_root: str
) -> None:
    acks = PublishAcks(client)
    nowhere = await acks.publish(f"{subject_root}.nowhere", b"x")
    with pytest.raises(NoStreamResponseError):
        await asyncio.wait_for(nowhere, 2)
