"""``galfriday replay`` without ``--paced``: the whole log as fast as the server reads it.

The log is turned into protocol bytes in one pass and checked whole (commands bound for the
live root, bad records) before a byte is sent. A plain ``nats://`` server gets them over a plain
socket, which spares the run importing asyncio and nats-py; TLS, a credentials file or
websockets go through nats-py.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections import Counter
from typing import Any

from actors.cli.replay_guard import ReplayRefused, plan_subject_counts
from bus.eventlog import EventLogError, read_event_log
from bus.wire_log import WireLog, encode_log

__all__ = ["replay_bulk"]

_EXIT_OK, _EXIT_FAILED, _EXIT_USAGE, _EXIT_INTERRUPTED = 0, 1, 2, 130
_PUBLISH_TIMEOUT_S = 30.0
"""Longest wait for the server to take the next bytes (or to answer the final ``PING``)."""


def replay_bulk(args: argparse.Namespace, config: Any) -> int:
    # A short-lived process whose objects hold no cycles: collector passes are pure cost.
    gc.disable()
    try:
        wire = encode_log(
            args.file, lambda subject: _plan({subject: 1}, config, args, True)[subject]
        )
        _plan(dict.fromkeys(wire.subjects, 1), config, args, False)
    except ReplayRefused:
        return _refuse_counted(args, config)
    except (EventLogError, OSError) as e:
        print(f"galfriday replay: {e}", file=sys.stderr)
        return _EXIT_USAGE
    finally:
        gc.enable()
    code = _publish_plain(wire, config)
    if code is None:
        code = _publish_with_nats_py(wire, args, config)
    if code == _EXIT_OK:
        print(f"replayed {wire.count} messages", file=sys.stderr)
    return code


def _plan(
    counts: dict[str, int], config: Any, args: argparse.Namespace, dry_run: bool
) -> dict[str, str]:
    return plan_subject_counts(
        counts, live_root=config.nats.subject_root, target_root=args.subject_root, dry_run=dry_run
    )


def _refuse_counted(args: argparse.Namespace, config: Any) -> int:
    """The refusal says how many command records the log holds: counted only now."""
    try:
        _plan(Counter(r.subject for r in read_event_log(args.file)), config, args, False)
    except ReplayRefused as e:
        print(f"galfriday replay: {e}", file=sys.stderr)
    return _EXIT_USAGE


def _publish_plain(wire: WireLog, config: Any) -> int | None:
    """Publish over a plain socket; ``None`` when this server needs nats-py."""
    from bus.plain_publisher import NeedsNatsPy, PublishRefused, plain_server, publish_plain

    nats_config = config.nats
    server = plain_server(
        nats_config.url,
        user=nats_config.user,
        password=nats_config.password,
        token=nats_config.token,
        needs_nats_py=bool(
            nats_config.creds_file or nats_config.tls_ca_file or nats_config.tls_cert_file
        ),
    )
    if server is None:
        return None
    try:
        publish_plain(
            server,
            wire.chunks,
            largest_payload=wire.largest_payload,
            has_headers=wire.has_headers,
            timeout_s=max(nats_config.connect_timeout_s, _PUBLISH_TIMEOUT_S),
        )
    except NeedsNatsPy:
        return None
    except PublishRefused as e:
        print(f"galfriday replay: the server refused: {e}", file=sys.stderr)
        return _EXIT_FAILED
    except TimeoutError:
        print(f"galfriday: timed out publishing to NATS at {nats_config.url}", file=sys.stderr)
        return _EXIT_FAILED
    except OSError as e:
        print(f"galfriday: cannot reach NATS at {nats_config.url}: {e}", file=sys.stderr)
        return _EXIT_FAILED
    except KeyboardInterrupt:
        return _EXIT_INTERRUPTED
    return _EXIT_OK


def _publish_with_nats_py(wire: WireLog, args: argparse.Namespace, config: Any) -> int:
    from actors.cli.replay_command import prepare_nats

    prepare_nats(config)
    from actors.cli.common import CommandFailed, connect_command, run_command
    from bus.wire_log import publish_wire

    async def body(config: Any, _: argparse.Namespace) -> int:
        client = await connect_command(config)
        try:
            await publish_wire(client, wire)
            await client.flush()
        except ValueError as e:  # a payload over the server's maximum
            raise CommandFailed(f"replay: {e}") from None
        finally:
            await client.close()
        return _EXIT_OK

    return run_command(args, body)
