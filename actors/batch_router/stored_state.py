"""Reading control state (kill switch, breakers) from KV: ordered by revision, fail closed.

A KV read has three outcomes a router must tell apart: the key was never written (a known,
harmless state), a value (ordered by its KV revision, never by a timestamp its writer chose),
or nothing readable (the bucket is down, or the bytes are garbage), which callers treat as the
unsafe state. Unreadable values are reported once per key and revision, not on every refresh.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from nats.js.errors import KeyDeletedError, KeyNotFoundError

from bus.codec import EVENTS
from bus.ports import BusContext
from schemas import AnyEvent

__all__ = ["StoredRead", "StoredStateReader"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredRead:
    readable: bool
    revision: int
    """0 when the key was never written."""
    event: AnyEvent | None


class StoredStateReader:
    """Reads keys of one bucket; remembers which ones are unreadable, for health reports."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self.unreadable: set[str] = set()
        self._reported: set[tuple[str, object]] = set()
        self._written: set[str] = set()
        """Keys read with a revision: they can never again be "never written"."""

    async def read(self, context: BusContext, key: str) -> StoredRead:
        try:
            store = await context.key_value(self.bucket)
            entry = await store.get(key)
        except (KeyNotFoundError, KeyDeletedError) as e:
            marker = getattr(e, "entry", None)  # a delete/purge marker has a revision
            revision = int(getattr(marker, "revision", 0) or 0)
            if revision == 0 and key in self._written:
                # Written once, now without any history: the bucket was deleted or recreated,
                # and "never written" would be a guess.
                return self._unreadable(key, "vanished", "history gone (bucket deleted?)")
            self._readable(key)
            return StoredRead(readable=True, revision=revision, event=None)
        except Exception as e:
            return self._unreadable(key, type(e).__name__, f"read failed: {type(e).__name__}")
        revision = int(getattr(entry, "revision", 0) or 0)
        if revision > 0:
            self._written.add(key)
        value = getattr(entry, "value", None)
        if not value:  # a purge or delete marker: nothing stored
            self._readable(key)
            return StoredRead(readable=True, revision=revision, event=None)
        try:
            event = EVENTS.decode(value)
        except Exception as e:
            return self._unreadable(key, revision, f"revision {revision} undecodable: {e}")
        self._readable(key)
        return StoredRead(readable=True, revision=revision, event=event)

    def _readable(self, key: str) -> None:
        self.unreadable.discard(f"{self.bucket}/{key}")

    def _unreadable(self, key: str, occurrence: object, why: str) -> StoredRead:
        name = f"{self.bucket}/{key}"
        self.unreadable.add(name)
        if (key, occurrence) not in self._reported:
            self._reported.add((key, occurrence))
            _log.warning("state.unreadable key=%s %s (failing closed)", name, why[:200])
        return StoredRead(readable=False, revision=-1, event=None)
