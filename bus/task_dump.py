"""``kill -USR1 <pid>``: log every asyncio task of the process with its await stack.

For an actor that is alive but silent (a wait that never ends), this shows where each task is
parked without stopping or slowing the process.
"""

from __future__ import annotations

import asyncio
import io
import logging
import signal

__all__ = ["describe_tasks", "install_task_dump"]

_LOGGER = logging.getLogger(__name__)
DUMP_SIGNAL = signal.SIGUSR1


def describe_tasks(limit_frames: int = 20) -> str:
    """Every pending task of the running loop, with the frames it is suspended in."""
    out = io.StringIO()
    tasks = sorted(asyncio.all_tasks(), key=lambda task: task.get_name())
    out.write(f"{len(tasks)} tasks\n")
    for task in tasks:
        task.print_stack(limit=limit_frames, file=out)
    return out.getvalue()


def install_task_dump(loop: asyncio.AbstractEventLoop) -> None:
    loop.add_signal_handler(DUMP_SIGNAL, _dump)


def _dump() -> None:
    _LOGGER.warning("tasks.dump %s", describe_tasks())
