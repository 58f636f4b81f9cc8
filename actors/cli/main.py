"""Entry point of ``galfriday``. Each command module exposes ``register(subparsers)``.

A command handler returns the process exit code: 0 ok, 1 the operation failed (e.g. Kraken
answered with an error), 2 bad arguments or bad configuration.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys
from collections.abc import Sequence

__all__ = ["main"]

EXIT_INTERRUPTED = 130

# Command modules are imported lazily by name so a broken optional module cannot break the rest.
_COMMAND_MODULES = (
    "actors.cli.sim_command",
    "actors.cli.kraken_command",
    "actors.cli.actor_command",
    "actors.cli.bus_commands",
    "actors.cli.nats_config_command",
    "actors.cli.schema_command",
    "actors.cli.healthcheck_command",
    "actors.cli.submit_command",
    "actors.cli.tail_command",
    "actors.cli.up_command",
    "actors.cli.top_command",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="galfriday", description="Gal Friday execution layer")
    parser.add_argument("--version", action="version", version=f"galfriday {_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        module.register(subparsers)
    return parser


def _version() -> str:
    try:
        return importlib.metadata.version("galfriday")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "0+unknown"


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        code: int = args.handler(args)
    except KeyboardInterrupt:  # Ctrl-C before a command took over SIGINT: no traceback
        return EXIT_INTERRUPTED
    return code


if __name__ == "__main__":
    sys.exit(main())
