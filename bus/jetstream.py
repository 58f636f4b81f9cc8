"""JetStream topology: the streams and KV buckets of DESIGN.md, created or updated idempotently.

Request/reply subjects (price and status queries, verdicts) are deliberately outside every
stream: a stream capturing a request subject would answer the requester with a PubAck.
"""

from __future__ import annotations

from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType, StreamConfig
from nats.js.errors import BadRequestError, BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from bus.subjects import Subjects

__all__ = [
    "BATCHES_BUCKET",
    "BREAKERS_BUCKET",
    "BREAKER_SNAPSHOTS_BUCKET",
    "CLIENT_IDS_BUCKET",
    "CONTROL_BUCKET",
    "EXCHANGE_STATUS_BUCKET",
    "LEASES_BUCKET",
    "MSG_ID_HEADER",
    "StreamSpec",
    "ensure_key_value",
    "ensure_topology",
    "stream_specs",
]

MSG_ID_HEADER = "Nats-Msg-Id"
BREAKERS_BUCKET = "breakers"
CONTROL_BUCKET = "control"
BREAKER_SNAPSHOTS_BUCKET = "breaker_snapshots"
"""The error classifier's own restore state, apart from ``breakers`` that others read."""
EXCHANGE_STATUS_BUCKET = "exchange_status"
"""The current status per exchange (key: exchange id), last value wins: status is state."""
LEASES_BUCKET = "leases"
"""Active/standby leases (key: actor name); see ``actors.error_classifier.lease``."""
BATCHES_BUCKET = "batches"
"""Batch ids ever executed, with their run and ownership lease (the batch router's)."""
CLIENT_IDS_BUCKET = "client_ids"
"""Client-supplied ``cl_ord_id`` values ever executed, with the batch that took each."""
BATCHES_TTL_S = 365 * 86_400.0
"""Storage bound of a batch id record; the router's own retention is at most this."""

_MINUTE = 60.0
_DAY = 86_400.0


@dataclass(frozen=True)
class StreamSpec:
    kind: str
    subjects: tuple[str, ...]
    max_age_s: float
    duplicate_window_s: float = 2 * _MINUTE
    max_msgs_per_subject: int = -1


def stream_specs(subjects: Subjects) -> tuple[StreamSpec, ...]:
    return (
        # Short retention: prices are re-published many times a second; this is for replay only.
        StreamSpec("prices", (subjects.price_all(),), 15 * _MINUTE, max_msgs_per_subject=10_000),
        StreamSpec(
            "market",
            (
                subjects.stale_all(),
                subjects.volatility_all(),
                subjects.session(),
                subjects.exchange_status(),
            ),
            7 * _DAY,
        ),
        StreamSpec(
            "orders",
            (
                subjects.batch_requested(),
                subjects.batch_completed(),
                subjects.batch_rejected(),
                subjects.order_events_all(),
            ),
            30 * _DAY,
            duplicate_window_s=10 * _MINUTE,
        ),
        StreamSpec("kraken", (subjects.kraken_calls_all(),), _DAY),
        StreamSpec("breakers", (subjects.breakers_all(), subjects.kill_switch()), 30 * _DAY),
        StreamSpec("errors", (subjects.error_statistics(),), 7 * _DAY),
        StreamSpec("dlq", (subjects.dlq_all(),), 30 * _DAY),
    )


async def ensure_topology(
    js: JetStreamContext, subjects: Subjects, *, replicas: int | None = None
) -> None:
    """Create each stream, or update it to the current spec; then the KV buckets.

    ``replicas`` (``nats.stream_replicas``) sets how many cluster nodes keep each stream and
    bucket; ``None`` (commands that only publish) keeps what exists and creates with 1.
    """
    for spec in stream_specs(subjects):
        config = StreamConfig(
            name=subjects.stream_name(spec.kind),
            subjects=list(spec.subjects),
            max_age=spec.max_age_s,
            duplicate_window=spec.duplicate_window_s,
            max_msgs_per_subject=spec.max_msgs_per_subject,
            storage=StorageType.FILE,
            num_replicas=replicas or 1,
        )
        try:
            existing = await js.stream_info(config.name)  # type: ignore[arg-type]
        except NotFoundError:
            try:
                await js.add_stream(config)
                continue
            except BadRequestError:
                existing = await js.stream_info(config.name)  # type: ignore[arg-type]
        if replicas is None:
            config.num_replicas = existing.config.num_replicas
        await js.update_stream(config)
    for kind in (
        BREAKERS_BUCKET,
        CONTROL_BUCKET,
        BREAKER_SNAPSHOTS_BUCKET,
        EXCHANGE_STATUS_BUCKET,
        LEASES_BUCKET,
    ):
        await ensure_key_value(js, subjects.bucket_name(kind), replicas=replicas or 1)
    for kind in (BATCHES_BUCKET, CLIENT_IDS_BUCKET):
        await ensure_key_value(
            js, subjects.bucket_name(kind), replicas=replicas or 1, ttl_s=BATCHES_TTL_S
        )


async def ensure_key_value(
    js: JetStreamContext, bucket: str, *, replicas: int = 1, ttl_s: float = 0.0
) -> KeyValue:
    """The bucket, created with ``replicas`` (and entries expiring after ``ttl_s`` when > 0) if
    missing; an existing one is left as it is."""
    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        try:
            return await js.create_key_value(
                KeyValueConfig(bucket=bucket, history=5, replicas=replicas, ttl=ttl_s or None)
            )
        except BadRequestError:
            return await js.key_value(bucket)
