"""Notices a NATS client whose read loop has ended while the client still says it is connected.

nats-py's read loop stops on any unexpected exception from its parser (see
docs/nats-py-header-indexerror.md) without changing the client's status: publishes still go out,
nothing comes in, ``flush()`` quietly skips its PING/PONG round trip, and only the ping timer
(2 x 120 s by default) notices, minutes later. The watchdog looks at the read task every
``check_every_s`` and forces a reconnect. A reader that dies more than ``max_deaths`` times within
``window_s`` is beyond saving in-process: the watchdog calls ``on_give_up`` and stops, and the
runtime drains and exits non-zero so a supervisor starts a fresh process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client

__all__ = ["DEFAULT_WATCHDOG", "ReaderWatchdog", "WatchdogPolicy", "reader_task"]

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchdogPolicy:
    check_every_s: float = 1.0
    max_deaths: int = 5
    """Reader deaths tolerated (each followed by a reconnect) within ``window_s``."""
    window_s: float = 600.0


DEFAULT_WATCHDOG = WatchdogPolicy()


def reader_task(client: Client) -> asyncio.Task[Any] | None:
    """The client's read-loop task.

    nats-py (checked against 2.16.0) keeps it in the private ``_reading_task`` and has no public
    way to ask whether the reader is alive; this is the only place that reads it.
    """
    task = getattr(client, "_reading_task", None)
    return task if isinstance(task, asyncio.Task) else None


class ReaderWatchdog:
    def __init__(
        self,
        client: Client,
        policy: WatchdogPolicy = DEFAULT_WATCHDOG,
        *,
        on_give_up: Callable[[], None],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self.deaths = 0
        self.gave_up = False
        self._client = client
        self._on_give_up = on_give_up
        self._monotonic = monotonic
        self._recent: deque[float] = deque()

    def health(self) -> dict[str, Any]:
        return {"deaths": self.deaths, "gave_up": self.gave_up}

    async def run(self) -> None:
        """Watch until cancelled or until it gives up."""
        suspect: asyncio.Task[Any] | None = None
        while True:
            await asyncio.sleep(self.policy.check_every_s)
            dead = self._dead_reader()
            if dead is None or dead is not suspect:
                # Seen dead once: confirm on the next check, so a reconnect in progress
                # elsewhere (which replaces the task) is never mistaken for a death.
                suspect = dead
                continue
            suspect = None
            if not await self._reader_died():
                return

    def _dead_reader(self) -> asyncio.Task[Any] | None:
        if not self._client.is_connected:
            return None  # closed, draining or already reconnecting: nats-py is on it
        task = reader_task(self._client)
        return task if task is not None and task.done() else None

    async def _reader_died(self) -> bool:
        """Count a death and reconnect; False once it is time to give up."""
        self.deaths += 1
        now = self._monotonic()
        self._recent.append(now)
        while self._recent and self._recent[0] < now - self.policy.window_s:
            self._recent.popleft()
        force_reconnect = getattr(self._client, "force_reconnect", None)  # nats-py >= 2.16
        if len(self._recent) > self.policy.max_deaths or force_reconnect is None:
            self.gave_up = True
            _LOGGER.critical(
                "bus.reader_unrecoverable deaths=%d within_s=%.0f: exiting for a restart",
                len(self._recent),
                self.policy.window_s,
            )
            self._on_give_up()
            return False
        _LOGGER.error("bus.reader_died deaths=%d: forcing a reconnect", self.deaths)
        try:
            await force_reconnect()
        except Exception:  # a watchdog that dies would leave the reader unwatched
            _LOGGER.exception("bus.reader_reconnect_failed")
        return True
