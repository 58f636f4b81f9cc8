"""One process per Kraken API key, enforced at start through a lease in NATS KV.

Kraken wants nonces strictly increasing per key, and two processes signing with one key send
requests that can arrive out of order: ``EAPI:Invalid nonce``, which counts toward the trading
breaker and risks a ban (KRAKEN.md §1.3, "use one API key per process"). Within a process the
nonce floor and the per-key send lock already make the order right. Across processes a shared
nonce authority would have to serialize every private call through NATS; instead each router
holds its key's lease (the key's SHA-256 fingerprint, never the key) and a second process
offering the same key refuses to start with a configuration error. Several routers therefore
run with one key each.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable

import msgspec
from nats.js.errors import BadRequestError, KeyWrongLastSequenceError

from bus.ports import KeyValueStore

__all__ = ["ApiKeyInUse", "ApiKeyLease", "Inherited", "key_fingerprint"]


def _never_held(error: Exception) -> bool:
    """A get that failed because the key has no value (never written, deleted, purged)."""
    name = type(error).__name__
    return isinstance(error, KeyError) or "NotFound" in name or "Deleted" in name


_log = logging.getLogger(__name__)
_NS = 1_000_000_000


class ApiKeyInUse(RuntimeError):
    """Another live process holds this API key."""


class Inherited(msgspec.Struct, frozen=True, kw_only=True):
    """What a process that held the key leaves in its lease record for the next one."""

    trading_levels: dict[str, float] = msgspec.field(default_factory=dict)
    """Its trading counters, per pair, at ``written_ns``: Kraken's stood there too."""
    written_ns: int = 0
    call_level: float = 0.0
    """Its REST call counter at ``written_ns``."""
    nonce_floor: int = 0
    """The last nonce it had signed by then: Kraken refuses any nonce not above it."""


class _Holder(Inherited, frozen=True, kw_only=True):
    """The lease record: who holds the key until when, and what it leaves behind."""

    owner: str
    lease_until_ns: int


def key_fingerprint(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()[:32]


class ApiKeyLease:
    def __init__(
        self,
        store: KeyValueStore,
        api_key: str,
        *,
        owner: str,
        clock: Callable[[], int],
        lease_s: float,
        trading_levels: Callable[[], dict[str, float]] = dict,
        call_level: Callable[[], float] = float,
        nonce_floor: Callable[[], int] = int,
    ) -> None:
        """``trading_levels`` and ``call_level`` answer this process's trading counters and
        REST call counter, ``nonce_floor`` the last nonce it signed; all are written with every
        renewal so that a successor on the key can pace from where the counters stood and sign
        above that nonce, whatever its clock says."""
        self._store = store
        self._trading_levels = trading_levels
        self._call_level = call_level
        self._nonce_floor = nonce_floor
        self.inherited: Inherited | None = None
        """Set when the lease was taken over from another process's record."""
        self._key = f"apikey.{key_fingerprint(api_key)}"
        self._owner = owner
        self._clock = clock
        self._lease_ns = int(lease_s * _NS)
        self._lease_s = lease_s
        self._revision: int | None = None
        self._last_error: str | None = None

    async def acquire(self) -> None:
        """Take the key's lease. A crashed holder's lease runs out within ``lease_s``, so a
        held key is waited for up to twice that; still renewed then, the holder is alive:
        raise :class:`ApiKeyInUse`."""
        give_up = self._clock() + 2 * self._lease_ns
        while True:
            holder = await self._try_acquire()
            if holder is None:
                return
            if self._clock() >= give_up:
                if self._last_error is not None:  # not a rival: the bucket refused us
                    raise ApiKeyInUse(
                        f"cannot take the API-key lease in the control bucket: {self._last_error}"
                    )
                raise ApiKeyInUse(
                    f"the Kraken API key is in use by {holder} (nonces of two processes on one "
                    "key collide: EAPI:Invalid nonce); give each router its own KRAKEN_API_KEY"
                )
            await asyncio.sleep(self._lease_s / 3)

    async def _try_acquire(self) -> str | None:
        """``None`` once the lease is ours, else the live holder's name."""
        try:
            entry = await self._store.get(self._key)
        except Exception as e:
            if not _never_held(e):
                # The bucket did not answer (a stalled link, say): nothing is known about a
                # holder, so none is named; creating now could only collide with our own.
                self._last_error = f"{type(e).__name__}: {e}"
                return "another process"
            entry = None
        value = getattr(entry, "value", None)
        encoded = self._record()
        try:
            if not value:
                self._revision = await self._store.create(self._key, encoded)
                return None
            holder = msgspec.msgpack.decode(value, type=_Holder)
            if holder.owner != self._owner and holder.lease_until_ns > self._clock():
                return holder.owner
            self._revision = await self._store.update(self._key, encoded, last=entry.revision)
            if holder.owner != self._owner and holder.written_ns:
                self.inherited = holder
        except ApiKeyInUse:
            raise
        except (KeyWrongLastSequenceError, BadRequestError, ValueError):  # taken concurrently
            self._last_error = None
            return "another process"
        except Exception as e:  # permissions, timeouts: say so if it lasts
            self._last_error = f"{type(e).__name__}: {e}"
            return "another process"
        self._last_error = None
        return None

    def _record(self, *, ended: bool = False) -> bytes:
        now = self._clock()
        # Ended reads as ended on any host's clock, however far behind ours.
        lease_until_ns = 0 if ended else now + self._lease_ns
        mine = _Holder(
            owner=self._owner,
            lease_until_ns=lease_until_ns,
            trading_levels=self._trading_levels(),
            written_ns=now,
            call_level=self._call_level(),
            nonce_floor=self._nonce_floor(),
        )
        return msgspec.msgpack.encode(mine)

    async def release(self) -> None:
        """Hand the key over now (a graceful stop, after this process's last Kraken call):
        the record says the lease has ended, with the counters and the nonce as they stand, so
        a successor starts at once instead of waiting the lease out, paces from exact levels
        and signs above our last nonce even if its clock is behind ours. Only over our own
        revision: a lease already taken over is left alone."""
        if self._revision is None:
            return
        try:
            await self._store.update(self._key, self._record(ended=True), last=self._revision)
        except Exception as e:  # taken over, or the bus is down: a successor waits it out
            _log.warning("apikey.lease_release_failed error=%r", e)
            return
        self._revision = None

    async def keep(self) -> None:
        """Renew every third of the lease, for as long as the process runs."""
        while True:
            await asyncio.sleep(self._lease_s / 3)
            try:
                self._revision = await self._store.update(
                    self._key, self._record(), last=self._revision
                )
            except Exception as e:  # bus down: retried next round; a rival cannot start meanwhile
                _log.warning("apikey.lease_renew_failed error=%r", e)
                await self._reacquire()

    async def _reacquire(self) -> None:
        try:
            await self.acquire()
        except ApiKeyInUse as e:
            if self._last_error is not None:
                # Our renewals could not reach the bucket: nobody else is known to hold the key.
                _log.warning(
                    "apikey.lease_unconfirmed reason=control_bucket_unreachable error=%s "
                    "(still trying; a second process on this key cannot start while the "
                    "lease is unreadable)",
                    self._last_error,
                )
            else:
                _log.error("apikey.lease_lost error=%s", e)
        else:
            _log.info("apikey.lease_renewed owner=%s", self._owner)
