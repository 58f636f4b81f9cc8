"""No listener on every interface by default (issue 13.13): `galfriday up`'s nats-server and
`galfriday sim` bind the loopback address unless told otherwise."""

from __future__ import annotations

import argparse
from pathlib import Path

import msgspec

from actors.cli.main import build_parser
from actors.cli.up_command import nats_server_command as local_server_command
from schemas import GalFridayConfig, NatsConfig


def _flag(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def test_up_starts_nats_server_on_the_loopback_of_the_default_url() -> None:
    command = local_server_command(GalFridayConfig(), Path("var"))
    assert _flag(command, "-a") == "127.0.0.1"
    assert _flag(command, "-p") == "4222"
    assert "0.0.0.0" not in command


def test_up_binds_the_host_and_port_of_the_configured_url() -> None:
    config = msgspec.structs.replace(GalFridayConfig(), nats=NatsConfig(url="nats://10.1.2.3:4333"))
    command = local_server_command(config, Path("state"))
    assert (_flag(command, "-a"), _flag(command, "-p")) == ("10.1.2.3", "4333")
    assert _flag(command, "-sd") == str(Path("state") / "nats")


def test_sim_listens_on_loopback_by_default() -> None:
    args: argparse.Namespace = build_parser().parse_args(["sim"])
    assert args.host == "127.0.0.1"
