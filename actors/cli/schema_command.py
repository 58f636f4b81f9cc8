"""``galfriday schema``: JSON Schema of every bus message, or the AsyncAPI 3.0 document."""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import orjson
import yaml

from actors.asyncapi import asyncapi_document, message_schemas
from actors.wiring import participants
from bus.subjects import Subjects
from schemas import ConfigError, load_config

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "schema", help="JSON Schema of every bus message; --asyncapi: the AsyncAPI 3.0 document"
    )
    parser.add_argument("--asyncapi", action="store_true", help="the AsyncAPI 3.0 document")
    parser.add_argument("--json", action="store_true", help="JSON instead of YAML")
    parser.add_argument("--config", help="YAML config file (for the subject root)")
    parser.set_defaults(handler=_schema)


def _version() -> str:
    try:
        return version("galfriday")
    except PackageNotFoundError:  # running from a source tree without installing
        return "0.0.0"


def _schema(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"galfriday: {e}", file=sys.stderr)
        return 2
    subjects = Subjects(config.nats.subject_root)
    document: dict[str, Any] = (
        asyncapi_document(participants(subjects, config), subjects, version=_version())
        if args.asyncapi
        else {"$defs": message_schemas()}
    )
    if args.json:
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return 0
