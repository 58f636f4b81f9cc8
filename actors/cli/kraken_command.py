"""``galfriday kraken CALL [key=value …]``: one REST call to the configured venue.

The venue is ``kraken.rest_url`` of the configuration (``GF_KRAKEN_REST_URL`` overrides it);
credentials come only from ``KRAKEN_API_KEY`` / ``KRAKEN_API_SECRET`` (or
``KRAKEN_API_SECRET_FILE``). The result is printed as JSON on stdout. Kraken errors go to
stderr with exit code 1; bad arguments, bad configuration and a private call without
credentials exit with 2. ``AddOrderBatch`` takes ``orders=<JSON array>`` and is sent as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import msgspec

from kraken.credentials import Credentials, load_credentials
from kraken.errors import MissingCredentialsError
from kraken.rest import PRIVATE_ENDPOINTS, PUBLIC_ENDPOINTS, KrakenRestClient
from kraken.result import KrakenFailure
from schemas.config import ConfigError, KrakenConfig, load_config

__all__ = ["register", "run_kraken_call"]

_EXIT_OK = 0
_EXIT_FAILED = 1
_EXIT_USAGE = 2


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "kraken",
        help="make one Kraken REST call and print the result as JSON",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("call", metavar="CALL", help="endpoint name, e.g. Ticker or AddOrder")
    parser.add_argument("params", metavar="key=value", nargs="*", help="request parameters")
    parser.add_argument("--config", help="configuration file (default: $GF_CONFIG)")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    return run_kraken_call(args.call, args.params, config_path=args.config)


def run_kraken_call(call: str, raw_params: list[str], *, config_path: str | None = None) -> int:
    """The whole command; returns the exit code."""
    if call not in PUBLIC_ENDPOINTS and call not in PRIVATE_ENDPOINTS:
        known = ", ".join(sorted(PUBLIC_ENDPOINTS | PRIVATE_ENDPOINTS))
        return _usage(f"unknown CALL {call!r}; known calls: {known}")
    params = _parse_params(raw_params)
    if isinstance(params, str):
        return _usage(params)
    try:
        config = load_config(config_path).kraken
        credentials = load_credentials()
    except (ConfigError, MissingCredentialsError) as e:
        return _usage(str(e))
    if call in PRIVATE_ENDPOINTS and credentials is None:
        return _usage(
            f"{call} is a private call: set KRAKEN_API_KEY and KRAKEN_API_SECRET "
            "(or KRAKEN_API_SECRET_FILE)"
        )
    json_body = call == "AddOrderBatch"
    if json_body:
        orders = params.get("orders")
        try:
            params["orders"] = msgspec.json.decode(orders or "")
        except msgspec.DecodeError:
            return _usage("AddOrderBatch needs orders=<JSON array>, e.g. orders='[{\"type\":…}]'")
    return asyncio.run(_call(config, credentials, call, params, json_body))


def _parse_params(raw_params: list[str]) -> dict[str, Any] | str:
    params: dict[str, Any] = {}
    for item in raw_params:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            return f"malformed parameter {item!r}: expected key=value"
        params[key.strip()] = value
    return params


async def _call(
    config: KrakenConfig,
    credentials: Credentials | None,
    call: str,
    params: dict[str, Any],
    json_body: bool,
) -> int:
    async with KrakenRestClient(config, credentials=credentials) as client:
        result = await client.call(call, params, json_body=json_body)
    if isinstance(result, KrakenFailure):
        for line in result.describe():
            print(f"error: {line}", file=sys.stderr)
        if result.http_status is not None:
            print(f"http status: {result.http_status}", file=sys.stderr)
        if result.outcome_unknown:
            print("outcome unknown: check OpenOrders/ClosedOrders before retrying", file=sys.stderr)
        if result.transport_error is not None and result.raw_body:
            print(f"body: {result.raw_body[:500]}", file=sys.stderr)
        return _EXIT_FAILED
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(result.value), indent=2).decode())
    sys.stdout.write("\n")
    return _EXIT_OK


def _usage(message: str) -> int:
    print(f"galfriday kraken: {message}", file=sys.stderr)
    return _EXIT_USAGE
