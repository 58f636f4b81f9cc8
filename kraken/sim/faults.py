"""The fault injector: decides, per request and from a seeded ``random.Random``, what goes wrong."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import msgspec

from kraken.sim.clock import Clock
from kraken.sim.scenario import (
    Fault,
    LateLandingFault,
    LatencyFault,
    LockoutFault,
    LoseResponseFault,
    MalformedFault,
    OutageFault,
    Scenario,
    ScenarioError,
    TimelineEvent,
    parse_scenario,
)
from kraken.sim.wire import NANOS_PER_SECOND

__all__ = ["ActiveFault", "FaultInjector"]


@dataclass(slots=True)
class ActiveFault:
    fault_id: int
    spec: Fault
    origin_ns: int
    fired: int = 0


@dataclass(slots=True)
class _PendingEvent:
    due_ns: int
    event: TimelineEvent = field(compare=False)


class FaultInjector:
    """Holds the active faults and the not-yet-applied timeline events."""

    def __init__(self, clock: Clock, rng: random.Random) -> None:
        self._clock = clock
        self._random = rng
        self._faults: list[ActiveFault] = []
        self._timeline: list[_PendingEvent] = []
        self._next_id = 1

    # -- configuration -------------------------------------------------------------------

    def add(self, spec: Fault | TimelineEvent) -> int:
        """Activate a fault (its window starts now) or schedule an event ``at_s`` from now."""
        fault_id = self._next_id
        self._next_id += 1
        now = self._clock()
        if isinstance(
            spec,
            LockoutFault
            | OutageFault
            | LatencyFault
            | LoseResponseFault
            | LateLandingFault
            | MalformedFault,
        ):
            self._faults.append(ActiveFault(fault_id, spec, now))
        else:
            self._timeline.append(_PendingEvent(now + round(spec.at_s * NANOS_PER_SECOND), spec))
            self._timeline.sort(key=lambda pending: pending.due_ns)
        return fault_id

    def add_scenario(self, scenario: Scenario) -> list[int]:
        return [self.add(spec) for spec in (*scenario.faults, *scenario.timeline)]

    def add_json(self, data: Any) -> list[int]:
        """Add a fault/event object, a list of them, or a scenario-shaped ``{faults, timeline}``."""
        if isinstance(data, dict) and "kind" not in data:
            return self.add_scenario(parse_scenario(data, "faults"))
        items = data if isinstance(data, list) else [data]
        try:
            specs = [msgspec.convert(item, Fault | TimelineEvent) for item in items]
        except msgspec.ValidationError as e:
            raise ScenarioError(f"faults: {e}") from None
        return [self.add(spec) for spec in specs]

    def remove(self, fault_id: int) -> None:
        self._faults = [active for active in self._faults if active.fault_id != fault_id]

    def clear(self) -> None:
        self._faults.clear()
        self._timeline.clear()

    def describe(self) -> list[dict[str, Any]]:
        return [
            {"id": active.fault_id, "fired": active.fired, **msgspec.to_builtins(active.spec)}
            for active in self._faults
        ] + [
            {"due_ns": pending.due_ns, **msgspec.to_builtins(pending.event)}
            for pending in self._timeline
        ]

    # -- decisions -----------------------------------------------------------------------

    def _in_window(self, active: ActiveFault, start_s: float, duration_s: float | None) -> bool:
        elapsed_s = (self._clock() - active.origin_ns) / NANOS_PER_SECOND
        if elapsed_s < start_s:
            return False
        return duration_s is None or elapsed_s < start_s + duration_s

    def _fires(self, active: ActiveFault, endpoint: str) -> bool:
        spec = active.spec
        assert not isinstance(spec, LockoutFault)
        if spec.endpoints and endpoint not in spec.endpoints:
            return False
        if spec.calls is not None and active.fired >= spec.calls:
            return False
        if not self._in_window(active, spec.start_s, spec.duration_s):
            return False
        if spec.probability < 1.0 and self._random.random() >= spec.probability:
            return False
        active.fired += 1
        return True

    def _first(self, kind: type[Any], endpoint: str) -> Any:
        for active in self._faults:
            if isinstance(active.spec, kind) and self._fires(active, endpoint):
                return active.spec
        return None

    def latency_s(self, endpoint: str) -> float:
        total_ms = 0.0
        for active in self._faults:
            spec = active.spec
            if isinstance(spec, LatencyFault) and self._fires(active, endpoint):
                if spec.distribution == "fixed":
                    total_ms += spec.ms
                elif spec.distribution == "uniform":
                    total_ms += self._random.uniform(spec.low_ms, spec.high_ms)
                else:
                    total_ms += max(0.0, self._random.gauss(spec.mean_ms, spec.stddev_ms))
        return total_ms / 1000

    def outage(self, endpoint: str) -> OutageFault | None:
        found: OutageFault | None = self._first(OutageFault, endpoint)
        return found

    def lost_response(self, endpoint: str) -> LoseResponseFault | None:
        found: LoseResponseFault | None = self._first(LoseResponseFault, endpoint)
        return found

    def late_landing(self, endpoint: str) -> LateLandingFault | None:
        found: LateLandingFault | None = self._first(LateLandingFault, endpoint)
        return found

    def malformed(self, endpoint: str) -> MalformedFault | None:
        found: MalformedFault | None = self._first(MalformedFault, endpoint)
        return found

    def locked_out(self) -> bool:
        return any(
            isinstance(active.spec, LockoutFault)
            and self._in_window(active, active.spec.start_s, active.spec.duration_s)
            for active in self._faults
        )

    def due_events(self) -> list[TimelineEvent]:
        """Timeline events whose time has come, in order; each is returned once."""
        now = self._clock()
        due = [pending.event for pending in self._timeline if pending.due_ns <= now]
        self._timeline = [pending for pending in self._timeline if pending.due_ns > now]
        return due
