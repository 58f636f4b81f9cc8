"""``galfriday replay`` never re-issues commands (batch requests, control, Kraken call reports)
on the live subject root unless asked for another root or a dry run."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.cli.main import main
from actors.cli.replay_guard import ReplayRefused, is_command_subject, retarget, split_root
from bus.eventlog import EventLogWriter, LogRecord

RECORDS = [
    LogRecord("gf.md.price.BTC-USD", {}, 1, b"p"),
    LogRecord("gf.orders.batch.requested", {"Nats-Msg-Id": "b1"}, 2, b"batch"),
    LogRecord("gf.control.kill", {}, 3, b"halt"),
    LogRecord("gf.kraken.call.failed", {}, 4, b"call"),
    LogRecord("gf.orders.batch.completed", {}, 5, b"done"),
]


def test_split_root_handles_dotted_roots() -> None:
    assert split_root("gf.orders.batch.requested") == ("gf", "orders.batch.requested")
    assert split_root("prod.eu.md.price.X") == ("prod.eu", "md.price.X")


def test_command_subjects_are_requests_control_and_call_reports() -> None:
    commands = [r.subject for r in RECORDS if is_command_subject(r.subject)]
    assert commands == ["gf.orders.batch.requested", "gf.control.kill", "gf.kraken.call.failed"]


def test_commands_into_the_live_root_are_refused() -> None:
    with pytest.raises(ReplayRefused, match="--subject-root"):
        retarget(RECORDS, live_root="gf", target_root=None, dry_run=False)
    with pytest.raises(ReplayRefused):
        retarget(RECORDS, live_root="gf", target_root="gf", dry_run=False)


def test_another_root_rewrites_every_subject() -> None:
    moved = retarget(RECORDS, live_root="gf", target_root="sandbox", dry_run=False)
    assert [r.subject for r in moved][:2] == [
        "sandbox.md.price.BTC-USD",
        "sandbox.orders.batch.requested",
    ]
    assert [r.payload for r in moved] == [r.payload for r in RECORDS]


def test_log_of_reports_only_replays_on_the_live_root() -> None:
    reports = [RECORDS[0], RECORDS[4]]
    assert retarget(reports, live_root="gf", target_root=None, dry_run=False) == reports


def _log(path: Path) -> Path:
    with path.open("wb") as file:
        writer = EventLogWriter(file)
        for record in RECORDS:
            writer.write(record)
    return path


def test_cli_refuses_with_exit_2_and_publishes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An unreachable NATS URL: a refused replay must not even try to connect.
    monkeypatch.setenv("GF_NATS_URL", "nats://127.0.0.1:1")
    code = main(["replay", str(_log(tmp_path / "x.gfl"))])
    assert code == 2
    assert "live subject root 'gf'" in capsys.readouterr().err


def test_cli_dry_run_lists_and_publishes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GF_NATS_URL", "nats://127.0.0.1:1")
    code = main(["replay", str(_log(tmp_path / "x.gfl")), "--dry-run"])
    out = capsys.readouterr()
    assert code == 0
    assert out.out.count("\n") == len(RECORDS)
    assert "nothing published" in out.err
