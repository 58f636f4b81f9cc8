"""NATS plumbing: subjects, codec, connection, JetStream topology, the actor runtime, telemetry,
event logs and an in-memory bus for tests. Knows nothing about Kraken or trading.

Names are imported on first use (PEP 562), so a short-lived command that needs one module
(``galfriday replay`` reads event logs) does not pay for the runtime, telemetry and nats-py.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES = {
    "bus.actor": ("Actor", "Delivery", "JetStreamConsumer", "Subscription"),
    "bus.clock": ("Clock", "ManualClock", "Sleep", "system_clock"),
    "bus.codec": ("EVENTS", "MESSAGES", "Codec", "encode"),
    "bus.connection": ("ConnectionEvents", "connect"),
    "bus.context": ("ActorContext",),
    "bus.errors": ("BusError", "RequestFailedError"),
    "bus.eventlog": ("EventLogError", "LogRecord", "Recorder", "read_event_log", "replay"),
    "bus.jetstream": ("ensure_topology",),
    "bus.ports": ("BusContext",),
    "bus.runtime": ("ActorRunner", "run_actor"),
    "bus.subjects": ("Subjects", "pair_token"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'bus' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
