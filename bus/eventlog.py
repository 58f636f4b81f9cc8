"""Event-log files: every message on chosen subjects, recorded and played back.

Format (version 1): the 8-byte magic ``GFEVLOG1``, then records, each a 4-byte big-endian length
followed by a msgpack ``LogRecord`` (subject, headers, receive time in ns, raw payload). The
payload stays raw bytes, so a log replays exactly what was on the wire, bad messages included.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg

from bus.clock import Clock, ManualClock, system_clock

__all__ = [
    "EventLogError",
    "EventLogWriter",
    "LogRecord",
    "Recorder",
    "read_event_log",
    "replay",
]

MAGIC = b"GFEVLOG1"
_LENGTH = struct.Struct(">I")
_SECRET_HEADERS = frozenset({"api-sign", "api-key", "authorization"})


class EventLogError(ValueError):
    """The file is not an event log, or it is truncated."""


class LogRecord(msgspec.Struct, frozen=True, array_like=True):
    subject: str
    headers: dict[str, str]
    received_ns: int
    payload: bytes


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(LogRecord)


class EventLogWriter:
    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._file.write(MAGIC)
        self.count = 0

    def write(self, record: LogRecord) -> None:
        headers = {k: v for k, v in record.headers.items() if k.lower() not in _SECRET_HEADERS}
        data = _encoder.encode(msgspec.structs.replace(record, headers=headers))
        self._file.write(_LENGTH.pack(len(data)))
        self._file.write(data)
        self.count += 1

    def flush(self) -> None:
        self._file.flush()


def read_event_log(path: str | Path) -> Iterator[LogRecord]:
    with Path(path).open("rb") as file:
        if file.read(len(MAGIC)) != MAGIC:
            raise EventLogError(f"{path}: not a Gal Friday event log (bad magic)")
        while header := file.read(_LENGTH.size):
            if len(header) < _LENGTH.size:
                raise EventLogError(f"{path}: truncated record header")
            (length,) = _LENGTH.unpack(header)
            data = file.read(length)
            if len(data) < length:
                raise EventLogError(f"{path}: truncated record")
            yield _decoder.decode(data)


class Recorder:
    """Subscribe to subjects on a live connection and append every message to a log."""

    def __init__(
        self, client: Client, path: str | Path, subjects: Sequence[str], clock: Clock = system_clock
    ) -> None:
        self._client = client
        self._path = Path(path)
        self._patterns = list(subjects)
        self._clock = clock
        self._subscriptions: list[object] = []
        self._file: BinaryIO | None = None
        self.writer: EventLogWriter | None = None

    async def __aenter__(self) -> Recorder:
        self._file = self._path.open("wb")
        self.writer = EventLogWriter(self._file)
        writer = self.writer

        async def on_message(msg: Msg) -> None:
            writer.write(LogRecord(msg.subject, dict(msg.headers or {}), self._clock(), msg.data))

        for pattern in self._patterns:
            self._subscriptions.append(await self._client.subscribe(pattern, cb=on_message))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for subscription in self._subscriptions:
            await subscription.unsubscribe()  # type: ignore[attr-defined]
        if self._file is not None:
            self._file.close()


Deliver = Callable[[LogRecord], Awaitable[None]]


async def replay(
    records: Sequence[LogRecord] | Iterator[LogRecord],
    deliver: Deliver,
    *,
    paced: bool = False,
    clock: ManualClock | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> int:
    """Hand each record to ``deliver`` in order; returns how many were delivered.

    ``paced`` waits the recorded gaps between records; otherwise as fast as possible. A manual
    ``clock`` is moved to each record's receive time first, so handlers see recorded time.
    """
    count = 0
    previous_ns: int | None = None
    for record in records:
        if paced and previous_ns is not None and record.received_ns > previous_ns:
            await sleep((record.received_ns - previous_ns) / 1e9)
        previous_ns = record.received_ns
        if clock is not None:
            clock.set(record.received_ns)
        await deliver(record)
        count += 1
    return count
