"""Entry point of ``galfriday``. Each command module exposes ``register(subparsers)``.

A command handler returns the process exit code: 0 ok, 1 the operation failed (e.g. Kraken
answered with an error), 2 bad arguments or bad configuration.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]

# Command modules are imported lazily by name so a broken optional module cannot break the rest.
_COMMAND_MODULES = (
    "actors.cli.sim_command",
    "actors.cli.kraken_command",
    "actors.cli.actor_command",
    "actors.cli.bus_commands",
    "actors.cli.submit_command",
    "actors.cli.tail_command",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="galfriday", description="Gal Friday execution layer")
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
