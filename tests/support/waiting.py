"""Polling helper for integration tests: wait for a condition with a generous deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["eventually"]


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Return once ``check()`` is true; raise ``TimeoutError`` after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 - the condition is outside our control
            await asyncio.sleep(0.02)
