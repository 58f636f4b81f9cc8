"""A nats-py client that keeps reading when a publisher sends headers nats-py mishandles.

Two hooks, both checked against nats-py 2.16.0 (the newest release; 2.9 and 2.11 behave the same):

* ``_process_headers`` (private) raises ``IndexError`` on a header block that is only
  ``NATS/1.0``, and the exception ends the client's read loop for good while the client still
  reports itself connected (docs/nats-py-header-indexerror.md). Here any exception while parsing
  a header block yields ``{MALFORMED_HEADERS_HEADER: reason}`` instead, so the message is
  delivered and the dispatcher dead-letters it.
* ``msg_class`` (a public class attribute): nats-py's JetStream fetch tells server status
  messages (404 no messages, 408 timeout, 100 heartbeat, 503 …) from data by a ``Status`` header
  alone, so a stored message carrying one was swallowed or turned into an error and never
  returned. A message delivered by a consumer has a ``$JS.ACK.`` reply subject and is never a
  status message; its ``Status`` header is moved to ``STORED_STATUS_HEADER``.
"""

from __future__ import annotations

from dataclasses import dataclass

from nats.aio.client import Client
from nats.aio.msg import Msg

__all__ = ["MALFORMED_HEADERS_HEADER", "STORED_STATUS_HEADER", "HardenedClient"]

MALFORMED_HEADERS_HEADER = "Gal-Friday-Malformed-Headers"
"""Set (by the client, never by a publisher of ours) on a message whose header block nats-py
could not parse; its value says why."""
STORED_STATUS_HEADER = "Gal-Friday-Stored-Status"
"""A stored message's own ``Status`` header, renamed so JetStream fetch returns the message."""

_STATUS = "Status"
_CONSUMER_DELIVERY_PREFIX = "$JS.ACK."


@dataclass
class _StatusSafeMsg(Msg):
    def __post_init__(self) -> None:
        headers = self.headers
        if headers and _STATUS in headers and self.reply.startswith(_CONSUMER_DELIVERY_PREFIX):
            headers[STORED_STATUS_HEADER] = headers.pop(_STATUS)


class HardenedClient(Client):
    msg_class = _StatusSafeMsg

    async def _process_headers(self, headers: bytes) -> dict[str, str] | None:
        try:
            parsed: dict[str, str] | None = await super()._process_headers(headers)
        except Exception as e:  # any escape here would end the read loop
            return {MALFORMED_HEADERS_HEADER: f"{type(e).__name__}: {e}"[:200]}
        return parsed
