"""Errors raised by the bus package. One root, data-carrying subclasses."""

from __future__ import annotations

__all__ = ["BusError", "RequestFailedError"]


class BusError(Exception):
    """Root of every error the bus package raises."""


class RequestFailedError(BusError):
    """A request/reply call was answered with a service error (or not at all)."""

    def __init__(self, subject: str, code: str, description: str) -> None:
        super().__init__(f"request on {subject} failed: {code} {description}")
        self.subject = subject
        self.code = code
        self.description = description
