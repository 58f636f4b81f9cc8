"""Errors raised by the bus package. One root, data-carrying subclasses."""

from __future__ import annotations

__all__ = [
    "BusError",
    "HeadersTooLargeError",
    "ReaderUnrecoverableError",
    "RequestFailedError",
    "WorkHandedOver",
]


class BusError(Exception):
    """Root of every error the bus package raises."""


class RequestFailedError(BusError):
    """A request/reply call was answered with a service error (or not at all)."""

    def __init__(self, subject: str, code: str, description: str) -> None:
        super().__init__(f"request on {subject} failed: {code} {description}")
        self.subject = subject
        self.code = code
        self.description = description


class HeadersTooLargeError(BusError):
    """Headers larger than a stream can store: the server would drop a core publish silently."""

    def __init__(self, subject: str, size: int, limit: int) -> None:
        super().__init__(f"headers of {size} bytes on {subject} exceed the {limit}-byte limit")
        self.subject = subject
        self.size = size
        self.limit = limit


class ReaderUnrecoverableError(BusError):
    """The NATS client's read loop kept dying: the process should exit and be restarted."""

    def __init__(self, deaths: int) -> None:
        super().__init__(f"the bus reader died {deaths} times; giving up")
        self.deaths = deaths


class WorkHandedOver(BusError):
    """Raised by a handler whose work now belongs to another instance (it lost the work's
    lease). The message is left alone — no ack, no nak, not a handler failure: the new owner
    holds its delivery."""
