"""An active/standby lease on one key of the KV bucket ``leases``.

The holder renews the key with compare-and-set on its revision every ``ttl/3``. A standby
takes the key over (compare-and-set on the revision it watched) once that revision has not
changed for ``ttl`` measured on the standby's OWN clock, so clock skew between hosts plays no
part: only durations, each measured by one clock, are compared.

The holder counts itself active only until ``RENEWED_VALID_FRACTION * ttl`` after its last
successful renewal (by its own clock): the standby started its ``ttl`` no earlier than that
renewal was stored, so a holder cut off from KV stops acting before anyone takes over.

A holder that stops cleanly writes an empty value: a standby takes that over at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from bus.ports import KeyValueStore

__all__ = ["RENEWED_VALID_FRACTION", "Lease"]

_LOGGER = logging.getLogger(__name__)
RENEWED_VALID_FRACTION = 0.8
# nats-py raises these; ``bus.testing.MemoryKeyValue`` raises KeyError / ValueError.
_ABSENT = (KeyNotFoundError, KeyError)
_CONFLICT = (KeyWrongLastSequenceError, ValueError)
_NS_PER_S = 1_000_000_000


@dataclass
class Lease:
    kv: KeyValueStore
    key: str
    holder: str
    """This instance's id, stored as the key's value while it holds the lease."""
    ttl_s: float
    clock: Callable[[], int]
    """Monotonic-enough local clock in ns; only differences of its own readings are used."""
    _revision: int | None = field(default=None, init=False)
    """The revision last written (holder) or last seen (standby)."""
    _since_ns: int = field(default=0, init=False)
    """Holder: when the last renewal succeeded. Standby: when ``_revision`` was first seen."""
    _holding: bool = field(default=False, init=False)
    takeovers: int = field(default=0, init=False)
    term: int = field(default=0, init=False)
    """The KV revision at which this instance last became the holder: grows with every
    takeover, so a deposed holder's writes rank below its successor's."""

    @property
    def ttl_ns(self) -> int:
        return int(self.ttl_s * _NS_PER_S)

    @property
    def renew_interval_s(self) -> float:
        return self.ttl_s / 3

    def active(self) -> bool:
        """Whether this instance may act as the active one right now."""
        valid_ns = int(self.ttl_ns * RENEWED_VALID_FRACTION)
        return self._holding and self.clock() - self._since_ns < valid_ns

    async def step(self) -> bool:
        """Renew (holder) or watch and maybe take over (standby); True when active after it."""
        try:
            if self._holding:
                await self._renew()
            else:
                await self._watch()
        except Exception as e:  # KV unavailable: a holder keeps its time-bounded validity
            _LOGGER.warning("lease.step_failed key=%s error=%s", self.key, type(e).__name__)
        return self.active()

    async def release(self) -> None:
        """Hand the lease over at once (clean stop): an empty value is free for anyone."""
        if not self._holding or self._revision is None:
            return
        self._holding = False
        try:
            await self.kv.update(self.key, b"", last=self._revision)
        except Exception as e:
            _LOGGER.warning("lease.release_failed key=%s error=%s", self.key, type(e).__name__)

    async def _renew(self) -> None:
        started_ns = self.clock()
        try:
            self._revision = await self.kv.update(
                self.key, self.holder.encode(), last=self._revision
            )
        except _CONFLICT:
            self._holding = False
            self._revision = None
            _LOGGER.warning("lease.lost key=%s holder=%s", self.key, self.holder)
            return
        self._since_ns = started_ns

    async def _watch(self) -> None:
        now_ns = self.clock()
        try:
            entry = await self.kv.get(self.key)
        except _ABSENT:
            await self._take(None, now_ns)
            return
        revision = int(entry.revision or 0)
        if not entry.value:  # released by a clean stop
            await self._take(revision, now_ns)
            return
        if revision != self._revision:
            self._revision = revision
            self._since_ns = now_ns
            return
        if now_ns - self._since_ns >= self.ttl_ns:
            await self._take(revision, now_ns)

    async def _take(self, revision: int | None, now_ns: int) -> None:
        try:
            if revision is None:
                self._revision = await self.kv.create(self.key, self.holder.encode())
            else:
                self._revision = await self.kv.update(self.key, self.holder.encode(), last=revision)
        except _CONFLICT:
            self._revision = None  # someone else was faster: watch the new revision
            return
        except _ABSENT:
            self._revision = None
            return
        self._holding = True
        self._since_ns = now_ns
        self.term = self._revision or 0
        self.takeovers += 1
        _LOGGER.info("lease.acquired key=%s holder=%s", self.key, self.holder)
