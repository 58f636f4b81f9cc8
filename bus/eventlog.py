"""Event-log files: every message on chosen subjects, recorded and played back.

Format (version 1): the 8-byte magic ``GFEVLOG1``, then records, each a 4-byte big-endian length
followed by a msgpack ``LogRecord`` (subject, headers, receive time in ns, raw payload). The
payload stays raw bytes, so a log replays exactly what was on the wire, bad messages included.
"""

from __future__ import annotations

import re
import struct
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import msgspec

if TYPE_CHECKING:  # nats-py (and the aiohttp it imports) costs a replay ~0.4 s to import;
    # asyncio (bus.clock) another 50 ms, which a replay over a plain socket does not need
    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from bus.clock import Clock, ManualClock

__all__ = [
    "EventLogError",
    "EventLogWriter",
    "LogRecord",
    "Recorder",
    "publish_records",
    "read_event_log",
    "replay",
]

MAGIC = b"GFEVLOG1"
_LENGTH = struct.Struct(">I")
_SECRET_HEADERS = frozenset({"api-sign", "api-key", "authorization"})


class EventLogError(ValueError):
    """The file is not an event log, or it is truncated."""


class LogRecord(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """``gc=False``: a record (strings, bytes, a dict of strings) can never be part of a
    reference cycle, and a replay holding a million of them must not pay collector passes."""

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


_READ_BLOCK = 1 << 20


def read_event_log(path: str | Path) -> Iterator[LogRecord]:
    """The records of a log, in order, read a block (1 MiB) at a time."""
    decode = _decoder.decode
    unpack_from = _LENGTH.unpack_from
    header_size = _LENGTH.size
    with Path(path).open("rb") as file:
        if file.read(len(MAGIC)) != MAGIC:
            raise EventLogError(f"{path}: not a Gal Friday event log (bad magic)")
        buffer = b""
        while block := file.read(_READ_BLOCK):
            buffer = buffer + block if buffer else block
            view = memoryview(buffer)
            offset, end = 0, len(buffer)
            while offset + header_size <= end:
                (length,) = unpack_from(buffer, offset)
                start = offset + header_size
                if start + length > end:
                    break  # the rest of this record is in the next block
                yield decode(view[start : start + length])
                offset = start + length
            view.release()
            buffer = buffer[offset:]
        if len(buffer) >= header_size:
            raise EventLogError(f"{path}: truncated record")
        if buffer:
            raise EventLogError(f"{path}: truncated record header")


class Recorder:
    """Subscribe to subjects on a live connection and append every message to a log."""

    def __init__(
        self, client: Client, path: str | Path, subjects: Sequence[str], clock: Clock = time.time_ns
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
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> int:
    """Hand each record to ``deliver`` in order; returns how many were delivered.

    ``paced`` waits the recorded gaps between records; otherwise as fast as possible. A manual
    ``clock`` is moved to each record's receive time first, so handlers see recorded time.
    """
    if sleep is None:
        import asyncio

        sleep = asyncio.sleep
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


_PUBLISH_BATCH = 2048
"""Records whose protocol lines go to nats-py in one write."""
_HEADER_LINE = b"NATS/1.0\r\n"
_NEWLINES = str.maketrans({"\r": " ", "\n": " "})
_HEADER_KEY = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""What nats-py accepts as a header name (RFC 7230 token characters)."""
_SUBJECT_BREAKERS = frozenset(" \t\r\n")


def _header_block(headers: dict[str, str]) -> bytes:
    """NATS header bytes as nats-py writes them (keys checked, line breaks in values blanked)."""
    lines = [_HEADER_LINE]
    for raw_key, value in headers.items():
        key = raw_key.strip()
        if not key:
            continue
        if not _HEADER_KEY.fullmatch(key):
            raise ValueError(f"bad header name {key!r}")
        lines.append(f"{key}: {value.strip().translate(_NEWLINES)}\r\n".encode())
    lines.append(b"\r\n")
    return b"".join(lines)


def _line_templates(subject: str) -> tuple[bytes, bytes]:
    """``PUB``/``HPUB`` protocol-line templates for one subject, checked once."""
    if not subject or _SUBJECT_BREAKERS.intersection(subject):
        raise ValueError(f"bad subject {subject!r}")
    encoded = subject.encode()
    return b"PUB " + encoded + b" %d\r\n%b\r\n", b"HPUB " + encoded + b" %d %d\r\n%b%b\r\n"


async def publish_records(
    client: Client, records: Sequence[LogRecord], subjects: Mapping[str, str] | None = None
) -> int:
    """Publish every record (its payload and headers, on ``subjects[record.subject]`` when
    given, else its own subject) as fast as the connection takes them; returns how many.

    A replay's cost is per message, so the work per record is kept to one dict look-up and
    one bytes format: subjects are checked once each, and the protocol lines of a few
    thousand messages go to nats-py as one write instead of one ``publish`` call each. With
    a nats-py lacking that internal entry point, it falls back to ``publish`` per record.
    """
    send = getattr(client, "_send_command", None)
    flush = getattr(client, "_flush_pending", None)
    if send is None or flush is None:
        for record in records:
            subject = subjects[record.subject] if subjects is not None else record.subject
            await client.publish(subject, record.payload, headers=record.headers or None)
        return len(records)
    max_payload = client.max_payload
    templates: dict[str, tuple[bytes, bytes]] = {}
    for start in range(0, len(records), _PUBLISH_BATCH):
        if client.is_closed:
            raise ConnectionError(f"the NATS connection closed after {start} records")
        if not client.is_connected:  # reconnecting: nats-py's own publish bounds the buffer
            for record in records[start : start + _PUBLISH_BATCH]:
                subject = subjects[record.subject] if subjects is not None else record.subject
                await client.publish(subject, record.payload, headers=record.headers or None)
            continue
        lines: list[bytes] = []
        append = lines.append
        for record in records[start : start + _PUBLISH_BATCH]:
            template = templates.get(record.subject)
            if template is None:
                target = subjects[record.subject] if subjects is not None else record.subject
                template = templates[record.subject] = _line_templates(target)
            payload = record.payload
            size = len(payload)
            if size > max_payload:
                raise ValueError(f"{record.subject}: {size} bytes exceed the server's maximum")
            if record.headers:
                header = _header_block(record.headers)
                append(template[1] % (len(header), len(header) + size, header, payload))
            else:
                append(template[0] % (size, payload))
        await send(b"".join(lines))
        await flush()
    return len(records)
