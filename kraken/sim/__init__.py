"""The simulated Kraken exchange: Kraken's REST and WebSocket v2 wire format on a local server.

Use ``running_sim(SimOptions(...))`` in tests and ``galfriday sim`` on the command line. The
dev credentials ``DEFAULT_API_KEY`` / ``DEFAULT_API_SECRET`` are public and only work here.
Control endpoints live under ``/sim/`` (ledger, faults, price, status, ws, reset).
"""

from kraken.sim.book import BookProfile
from kraken.sim.clock import Clock, ManualClock, system_clock
from kraken.sim.credentials import DEFAULT_API_KEY, DEFAULT_API_SECRET
from kraken.sim.errors import DUPLICATE_CL_ORD_ID, SimError
from kraken.sim.exchange import DEFAULT_BALANCES, LedgerEntry, SimExchange
from kraken.sim.faults import FaultInjector
from kraken.sim.pairs import PAIRS, PairSpec
from kraken.sim.prices import Quote
from kraken.sim.scenario import (
    AccountSetup,
    LateLandingFault,
    LatencyFault,
    LockoutFault,
    LoseResponseFault,
    MalformedFault,
    OutageFault,
    Scenario,
    ScenarioError,
    StatusChange,
    WsDisconnect,
    WsSilence,
    load_scenario,
    parse_scenario,
)
from kraken.sim.server import RunningSim, SimOptions, build_app, build_exchange, running_sim

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_API_SECRET",
    "DEFAULT_BALANCES",
    "DUPLICATE_CL_ORD_ID",
    "PAIRS",
    "AccountSetup",
    "BookProfile",
    "Clock",
    "FaultInjector",
    "LateLandingFault",
    "LatencyFault",
    "LedgerEntry",
    "LockoutFault",
    "LoseResponseFault",
    "MalformedFault",
    "ManualClock",
    "OutageFault",
    "PairSpec",
    "Quote",
    "RunningSim",
    "Scenario",
    "ScenarioError",
    "SimError",
    "SimExchange",
    "SimOptions",
    "StatusChange",
    "WsDisconnect",
    "WsSilence",
    "build_app",
    "build_exchange",
    "load_scenario",
    "parse_scenario",
    "running_sim",
    "system_clock",
]
