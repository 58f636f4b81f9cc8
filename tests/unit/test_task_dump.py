"""``kill -USR1``: a silent actor shows where every task waits (bus/task_dump.py)."""

from __future__ import annotations

import asyncio
import logging
import os

import pytest

from bus.task_dump import DUMP_SIGNAL, describe_tasks, install_task_dump


async def _parked_on_an_event(event: asyncio.Event) -> None:
    await event.wait()


async def test_the_dump_names_each_task_and_the_frame_it_waits_in() -> None:
    never = asyncio.Event()
    task = asyncio.create_task(_parked_on_an_event(never), name="batch:stuck-7")
    await asyncio.sleep(0)
    try:
        dump = describe_tasks()
    finally:
        task.cancel()
    assert "batch:stuck-7" in dump
    assert "_parked_on_an_event" in dump


async def test_the_signal_logs_the_dump(caplog: pytest.LogCaptureFixture) -> None:
    never = asyncio.Event()
    task = asyncio.create_task(_parked_on_an_event(never), name="lease:stall-1")
    loop = asyncio.get_running_loop()
    install_task_dump(loop)
    try:
        with caplog.at_level(logging.WARNING, logger="bus.task_dump"):
            os.kill(os.getpid(), DUMP_SIGNAL)
            for _ in range(100):
                await asyncio.sleep(0.01)
                if caplog.records:
                    break
    finally:
        loop.remove_signal_handler(DUMP_SIGNAL)
        task.cancel()
    assert any("lease:stall-1" in record.getMessage() for record in caplog.records)
