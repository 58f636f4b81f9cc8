"""``galfriday replay`` loads what a replay needs and nothing else (issue 14: 58 % of a replay
was spent importing every command module, the simulator included)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bus.eventlog import EventLogWriter, LogRecord

REPO_ROOT = Path(__file__).resolve().parents[2]
_PROBE = """
import sys
from actors.cli.main import main
code = main(sys.argv[1:])
heavy = ("kraken.sim", "kraken.rest", "actors.batch_router", "actors.cli.up_command",
         "opentelemetry", "aiohttp", "bus.runtime")
print(code, sorted(m for m in heavy if m in sys.modules))
"""


def test_replay_imports_neither_other_commands_nor_the_runtime(tmp_path: Path) -> None:
    log = tmp_path / "x.gfl"
    with log.open("wb") as file:
        EventLogWriter(file).write(LogRecord("gf.md.price.BTC-USD", {}, 1, b"\x80"))
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, "replay", str(log), "--dry-run"],
        cwd=REPO_ROOT,
        env={"GF_NATS_URL": "nats://127.0.0.1:1", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines()[-1] == "0 []"


def test_help_still_lists_every_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "actors.cli.main", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    for command in ("sim", "actor", "record", "replay", "halt", "submit", "up", "top"):
        assert command in done.stdout


def test_a_bulk_replay_to_a_plain_server_imports_neither_asyncio_nor_nats_py(
    tmp_path: Path,
) -> None:
    """A plain ``nats://`` server gets the log over a plain socket (unreachable here: exit 1)."""
    log = tmp_path / "x.gfl"
    with log.open("wb") as file:
        EventLogWriter(file).write(LogRecord("gf.md.price.BTC-USD", {}, 1, b"\x80"))
    probe = _PROBE.replace('"bus.runtime")', '"bus.runtime", "asyncio", "nats")')
    done = subprocess.run(
        [sys.executable, "-c", probe, "replay", str(log), "--subject-root", "sandbox"],
        cwd=REPO_ROOT,
        env={"GF_NATS_URL": "nats://127.0.0.1:1", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines()[-1] == "1 []", done.stderr
    assert "cannot reach NATS" in done.stderr
