"""``galfriday nats-config``: print a least-privilege nats-server configuration."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any
from urllib.parse import urlsplit

from actors.nats_authorization import render_server_config
from actors.wiring import participants
from bus.subjects import Subjects
from schemas import ConfigError, load_config

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "nats-config",
        help="print a nats-server config: one user per actor and the CLI, least privilege",
    )
    parser.add_argument("--config", help="YAML config file (for the subject root and the URL)")
    parser.add_argument(
        "--listen", help="host:port the server listens on (default: the host and port of nats.url)"
    )
    parser.add_argument(
        "--store-dir", help="JetStream storage directory (default: $GF_STATE_DIR/nats)"
    )
    parser.add_argument(
        "--authorization-only",
        action="store_true",
        help="print only the authorization block, to `include` in your own server config",
    )
    parser.add_argument(
        "--no-sync-always",
        action="store_true",
        help="keep nats-server's default fsync interval (faster; a host crash can lose writes)",
    )
    parser.set_defaults(handler=_nats_config)


def _nats_config(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"galfriday: {e}", file=sys.stderr)
        return 2
    url = urlsplit(config.nats.url)
    listen = args.listen or f"{url.hostname or '127.0.0.1'}:{url.port or 4222}"
    store_dir = args.store_dir or os.path.join(os.environ.get("GF_STATE_DIR", "var"), "nats")
    subjects = Subjects(config.nats.subject_root)
    sys.stdout.write(
        render_server_config(
            participants(subjects, config),
            subjects,
            listen=listen,
            store_dir=store_dir,
            sync_always=not args.no_sync_always,
            authorization_only=args.authorization_only,
        )
    )
    return 0
