"""The one base every bus message derives from."""

from __future__ import annotations

import msgspec

__all__ = ["Event", "Message"]


class Message(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """A tagged wire message. Subclasses set an explicit ``tag=`` that never changes."""


class Event(Message, frozen=True, kw_only=True):
    """Something that happened. Timestamps are int nanoseconds since the Unix epoch."""

    ts_event: int
    """When the thing happened (exchange time where known)."""
    ts_init: int
    """When this process created the event object."""
