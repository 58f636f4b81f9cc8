"""Client-supplied ``cl_ord_id`` values executed once, in a NATS KV bucket.

Kraken keeps a ``cl_ord_id`` unique only among open orders: once an order fills, the same id is
accepted again, and a later look-up by it could find the old order. So a client id that an
earlier batch already used is refused before anything reaches the exchange. One record per id
(key: the id, base64url) names the batch run that took it; it is written with a KV *create*,
which is atomic, so of two routers taking the same id at once exactly one wins. A record older
than ``execution.batch_id_retention_days`` no longer blocks the id (replaced by
compare-and-set). The run that took an id finds its own record again when it resumes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import msgspec

from actors.batch_router.batch_claims import claim_key
from bus.ports import KeyValueStore

__all__ = ["ClientIdClaims", "ClientIdRecord", "ClientIdsUnavailable"]

_NS = 1_000_000_000


class ClientIdRecord(msgspec.Struct, frozen=True, kw_only=True):
    cl_ord_id: str
    batch_id: str
    run_id: str
    index: int
    claimed_ns: int


class ClientIdsUnavailable(Exception):
    """The bucket could not say whether an id is free: nothing may be sent with it."""


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(ClientIdRecord)


class ClientIdClaims:
    """Takes client ids for one run of one batch (the processor's ``ClientIdRegistry``)."""

    def __init__(
        self,
        store: KeyValueStore,
        *,
        batch_id: str,
        run_id: str,
        clock: Callable[[], int],
        retention_s: float,
    ) -> None:
        self._store = store
        self._batch_id = batch_id
        self._run_id = run_id
        self._clock = clock
        self._retention_ns = int(retention_s * _NS)

    async def claim(self, cl_ord_ids: Mapping[int, str]) -> dict[int, str]:
        """Take every id (order index → id); answers index → reason for each id another batch
        run holds. Raises :class:`ClientIdsUnavailable` when the bucket cannot tell."""
        indices = list(cl_ord_ids)
        answers = await asyncio.gather(
            *(self._claim_one(index, cl_ord_ids[index]) for index in indices)
        )
        return {index: reason for index, reason in zip(indices, answers, strict=True) if reason}

    async def _claim_one(self, index: int, cl_ord_id: str) -> str | None:
        key = claim_key(cl_ord_id)
        mine = ClientIdRecord(
            cl_ord_id=cl_ord_id,
            batch_id=self._batch_id,
            run_id=self._run_id,
            index=index,
            claimed_ns=self._clock(),
        )
        encoded = _ENCODER.encode(mine)
        for _ in range(3):
            try:
                await self._store.create(key, encoded)
                return None
            except Exception:  # exists (or the bus failed): the record decides
                pass
            held, revision = await self._read(key)
            if held is None:
                continue  # deleted or expired meanwhile: create again
            if held.batch_id == self._batch_id and held.run_id == self._run_id:
                return None  # this run took it before (a resume, a redelivery)
            if self._clock() - held.claimed_ns <= self._retention_ns:
                return (
                    f"duplicate_cl_ord_id: {cl_ord_id!r} was used by batch {held.batch_id!r}; "
                    "a client cl_ord_id is executed once, nothing was sent"
                )
            try:  # older than the retention: the id is free again
                await self._store.update(key, encoded, last=revision)
                return None
            except Exception:  # taken concurrently: look again
                continue
        raise ClientIdsUnavailable(f"cl_ord_id {cl_ord_id!r}: could not be claimed")

    async def _read(self, key: str) -> tuple[ClientIdRecord | None, int | None]:
        try:
            entry = await self._store.get(key)
        except Exception as e:
            if (
                isinstance(e, KeyError)
                or "NotFound" in type(e).__name__
                or "Deleted" in type(e).__name__
            ):
                return None, None
            raise ClientIdsUnavailable(f"client id bucket: {e!r}") from e
        value = getattr(entry, "value", None)
        if not value:
            return None, getattr(entry, "revision", None)
        try:
            return _DECODER.decode(value), entry.revision
        except msgspec.DecodeError as e:
            raise ClientIdsUnavailable(f"client id record {key!r} unreadable") from e
