"""Shared harness of the ``tests/replay/record_*`` scripts: run one recording against a fresh
nats-server and print what the log holds."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path

from bus.codec import MESSAGES
from bus.eventlog import read_event_log
from schemas import AnyMessage
from tests.support.nats_server import running_nats_server

__all__ = ["log_summary", "run_recording"]

Describe = Callable[[AnyMessage], str | None]


def log_summary(path: Path, describe: Describe | None = None) -> str:
    """Records per subject, plus one line per record that ``describe`` has something to say on."""
    records = list(read_event_log(path))
    per_subject = Counter(record.subject for record in records)
    lines = [f"{path}: {len(records)} records, {path.stat().st_size} bytes"]
    lines += [f"  {subject}: {count}" for subject, count in sorted(per_subject.items())]
    if describe is not None:
        for record in records:
            line = describe(MESSAGES.decode(record.payload))
            if line is not None:
                lines.append(f"  {line}")
    return "\n".join(lines)


def run_recording(
    record: Callable[[Path, str], Coroutine[object, object, None]],
    default_path: Path,
    describe: Describe | None = None,
) -> None:
    """``python -m tests.replay.record_X [out.gfl]``: record into the path given, or the default."""
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else default_path
    with running_nats_server() as server:
        asyncio.run(record(path, server.url))
    print(log_summary(path, describe))
