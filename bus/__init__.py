"""NATS plumbing: subjects, codec, connection, JetStream topology, the actor runtime, telemetry,
event logs and an in-memory bus for tests. Knows nothing about Kraken or trading."""

from bus.actor import Actor, Delivery, JetStreamConsumer, Subscription
from bus.clock import Clock, ManualClock, Sleep, system_clock
from bus.codec import EVENTS, MESSAGES, Codec, encode
from bus.connection import ConnectionEvents, connect
from bus.context import ActorContext
from bus.errors import BusError, RequestFailedError
from bus.eventlog import EventLogError, LogRecord, Recorder, read_event_log, replay
from bus.jetstream import ensure_topology
from bus.ports import BusContext
from bus.runtime import ActorRunner, run_actor
from bus.subjects import Subjects, pair_token

__all__ = [
    "EVENTS",
    "MESSAGES",
    "Actor",
    "ActorContext",
    "ActorRunner",
    "BusContext",
    "BusError",
    "Clock",
    "Codec",
    "ConnectionEvents",
    "Delivery",
    "EventLogError",
    "JetStreamConsumer",
    "LogRecord",
    "ManualClock",
    "Recorder",
    "RequestFailedError",
    "Sleep",
    "Subjects",
    "Subscription",
    "connect",
    "encode",
    "ensure_topology",
    "pair_token",
    "read_event_log",
    "replay",
    "run_actor",
    "system_clock",
]
