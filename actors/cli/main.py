"""Entry point of ``galfriday``. Each command module exposes ``register(subparsers)``.

A command handler returns the process exit code: 0 ok, 1 the operation failed (e.g. Kraken
answered with an error), 2 bad arguments or bad configuration.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]

EXIT_INTERRUPTED = 130

# Command modules are imported lazily by name so a broken optional module cannot break the rest,
# and only the named command's module when the command line names one: start-up is most of a
# short command's time (``replay`` spent 58 % of its run importing every other command).
_COMMAND_MODULES = {
    "actors.cli.sim_command": ("sim",),
    "actors.cli.kraken_command": ("kraken",),
    "actors.cli.actor_command": ("actor",),
    "actors.cli.bus_commands": ("record", "health", "stats", "halt", "resume"),
    "actors.cli.replay_command": ("replay",),
    "actors.cli.nats_config_command": ("nats-config",),
    "actors.cli.schema_command": ("schema",),
    "actors.cli.healthcheck_command": ("healthcheck",),
    "actors.cli.submit_command": ("submit",),
    "actors.cli.tail_command": ("tail",),
    "actors.cli.up_command": ("up",),
    "actors.cli.top_command": ("top",),
}
_MODULE_OF = {command: module for module, names in _COMMAND_MODULES.items() for command in names}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for ``argv``: with only its command's module when ``argv`` names a command
    (every command otherwise, e.g. for ``--help`` or a typo)."""
    parser = argparse.ArgumentParser(prog="galfriday", description="Gal Friday execution layer")
    parser.add_argument("--version", action=_VersionAction)
    subparsers = parser.add_subparsers(dest="command", required=True)
    command = next((arg for arg in argv or () if not arg.startswith("-")), None)
    named = _MODULE_OF.get(command) if command is not None else None
    for name in (named,) if named is not None else _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        module.register(subparsers)
    return parser


class _VersionAction(argparse.Action):
    """``--version``, with the installed version looked up only when asked for (reading the
    package metadata costs every other command start-up time)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(f"galfriday {_version()}")
        parser.exit()


def _version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("galfriday")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "0+unknown"


def main(argv: Sequence[str] | None = None) -> int:
    try:
        arguments = sys.argv[1:] if argv is None else list(argv)
        parser = build_parser(arguments)
        args = parser.parse_args(arguments)
        code: int = args.handler(args)
    except KeyboardInterrupt:  # Ctrl-C before a command took over SIGINT: no traceback
        return EXIT_INTERRUPTED
    return code


if __name__ == "__main__":
    sys.exit(main())
