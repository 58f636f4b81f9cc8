"""An event log turned into NATS protocol bytes in one pass, for ``galfriday replay``.

A replay's cost is per record, so the loop keeps no object per record: each record is decoded,
its ``PUB`` line (the same bytes for every record of a subject and payload size) looked up, and
line, payload and line end appended to the block's buffer. Everything is checked before a byte
can be sent: a bad subject or header name, an undecodable or truncated record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from bus.eventlog import (
    _LENGTH,
    _READ_BLOCK,
    _SUBJECT_BREAKERS,
    MAGIC,
    EventLogError,
    _decoder,
    _header_block,
)

if TYPE_CHECKING:
    from nats.aio.client import Client

__all__ = ["WireLog", "encode_log", "publish_wire"]

_LINE_END = b"\r\n"


@dataclass(frozen=True, slots=True)
class WireLog:
    """A whole log as protocol bytes, in log order."""

    chunks: list[bytearray]
    """The ``PUB``/``HPUB`` lines of one read block (about 1 MiB) each."""
    count: int
    subjects: frozenset[str]
    """The recorded subjects (before ``target``)."""
    largest_payload: int
    has_headers: bool


_HEADER_START = b"NATS/1.0\r\n"
_NEWLINES = str.maketrans({"\r": " ", "\n": " "})
_KEY_CACHE_SIZE = 256
_header_prefixes: dict[str, bytes] = {}
"""Header name as recorded -> its checked ``Name: `` bytes (a log holds few names)."""


def _header_bytes(headers: dict[str, str]) -> bytes:
    """:func:`bus.eventlog._header_block`, with each header name checked once."""
    parts = [_HEADER_START]
    for raw_key, value in headers.items():
        prefix = _header_prefixes.get(raw_key)
        if prefix is None:
            if not raw_key.strip():
                continue
            prefix = _header_block({raw_key: ""})[len(_HEADER_START) : -4]  # checks the name
            if len(_header_prefixes) < _KEY_CACHE_SIZE:
                _header_prefixes[raw_key] = prefix
        text = value.strip()
        if "\r" in text or "\n" in text:
            text = text.translate(_NEWLINES)
        parts.append(prefix + text.encode() + b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def _checked_subject(subject: str) -> bytes:
    if not subject or _SUBJECT_BREAKERS.intersection(subject):
        raise ValueError(f"bad subject {subject!r}")
    return subject.encode()


def encode_log(path: str | Path, target: Callable[[str], str]) -> WireLog:
    """Every record of the log at ``path`` as the bytes publishing it on ``target(subject)``
    (asked once per recorded subject); raises :class:`EventLogError` naming a bad record."""
    decode = _decoder.decode
    unpack_from = _LENGTH.unpack_from
    header_size = _LENGTH.size
    line_end = _LINE_END
    pub_lines: dict[str, dict[int, bytes]] = {}
    """Recorded subject -> payload size -> its ``PUB`` line."""
    targets: dict[str, bytes] = {}
    chunks: list[bytearray] = []
    count = largest = 0
    has_headers = False
    with Path(path).open("rb") as file:
        if file.read(len(MAGIC)) != MAGIC:
            raise EventLogError(f"{path}: not a Gal Friday event log (bad magic)")
        buffer = b""
        while block := file.read(_READ_BLOCK):
            buffer = buffer + block if buffer else block
            offset, end = 0, len(buffer)
            last_header = end - header_size
            out = bytearray()
            try:
                while offset <= last_header:
                    (length,) = unpack_from(buffer, offset)
                    start = offset + header_size
                    stop = start + length
                    if stop > end:
                        break  # the rest of this record is in the next block
                    offset = stop
                    count += 1
                    record = decode(buffer[start:stop])
                    payload = record.payload
                    size = len(payload)
                    if size > largest:  # noqa: PLR1730 - per record: no call
                        largest = size
                    subject = record.subject
                    if record.headers:
                        encoded = targets.get(subject)
                        if encoded is None:
                            encoded = targets[subject] = _checked_subject(target(subject))
                        header = _header_bytes(record.headers)
                        has_headers = True
                        out += b"HPUB %b %d %d\r\n" % (encoded, len(header), len(header) + size)
                        out += header
                    else:
                        by_size = pub_lines.get(subject)
                        if by_size is None:
                            by_size = pub_lines[subject] = {}
                        line = by_size.get(size)
                        if line is None:
                            encoded = targets.get(subject)
                            if encoded is None:
                                encoded = targets[subject] = _checked_subject(target(subject))
                            line = by_size[size] = b"PUB %b %d\r\n" % (encoded, size)
                        out += line
                    out += payload
                    out += line_end
            except (msgspec.DecodeError, ValueError) as e:
                raise EventLogError(f"{path}: record {count}: {e}") from None
            chunks.append(out)
            buffer = buffer[offset:]
        if len(buffer) >= header_size:
            raise EventLogError(f"{path}: truncated record")
        if buffer:
            raise EventLogError(f"{path}: truncated record header")
    return WireLog(chunks, count, frozenset(targets), largest, has_headers)


async def publish_wire(client: Client, wire: WireLog) -> int:
    """Write an encoded log to a nats-py connection (``flush`` it after); returns how many
    records. The connection dropping midway raises instead of losing records silently."""
    if wire.largest_payload > client.max_payload:
        raise ValueError(
            f"a payload of {wire.largest_payload} bytes exceeds the server's maximum "
            f"({client.max_payload}): nothing was published"
        )
    for written, chunk in enumerate(wire.chunks):
        if not client.is_connected:
            raise ConnectionError(f"the NATS connection dropped after {written} blocks")
        await client._send_command(bytes(chunk))
        await client._flush_pending()
    return wire.count
