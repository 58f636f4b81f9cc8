"""``galfriday sim`` argument handling."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from actors.cli import sim_command
from actors.cli.main import main
from kraken.sim import DEFAULT_API_KEY, DEFAULT_API_SECRET

pytestmark = pytest.mark.sim


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="galfriday")
    sim_command.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["sim", *argv])


def test_defaults_listen_on_8900() -> None:
    args = _parse()
    assert (args.host, args.port, args.tier, args.nonce_window) == ("127.0.0.1", 8900, "starter", 0)
    assert args.handler is sim_command.run


def test_bad_scenario_exits_2_naming_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("faults:\n  - {kind: latency, distribution: gaussian}\n")
    assert sim_command.run(_parse("--scenario", str(scenario))) == 2
    error = capsys.readouterr().err
    assert "bad.yaml" in error
    assert "distribution" in error


def test_missing_scenario_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sim_command.run(_parse("--scenario", str(tmp_path / "absent.json"))) == 2
    assert "cannot read" in capsys.readouterr().err


def test_print_credentials_prints_shell_exports_and_starts_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["sim", "--print-credentials"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"export KRAKEN_API_KEY={DEFAULT_API_KEY}",
        f"export KRAKEN_API_SECRET={DEFAULT_API_SECRET}",
    ]
