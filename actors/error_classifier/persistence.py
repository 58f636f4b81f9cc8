"""Breaker state in the JetStream KV bucket ``breakers``, written with compare-and-set.

Two keys per scope:

- ``<scope>`` (e.g. ``kraken.public``): msgpack of the last :class:`CircuitBreakerStateChanged`.
  Other actors read it on start to learn the breaker states without waiting for a transition.
- ``snapshot.<scope>``: msgpack of the core's :class:`BreakerSnapshot` (open count, lockout,
  exchange-status hold …), which this actor restores on start.

A write never replaces a newer value (by ``ts_event``/``since_ns``) written by another instance.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import msgspec
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NoKeysError

from actors.error_classifier.circuit_breaker import BreakerSnapshot
from bus.codec import MESSAGES, encode
from bus.ports import KeyValueStore
from schemas.events import CircuitBreakerStateChanged

__all__ = ["SNAPSHOT_PREFIX", "BreakerStore", "snapshot_key"]

SNAPSHOT_PREFIX = "snapshot."
_CAS_ATTEMPTS = 8
_LOGGER = logging.getLogger(__name__)

# nats-py raises these; ``bus.testing.MemoryKeyValue`` raises KeyError / ValueError.
_ABSENT = (KeyNotFoundError, KeyError)
_CONFLICT = (KeyWrongLastSequenceError, ValueError)
_NewerCheck = Callable[[bytes], bool]


def snapshot_key(scope: str) -> str:
    return f"{SNAPSHOT_PREFIX}{scope}"


class BreakerStore:
    """``kv`` holds the state changes others read; ``snapshots`` (the bucket
    ``breaker_snapshots``) this actor's restore state, keyed by scope. Without ``snapshots``
    they go to ``kv`` under ``snapshot.<scope>``, the layout before issue 11, which is still
    read for old buckets."""

    def __init__(self, kv: KeyValueStore, snapshots: KeyValueStore | None = None) -> None:
        self._kv = kv
        self._snapshots = snapshots

    async def save_change(self, change: CircuitBreakerStateChanged) -> bool:
        """Store ``change`` under its scope; False when a newer change is already there."""

        def is_newer(current: bytes) -> bool:
            try:
                stored = MESSAGES.decode(current)
            except msgspec.DecodeError:
                return False
            return isinstance(stored, CircuitBreakerStateChanged) and (
                (stored.term, stored.ts_event) > (change.term, change.ts_event)
            )

        return await self._compare_and_set(change.scope, encode(change), is_newer)

    async def save_snapshot(
        self, snapshot: BreakerSnapshot, written_ns: int, term: int = 0
    ) -> bool:
        """Store the core's snapshot of one scope; ``term`` then ``written_ns`` order
        concurrent writers (see ``CircuitBreakerStateChanged.term``)."""
        stored_value = _StoredSnapshot(written_ns=written_ns, snapshot=snapshot, term=term)
        value = msgspec.msgpack.encode(stored_value)

        def is_newer(current: bytes) -> bool:
            stored = _decode_stored(current)
            return stored is not None and (stored.term, stored.written_ns) > (term, written_ns)

        if self._snapshots is not None:
            return await self._compare_and_set(snapshot.scope, value, is_newer, kv=self._snapshots)
        return await self._compare_and_set(snapshot_key(snapshot.scope), value, is_newer)

    async def load_snapshots(self) -> list[BreakerSnapshot]:
        """Every stored snapshot; a scope with only a state-change key is rebuilt from it."""
        try:
            keys = await self._kv.keys()
        except NoKeysError:
            return []
        snapshots: dict[str, BreakerSnapshot] = {}
        for key in sorted(keys):
            value = await self._value(key)
            if value is None:
                continue
            if key.startswith(SNAPSHOT_PREFIX):
                stored = _decode_stored(value)
                if stored is not None:
                    snapshots[stored.snapshot.scope] = stored.snapshot
                continue
            change = _decode_change(value)
            if change is not None and change.scope not in snapshots:
                snapshots[change.scope] = _snapshot_from_change(change)
        if self._snapshots is not None:
            try:
                own_keys = await self._snapshots.keys()
            except NoKeysError:
                own_keys = []
            for key in sorted(own_keys):
                own = await self._value(key, kv=self._snapshots)
                stored = None if own is None else _decode_stored(own)
                if stored is not None:
                    snapshots[stored.snapshot.scope] = stored.snapshot
        return list(snapshots.values())

    async def load_change(self, scope: str) -> CircuitBreakerStateChanged | None:
        value = await self._value(scope)
        return None if value is None else _decode_change(value)

    async def _value(self, key: str, kv: KeyValueStore | None = None) -> bytes | None:
        entry = await self._entry(key, kv or self._kv)
        return None if entry is None else entry[0]

    async def _entry(
        self, key: str, kv: KeyValueStore | None = None
    ) -> tuple[bytes | None, int | None] | None:
        try:
            entry = await (kv or self._kv).get(key)
        except _ABSENT:
            return None
        return entry.value, entry.revision

    async def _compare_and_set(
        self, key: str, value: bytes, is_newer: _NewerCheck, kv: KeyValueStore | None = None
    ) -> bool:
        bucket = kv or self._kv
        for _ in range(_CAS_ATTEMPTS):
            entry = await self._entry(key, bucket)
            try:
                if entry is None or entry[1] is None:
                    await bucket.create(key, value)
                    return True
                current, revision = entry
                if current and is_newer(current):
                    return False
                await bucket.update(key, value, last=revision)
                return True
            except _CONFLICT:
                continue  # someone wrote in between: re-read and decide again
        _LOGGER.warning("breaker_store.cas_gave_up key=%s attempts=%d", key, _CAS_ATTEMPTS)
        return False


class _StoredSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    written_ns: int
    snapshot: BreakerSnapshot
    term: int = 0


_STORED_DECODER = msgspec.msgpack.Decoder(_StoredSnapshot)


def _decode_stored(value: bytes) -> _StoredSnapshot | None:
    try:
        return _STORED_DECODER.decode(value)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _decode_change(value: bytes) -> CircuitBreakerStateChanged | None:
    try:
        message = MESSAGES.decode(value)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return message if isinstance(message, CircuitBreakerStateChanged) else None


def _snapshot_from_change(change: CircuitBreakerStateChanged) -> BreakerSnapshot:
    return BreakerSnapshot(
        scope=change.scope,
        state=change.state,
        since_ns=change.since_ns,
        reason=change.reason,
        retry_at_ns=change.retry_at_ns,
        open_count=change.open_count,
    )
