"""``galfriday sim``: run the simulated Kraken exchange until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import sys
from typing import Any

from actors.cli.heap import freeze_startup_heap
from kraken.sim import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    ScenarioError,
    SimOptions,
    load_scenario,
    running_sim,
)

__all__ = ["SIM_SECRET_ENV", "register"]

DEFAULT_PORT = 8900
SIM_SECRET_ENV = "GF_SIM_API_SECRET"
"""How ``galfriday up`` hands the sim its secret without putting it on a command line."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sim",
        help="run the simulated Kraken exchange",
        description="Serve Kraken's REST (/0/...) and WebSocket v2 (/ws/v2) wire format locally.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scenario", metavar="FILE", help="fault scenario, YAML or JSON")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument(
        "--api-secret",
        default=os.environ.get(SIM_SECRET_ENV, DEFAULT_API_SECRET),
        help=f"base64 secret (default: ${SIM_SECRET_ENV}, else the dev secret)",
    )
    parser.add_argument("--tier", choices=("starter", "intermediate", "pro"), default="starter")
    parser.add_argument("--nonce-window", type=int, default=0)
    parser.add_argument(
        "--print-credentials",
        action="store_true",
        help="print the sim's dev key and secret as shell exports and exit "
        '(eval "$(galfriday sim --print-credentials)")',
    )
    parser.set_defaults(handler=run)


async def _serve(options: SimOptions) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with running_sim(options) as sim:
        freeze_startup_heap()
        print(f"kraken-sim: REST {sim.rest_url}  WS {sim.ws_url}  control {sim.control_url}")
        print(f"kraken-sim: api key {sim.api_key}")
        sys.stdout.flush()
        await stop.wait()


def run(args: argparse.Namespace) -> int:
    if args.print_credentials:
        # Dev credentials of a local simulator, printed on request: they open no real account.
        print(f"export KRAKEN_API_KEY={shlex.quote(args.api_key)}")
        print(f"export KRAKEN_API_SECRET={shlex.quote(args.api_secret)}")
        return 0
    scenario = None
    if args.scenario is not None:
        try:
            scenario = load_scenario(args.scenario)
        except ScenarioError as e:
            print(f"galfriday sim: bad scenario: {e}", file=sys.stderr)
            return 2
    if args.nonce_window < 0:
        print("galfriday sim: --nonce-window must be >= 0", file=sys.stderr)
        return 2
    options = SimOptions(
        host=args.host,
        port=args.port,
        seed=args.seed,
        api_key=args.api_key,
        api_secret=args.api_secret,
        tier=args.tier,
        nonce_window=args.nonce_window,
        scenario=scenario,
    )
    try:
        asyncio.run(_serve(options))
    except OSError as e:
        print(f"galfriday sim: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 1
    return 0
