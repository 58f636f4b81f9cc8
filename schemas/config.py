"""Configuration: one YAML file decoded into frozen Structs that reject unknown keys.

Every value is checked when the file is loaded, before anything starts: URLs, time zones,
timestamps and names from known sets included (``schemas.config_checks``). An empty or
comment-only file is an error; ``{}`` runs on the built-in defaults.

The seed system's keys and defaults are kept (``market_data.*``, ``execution.*``). Secrets are
never part of the file: the Kraken key and secret come only from ``KRAKEN_API_KEY`` /
``KRAKEN_API_SECRET`` (or a 0600 file named by ``KRAKEN_API_SECRET_FILE``).
"""

from __future__ import annotations

import datetime as dt
import enum
import os
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import msgspec

from schemas.config_checks import (
    ERROR_CATEGORIES,
    HOLIDAY_CALENDARS,
    KeyProblem,
    check_known,
    check_timezone,
    check_unique,
    check_url,
    parse_rfc3339,
)
from schemas.config_yaml import YAMLError, load_yaml

__all__ = [
    "BreakerConfig",
    "ConfigError",
    "ErrorClassifierConfig",
    "ExecutionConfig",
    "GalFridayConfig",
    "KrakenConfig",
    "KrakenTier",
    "MaintenanceWindow",
    "MarketDataConfig",
    "NatsConfig",
    "OrderEntry",
    "SessionConfig",
    "VolatilityConfig",
    "decode_config",
    "load_config",
]

# Finite by bound: ``.inf`` is accepted by gt/ge alone, and no setting here means anything
# beyond ~30 years of seconds.
_LARGEST_FLOAT = 1e9
PositiveFloat = Annotated[float, msgspec.Meta(gt=0, le=_LARGEST_FLOAT)]
NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0, le=_LARGEST_FLOAT)]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
Ratio = Annotated[float, msgspec.Meta(gt=0, le=1)]
ClockTime = Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
Timeframe = Annotated[str, msgspec.Meta(pattern=r"^[1-9]\d*[smhd]$")]


class ConfigError(ValueError):
    """Bad configuration; the message names the key and what was expected."""


class _Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class NatsConfig(_Config, frozen=True, kw_only=True):
    url: str = "nats://127.0.0.1:4222"
    subject_root: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")] = "gf"
    user: str | None = None
    password: str | None = None
    token: str | None = None
    creds_file: str | None = None
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    connect_timeout_s: PositiveFloat = 2.0
    max_reconnect_wait_s: PositiveFloat = 5.0
    first_connect_timeout_s: PositiveFloat = 30.0
    """An actor's first connect retries (backoff with jitter) this long, then it exits 1."""
    monitor_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8222
    """HTTP monitor of the nats-server ``galfriday up`` starts; 0: none."""
    handler_concurrency: PositiveInt = 64
    """Messages in flight per subscription; each subscription has its own budget."""
    stream_replicas: Annotated[int, msgspec.Meta(ge=1, le=5)] = 1
    """Cluster nodes that keep each stream and KV bucket (3 on a 3-node cluster)."""
    stop_grace_s: PositiveFloat = 8.0
    """On SIGTERM/SIGINT, how long in-flight handlers may run on; the rest are cancelled and
    their stored messages handed back for redelivery (under Docker's 10 s stop timeout)."""

    def __post_init__(self) -> None:
        check_url("url", self.url, ("nats", "tls", "ws", "wss"), path_allowed=False)
        if (self.user is None) != (self.password is None):
            raise KeyProblem("password" if self.user else "user", "set both user and password")
        if self.tls_key_file is not None and self.tls_cert_file is None:
            raise KeyProblem("tls_cert_file", "tls_key_file is set without a certificate")


class KrakenTier(enum.StrEnum):
    STARTER = "starter"
    INTERMEDIATE = "intermediate"
    PRO = "pro"


class OrderEntry(enum.StrEnum):
    WS = "ws"
    REST = "rest"


class KrakenConfig(_Config, frozen=True, kw_only=True):
    """Where Kraken is. Defaults point at the embedded simulated exchange (``galfriday sim``)."""

    rest_url: str = "http://127.0.0.1:8900"
    ws_url: str = "ws://127.0.0.1:8900/ws/v2"
    tier: KrakenTier = KrakenTier.STARTER
    nonce_window: NonNegativeInt = 0
    request_timeout_s: PositiveFloat = 10.0
    ws_silence_timeout_s: PositiveFloat = 5.0
    user_agent: str = "galfriday/0.1"
    order_entry: OrderEntry = OrderEntry.WS
    """Where the batch router places orders: ``ws`` (the authenticated WS v2 endpoint, REST
    automatically while it is unusable: down, its ``kraken.ws_trading`` breaker not CLOSED, or
    not offered by the venue at start) or ``rest``."""
    ws_auth_url: str = ""
    """The authenticated WS v2 endpoint; empty: derived from ``ws_url`` (Kraken's ``ws.`` host
    becomes ``ws-auth.``, any other URL gets ``-auth`` after its path, as the simulator serves)."""

    def __post_init__(self) -> None:
        check_url("rest_url", self.rest_url, ("http", "https"))
        check_url("ws_url", self.ws_url, ("ws", "wss"))
        if self.ws_auth_url:
            check_url("ws_auth_url", self.ws_auth_url, ("ws", "wss"))
        if not self.user_agent.isprintable() or not self.user_agent.strip():
            raise KeyProblem("user_agent", "must be printable text (no line breaks)")


class VolatilityConfig(_Config, frozen=True, kw_only=True):
    timeframes: tuple[Timeframe, ...] = ("1m", "5m", "15m", "1h")
    window_bars: Annotated[int, msgspec.Meta(ge=2)] = 30
    ewma_lambda: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.94

    def __post_init__(self) -> None:
        check_unique("timeframes", self.timeframes)


class SessionConfig(_Config, frozen=True, kw_only=True):
    name: str
    timezone: str
    open: ClockTime
    close: ClockTime

    def __post_init__(self) -> None:
        check_timezone("timezone", self.timezone)


def _default_sessions() -> tuple[SessionConfig, ...]:
    return (
        SessionConfig(name="asia", timezone="Asia/Tokyo", open="09:00", close="18:00"),
        SessionConfig(name="europe", timezone="Europe/London", open="08:00", close="17:00"),
        SessionConfig(name="us", timezone="America/New_York", open="08:00", close="17:00"),
    )


class MaintenanceWindow(_Config, frozen=True, kw_only=True):
    """A scheduled window, RFC 3339 start/end, during which ``status`` applies."""

    start: str
    end: str
    status: Annotated[str, msgspec.Meta(pattern=r"^(maintenance|cancel_only|post_only)$")] = (
        "maintenance"
    )
    exchange: str = "kraken"

    def __post_init__(self) -> None:
        if parse_rfc3339("end", self.end) <= parse_rfc3339("start", self.start):
            raise KeyProblem(
                "end", f"{self.end!r} is not after {self.start!r}: the window ends before it starts"
            )


BOOK_DEPTHS = (10, 25, 100, 500, 1000)


class BookConfig(_Config, frozen=True, kw_only=True):
    """The L2 book from Kraken's WS v2 ``book`` channel (issue 15)."""

    depth: int = 10
    """Subscribed depth: one of Kraken's 10, 25, 100, 500, 1000."""
    top_n: PositiveInt = 10
    """Levels per side in each ``BookUpdated``."""
    min_interval_s: NonNegativeFloat = 0.25
    """At most one ``BookUpdated`` per pair per interval (the latest book wins)."""
    depth_bps: Decimal = Decimal(10)
    """The price cache keeps the quantity resting within this many basis points of the mid."""

    def __post_init__(self) -> None:
        if self.depth not in BOOK_DEPTHS:
            raise ValueError(f"book.depth must be one of {list(BOOK_DEPTHS)}, got {self.depth}")
        if not self.depth_bps.is_finite() or not 0 < self.depth_bps <= 10_000:
            raise ValueError(f"book.depth_bps must be in (0, 10000], got {self.depth_bps}")


class MarketDataConfig(_Config, frozen=True, kw_only=True):
    cache_ttl_seconds: PositiveFloat = 1.0
    staleness_threshold_seconds: PositiveFloat = 30.0
    default_exchange: str = "kraken"
    pairs: tuple[str, ...] = ("BTC/USD", "ETH/USD")
    rest_poll_interval_s: PositiveFloat = 1.0
    """REST Ticker polling period while the WebSocket is down (one call covers all pairs)."""
    status_poll_interval_s: PositiveFloat = 30.0
    volatility: VolatilityConfig = msgspec.field(default_factory=VolatilityConfig)
    sessions: tuple[SessionConfig, ...] = msgspec.field(default_factory=_default_sessions)
    maintenance_windows: tuple[MaintenanceWindow, ...] = ()
    holiday_calendars: tuple[str, ...] = ("XNYS", "XLON", "XTKS")
    """Names from the ``exchange_calendars`` library (ISO MIC codes such as XNYS, or aliases)."""
    book: BookConfig | None = None
    """L2 order books of the feed pairs; ``None`` (the default) subscribes no ``book`` channel."""

    def __post_init__(self) -> None:
        check_unique("pairs", self.pairs)
        check_unique("sessions", (session.name for session in self.sessions))
        check_known(
            "holiday_calendars",
            self.holiday_calendars,
            HOLIDAY_CALENDARS,
            "holiday calendar",
            hint="exchange_calendars names such as XNYS, XLON, XTKS, XHKG",
        )
        check_unique("holiday_calendars", self.holiday_calendars)


class ExecutionConfig(_Config, frozen=True, kw_only=True):
    retry_base_delay_s: NonNegativeFloat = 1.0
    max_retries: NonNegativeInt = 3
    max_batch_size: PositiveInt = 50
    parallel_limit: PositiveInt = 10
    batch_timeout: PositiveFloat = 30.0
    risk_check_enabled: bool = True
    max_batch_exposure: Decimal = Decimal("100000.0")
    max_order_notional: Decimal = Decimal("50000")
    price_collar_ratio: Decimal = Decimal("0.05")
    """Limit prices further than this share from the reference price are rejected."""
    volatility_ceiling: PositiveFloat | None = None
    """RISK_AWARE pauses while an annualized volatility reading is above this."""
    volatility_timeframe: Timeframe = "1m"
    """The bar timeframe whose volatility readings RISK_AWARE uses (others are ignored)."""
    verdict_timeout_s: PositiveFloat = 0.5
    batch_ack_wait_s: PositiveFloat = 15.0
    """How long a batch may go without an ack or progress heartbeat (sent every third of
    this) before JetStream hands it to another router: the resume delay after a crash. It
    applies when the durable consumer is first created."""
    reconcile_attempts: PositiveInt = 3
    reconcile_delay_s: NonNegativeFloat = 0.5
    placement_deadline_s: Annotated[float, msgspec.Meta(ge=2.0, le=60.0)] = 5.0
    """Kraken's ``deadline`` on every AddOrder/AddOrderBatch: the engine refuses the order
    after now + this (Kraken accepts 2-60 s)."""
    absent_margin_s: NonNegativeFloat = 2.0
    """An order whose answer was lost is called absent only once its deadline plus this has
    passed (clock skew, the engine's own queue)."""
    reconcile_max_s: PositiveFloat = 300.0
    """How long an unknown outcome is looked up while the venue does not answer, before it is
    reported ``unknown_outcome``."""
    batch_lease_s: PositiveFloat = 15.0
    """Ownership lease of a batch in KV, renewed (compare-and-set) before every placement; a
    router that cannot renew it stops working on the batch at once."""
    batch_id_retention_days: PositiveFloat = 30.0
    """A batch id is executed once within this retention; a later submission is refused."""
    dead_mans_switch: bool = False
    dead_mans_switch_timeout_s: Annotated[int, msgspec.Meta(gt=0, lt=86400)] = 60
    dead_mans_switch_refresh_s: PositiveFloat = 20.0

    def __post_init__(self) -> None:
        # msgspec constraints do not apply to Decimal, so these are checked by hand.
        for key in ("max_batch_exposure", "max_order_notional", "price_collar_ratio"):
            value: Decimal = getattr(self, key)
            if not value.is_finite() or value <= 0:
                raise KeyProblem(key, "must be a finite number > 0")
        if self.dead_mans_switch_refresh_s >= self.dead_mans_switch_timeout_s:
            raise KeyProblem(
                "dead_mans_switch_refresh_s",
                f"{self.dead_mans_switch_refresh_s} s must be shorter than "
                f"dead_mans_switch_timeout_s ({self.dead_mans_switch_timeout_s} s), or Kraken "
                "cancels every order between two refreshes",
            )


class BreakerConfig(_Config, frozen=True, kw_only=True):
    window_s: PositiveFloat = 60.0
    failure_rate_threshold: Ratio = 0.5
    minimum_calls: PositiveInt = 5
    consecutive_failures_to_trip: PositiveInt = 5
    outage_failures_to_trip: PositiveInt = 2
    """Consecutive front-door failures (HTML 5xx, no connection) that open the breaker, and
    the other REST scopes' with it: the exchange is unreachable."""
    open_base_s: PositiveFloat = 5.0
    open_max_s: PositiveFloat = 300.0
    lockout_s: PositiveFloat = 900.0
    half_open_timeout_s: PositiveFloat = 10.0
    """A half-open breaker whose probe got no answer in this time opens again."""


class ErrorClassifierConfig(_Config, frozen=True, kw_only=True):
    retry_cap_s: PositiveFloat = 30.0
    retry_budget_ratio: Ratio = 0.1
    strategies: dict[str, Annotated[str, msgspec.Meta(pattern=r"^(fixed|linear|exponential)$")]] = (
        msgspec.field(default_factory=dict)
    )
    """Per-category override of the delay strategy, e.g. ``{rate_limit: linear}``."""
    statistics_interval_s: PositiveFloat = 10.0
    lease_ttl_s: PositiveFloat = 3.0
    """Active/standby lease: a standby takes over after the holder left it unrenewed this long."""

    def __post_init__(self) -> None:
        check_known("strategies", self.strategies, ERROR_CATEGORIES, "error category")


class GalFridayConfig(_Config, frozen=True, kw_only=True):
    nats: NatsConfig = msgspec.field(default_factory=NatsConfig)
    kraken: KrakenConfig = msgspec.field(default_factory=KrakenConfig)
    market_data: MarketDataConfig = msgspec.field(default_factory=MarketDataConfig)
    execution: ExecutionConfig = msgspec.field(default_factory=ExecutionConfig)
    breakers: BreakerConfig = msgspec.field(default_factory=BreakerConfig)
    errors: ErrorClassifierConfig = msgspec.field(default_factory=ErrorClassifierConfig)


_MAX_FILE_BYTES = 1024 * 1024
_AT_PATH = re.compile(r" - at `(?P<path>[^`]*)`$")


def decode_config(text: bytes | str, *, source: str = "config") -> GalFridayConfig:
    """Decode YAML text into a checked config; ``source`` names it in error messages.

    An empty or comment-only document is an error (a truncated or wrong file must not run on
    defaults); the document ``{}`` means all defaults.
    """
    try:
        document = load_yaml(text)
    except YAMLError as e:
        raise ConfigError(f"{source} is not valid YAML: {' '.join(str(e).split())}") from None
    except RecursionError:
        raise ConfigError(f"{source} is not valid YAML: nested too deeply") from None
    if document is None:
        raise ConfigError(f"{source} is empty; write {{}} in it to run on the built-in defaults")
    if not isinstance(document, dict):
        raise ConfigError(
            f"{source} must be a mapping of sections (nats:, kraken:, market_data:, …), "
            f"not {type(document).__name__}"
        )
    try:
        return msgspec.convert(
            document, GalFridayConfig, builtin_types=(dt.datetime, dt.date), strict=True
        )
    except msgspec.ValidationError as e:
        raise ConfigError(f"{source}: {_naming_the_key(e)}") from None


def _naming_the_key(error: msgspec.ValidationError) -> str:
    """msgspec locates a ``__post_init__`` failure at the Struct; point at the key instead."""
    problem = error.__cause__
    if not isinstance(problem, KeyProblem):
        return str(error)
    found = _AT_PATH.search(str(error))
    return f"{problem.problem} - at `{found['path'] if found else '$'}.{problem.key}`"


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as file:
            text = file.read(_MAX_FILE_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"cannot read config file {path!r}: {e.strerror}") from None
    if len(text) > _MAX_FILE_BYTES:
        raise ConfigError(f"config file {path} is larger than {_MAX_FILE_BYTES} bytes")
    return text


_ENV_OVERRIDES = {
    "GF_NATS_URL": ("nats", "url"),
    "GF_KRAKEN_REST_URL": ("kraken", "rest_url"),
    "GF_KRAKEN_WS_URL": ("kraken", "ws_url"),
}


def load_config(path: str | None = None, env: Mapping[str, str] | None = None) -> GalFridayConfig:
    """Read ``path`` (else ``$GF_CONFIG``, else ``./config.yaml``) and apply env overrides.

    Raises ``ConfigError`` naming the file and the key for anything malformed.
    """
    environ = os.environ if env is None else env
    chosen = path or environ.get("GF_CONFIG")
    if chosen is None and Path("config.yaml").is_file():
        chosen = "config.yaml"
    if chosen is None:
        config = GalFridayConfig()
    else:
        config = decode_config(_read(chosen), source=f"config file {chosen}")
    for variable, (section, key) in _ENV_OVERRIDES.items():
        value = environ.get(variable)
        if value:
            try:
                part = msgspec.structs.replace(getattr(config, section), **{key: value})
            except KeyProblem as e:
                raise ConfigError(f"{variable}: {e.problem} - at `$.{section}.{key}`") from None
            config = msgspec.structs.replace(config, **{section: part})
    return _nats_credentials_from_env(config, environ)


def _nats_credentials_from_env(
    config: GalFridayConfig, environ: Mapping[str, str]
) -> GalFridayConfig:
    """``GF_NATS_USER``/``GF_NATS_PASSWORD`` replace the pair together (one user per actor in a
    deployment, the password kept out of the config file)."""
    user = environ.get("GF_NATS_USER") or config.nats.user
    password = environ.get("GF_NATS_PASSWORD") or config.nats.password
    if (user, password) == (config.nats.user, config.nats.password):
        return config
    try:
        nats = msgspec.structs.replace(config.nats, user=user, password=password)
    except KeyProblem as e:
        raise ConfigError(
            f"GF_NATS_USER/GF_NATS_PASSWORD: {e.problem} - at `$.nats.{e.key}`"
        ) from None
    return msgspec.structs.replace(config, nats=nats)
