"""Fault scenarios: the file format of ``--scenario FILE`` and of ``POST /sim/faults``.

A scenario is YAML or JSON::

    seed: 11                     # optional, overrides the sim's seed
    accounts:                    # optional API keys besides the default one
      - {key: desk-2, secret: <base64>, tier: pro, balances: {ZUSD: "5000"}, nonce_window: 0}
      - {key: desk-1b, secret: <base64>, account_of: <default key>}  # a 2nd key, same account
    prices: {XBTUSD: "95000"}    # optional starting prices
    faults:                      # windows count from when the fault is added (file: start)
      - {kind: outage, endpoints: [AddOrder], response: http, http_status: 503, calls: 2}
      - {kind: outage, response: unavailable, start_s: 10, duration_s: 5}
      - {kind: latency, distribution: uniform, low_ms: 5, high_ms: 40}
      - {kind: lose_response, mode: timeout, probability: 0.3, hold_s: 15}
      - {kind: late_landing, hold_s: 8, answer: drop, calls: 1}  # engine sees AddOrder 8 s late
      - {kind: malformed, mode: truncated_json, endpoints: [Ticker], calls: 1}
      - {kind: lockout, start_s: 30, duration_s: 60}
    timeline:
      - {kind: status, at_s: 20, status: maintenance}
      - {kind: status, at_s: 25, status: online}
      - {kind: ws_disconnect, at_s: 40}
      - {kind: ws_silence, at_s: 50, duration_s: 8}

Every fault takes ``endpoints`` (REST method names; empty = all), ``calls`` (fire at most N
times), ``start_s``/``duration_s`` (active window) and ``probability`` (drawn from the seeded
fault ``random.Random``).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

__all__ = [
    "ENDPOINTS",
    "AccountSetup",
    "Fault",
    "LateLandingFault",
    "LatencyFault",
    "LockoutFault",
    "LoseResponseFault",
    "MalformedFault",
    "OutageFault",
    "Scenario",
    "ScenarioError",
    "StatusChange",
    "TimelineEvent",
    "WsDisconnect",
    "WsSilence",
    "load_scenario",
    "parse_scenario",
]

PUBLIC_ENDPOINTS = ("Time", "SystemStatus", "AssetPairs", "Ticker", "OHLC")
MARKET_ENDPOINTS = ("Depth", "Trades", "Spread", "Assets")
PRIVATE_ENDPOINTS = (
    "Balance",
    "AddOrder",
    "AddOrderBatch",
    "CancelOrder",
    "CancelAll",
    "CancelAllOrdersAfter",
    "OpenOrders",
    "ClosedOrders",
    "QueryOrders",
    "GetWebSocketsToken",
)
RECORD_ENDPOINTS = (
    "TradesHistory",
    "QueryTrades",
    "Ledgers",
    "QueryLedgers",
    "TradeVolume",
    "TradeBalance",
    "BalanceEx",
    "CancelOrderBatch",
    "AmendOrder",
    "EditOrder",
)
ENDPOINTS = frozenset(PUBLIC_ENDPOINTS + MARKET_ENDPOINTS + PRIVATE_ENDPOINTS + RECORD_ENDPOINTS)
SystemStatusName = Literal["online", "maintenance", "cancel_only", "post_only"]

Probability = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0.0)]
Positive = Annotated[float, msgspec.Meta(gt=0.0)]
Count = Annotated[int, msgspec.Meta(ge=1)]


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message names the file and the offending key."""


class _Spec(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="kind"
):
    pass


class _WindowedFault(_Spec, frozen=True, kw_only=True):
    endpoints: tuple[str, ...] = ()
    calls: Count | None = None
    start_s: NonNegative = 0.0
    duration_s: Positive | None = None
    probability: Probability = 1.0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.endpoints) - ENDPOINTS)
        if unknown:
            raise ValueError(f"unknown endpoints {unknown}; known: {sorted(ENDPOINTS)}")


class OutageFault(_WindowedFault, frozen=True, kw_only=True, tag="outage"):
    """``http``: a 5xx with an HTML body; ``unavailable``/``busy``: HTTP 200 with EService error."""

    response: Literal["http", "unavailable", "busy"] = "http"
    http_status: Annotated[int, msgspec.Meta(ge=500, le=599)] = 503


class LatencyFault(_WindowedFault, frozen=True, kw_only=True, tag="latency"):
    distribution: Literal["fixed", "uniform", "normal"] = "fixed"
    ms: NonNegative = 0.0
    low_ms: NonNegative = 0.0
    high_ms: NonNegative = 0.0
    mean_ms: NonNegative = 0.0
    stddev_ms: NonNegative = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.distribution == "uniform" and self.high_ms < self.low_ms:
            raise ValueError("uniform latency needs low_ms <= high_ms")


class LoseResponseFault(_WindowedFault, frozen=True, kw_only=True, tag="lose_response"):
    """The request is processed (an order is really placed) but the client never sees the answer.

    ``timeout``: the server holds the response for ``hold_s``; ``drop``: the connection is closed;
    ``http_502``: a gateway error page is returned instead.
    """

    endpoints: tuple[str, ...] = ("AddOrder", "AddOrderBatch")
    mode: Literal["timeout", "drop", "http_502"] = "timeout"
    hold_s: Positive = 30.0


class LateLandingFault(_WindowedFault, frozen=True, kw_only=True, tag="late_landing"):
    """The request reaches the matching engine only ``hold_s`` after it arrived (a queue under
    load). Kraken's ``deadline`` is checked when the engine sees it, so an order held past its
    deadline is rejected with ``EService:Deadline elapsed``.

    ``answer``: ``late`` answers once the engine has decided; ``drop`` closes the connection at
    once, while the order is still held (the client learns nothing).
    """

    endpoints: tuple[str, ...] = ("AddOrder", "AddOrderBatch")
    hold_s: Positive = 5.0
    answer: Literal["late", "drop"] = "late"


class MalformedFault(_WindowedFault, frozen=True, kw_only=True, tag="malformed"):
    """The request is processed, then the answer is mangled."""

    mode: Literal["html", "truncated_json", "missing_result", "wrong_types"] = "truncated_json"


class LockoutFault(_Spec, frozen=True, kw_only=True, tag="lockout"):
    """Private endpoints answer ``EGeneral:Temporary lockout`` during the window."""

    start_s: NonNegative = 0.0
    duration_s: Positive = 900.0


class StatusChange(_Spec, frozen=True, kw_only=True, tag="status"):
    at_s: NonNegative
    status: SystemStatusName


class WsDisconnect(_Spec, frozen=True, kw_only=True, tag="ws_disconnect"):
    at_s: NonNegative = 0.0


class WsSilence(_Spec, frozen=True, kw_only=True, tag="ws_silence"):
    at_s: NonNegative = 0.0
    duration_s: Positive = 10.0


Fault = (
    OutageFault
    | LatencyFault
    | LoseResponseFault
    | LateLandingFault
    | MalformedFault
    | LockoutFault
)
TimelineEvent = StatusChange | WsDisconnect | WsSilence


class AccountSetup(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One more API key: its own secret, balances, nonce state, REST counter and tier.

    ``account_of`` (the key of the default account or of an earlier setup) makes it another API
    key of that account instead, as on Kraken: its own secret and nonces, the account's orders,
    balances and limits (``tier`` and ``balances`` are then the account's, these are ignored).
    """

    key: Annotated[str, msgspec.Meta(min_length=1)]
    secret: Annotated[str, msgspec.Meta(min_length=1)]
    account_of: str | None = None
    tier: Literal["starter", "intermediate", "pro"] = "starter"
    balances: dict[str, Decimal] | None = None
    nonce_window: Annotated[int, msgspec.Meta(ge=0)] = 0

    def __repr__(self) -> str:
        return f"AccountSetup(key={self.key!r}, tier={self.tier!r})"


class Scenario(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    seed: int | None = None
    accounts: tuple[AccountSetup, ...] = ()
    prices: dict[str, Decimal] = {}
    faults: tuple[Fault, ...] = ()
    timeline: tuple[TimelineEvent, ...] = ()


def parse_scenario(data: Any, source: str = "scenario") -> Scenario:
    """Build a scenario from already-parsed YAML/JSON data."""
    if data is None:
        return Scenario()
    try:
        return msgspec.convert(data, Scenario)
    except msgspec.ValidationError as e:
        raise ScenarioError(f"{source}: {e}") from None


def load_scenario(path: str | Path) -> Scenario:
    """Read a ``.json`` file as JSON and anything else as YAML."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ScenarioError(f"{path}: cannot read scenario file ({e.strerror})") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ScenarioError(
            f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {e}"
        ) from None
    return parse_scenario(data, str(path))
