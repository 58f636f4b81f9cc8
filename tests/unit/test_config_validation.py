"""Malformed config files fail at load time with a ConfigError naming the key's full path."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas import ConfigError, load_config
from schemas.config_checks import ERROR_CATEGORIES, HOLIDAY_CALENDARS


def _session(**overrides: str) -> str:
    fields = {"name": "x", "timezone": "UTC", "open": "'09:00'", "close": "'10:00'"} | overrides
    inner = ", ".join(f"{key}: {value}" for key, value in fields.items())
    return f"market_data:\n  sessions:\n    - {{{inner}}}\n"


def _window(start: str = "2025-01-01T00:00:00Z", end: str = "2025-01-01T02:00:00Z") -> str:
    return f"market_data:\n  maintenance_windows:\n    - {{start: '{start}', end: '{end}'}}\n"


MALFORMED = [
    # (id, file text, text the message must contain)
    ("unknown_timezone", _session(timezone="Mars/Olympus"), "$.market_data.sessions[0].timezone"),
    ("empty_timezone", _session(timezone="''"), "$.market_data.sessions[0].timezone"),
    ("path_timezone", _session(timezone="../../etc/passwd"), "$.market_data.sessions[0].timezone"),
    ("window_start_yesterday", _window(start="yesterday"), "maintenance_windows[0].start"),
    ("window_end_no_offset", _window(end="2025-01-01T02:00:00"), "maintenance_windows[0].end"),
    ("window_date_only", _window(start="2025-01-01"), "maintenance_windows[0].start"),
    ("window_month_13", _window(start="2025-13-01T00:00:00Z"), "maintenance_windows[0].start"),
    ("window_compact_iso", _window(start="20250101T000000Z"), "maintenance_windows[0].start"),
    ("window_ends_first", _window(end="2024-12-31T00:00:00Z"), "maintenance_windows[0].end"),
    ("nats_url_no_host", "nats:\n  url: 'nats://'\n", "$.nats.url"),
    ("nats_url_port_99999", "nats:\n  url: nats://127.0.0.1:99999\n", "$.nats.url"),
    ("nats_url_port_0", "nats:\n  url: nats://127.0.0.1:0\n", "$.nats.url"),
    ("nats_url_port_text", "nats:\n  url: nats://127.0.0.1:abc\n", "$.nats.url"),
    ("nats_url_http", "nats:\n  url: http://127.0.0.1:4222\n", "$.nats.url"),
    ("nats_url_bare_host", "nats:\n  url: localhost\n", "$.nats.url"),
    ("nats_url_space", "nats:\n  url: 'nats://a b:4222'\n", "$.nats.url"),
    ("rest_url_not_url", "kraken:\n  rest_url: not a url\n", "$.kraken.rest_url"),
    ("rest_url_no_scheme", "kraken:\n  rest_url: api.kraken.com\n", "$.kraken.rest_url"),
    ("rest_url_ws_scheme", "kraken:\n  rest_url: wss://api.kraken.com\n", "$.kraken.rest_url"),
    ("rest_url_port", "kraken:\n  rest_url: https://api.kraken.com:70000\n", "$.kraken.rest_url"),
    ("rest_url_query", "kraken:\n  rest_url: https://api.kraken.com/?a=1\n", "$.kraken.rest_url"),
    ("ws_url_http", "kraken:\n  ws_url: https://ws.kraken.com/v2\n", "$.kraken.ws_url"),
    ("ws_url_no_host", "kraken:\n  ws_url: 'wss:///v2'\n", "$.kraken.ws_url"),
    ("user_agent_newline", 'kraken:\n  user_agent: "gf\\r\\nX-Evil: 1"\n', "$.kraken.user_agent"),
    ("unknown_holiday", "market_data:\n  holiday_calendars: [XNYS, MOON]\n", "holiday_calendars"),
    (
        "duplicate_session",
        _session() + "    - {name: x, timezone: UTC, open: '11:00', close: '12:00'}\n",
        "$.market_data.sessions",
    ),
    ("duplicate_pair", "market_data:\n  pairs: [BTC/USD, BTC/USD]\n", "$.market_data.pairs"),
    ("unknown_category", "errors:\n  strategies: {rate_limt: linear}\n", "$.errors.strategies"),
    ("infinite_timeout", "nats:\n  connect_timeout_s: .inf\n", "$.nats.connect_timeout_s"),
    (
        "refresh_after_expiry",
        "execution:\n  dead_mans_switch_refresh_s: 60\n",
        "dead_mans_switch_refresh_s",
    ),
    (
        "duplicate_section",
        "execution:\n  max_retries: 1\nexecution:\n  max_retries: 2\n",
        "execution",
    ),
    ("nats_user_without_password", "nats:\n  user: alice\n", "$.nats.password"),
    ("nats_key_without_cert", "nats:\n  tls_key_file: k.pem\n", "$.nats.tls_cert_file"),
    ("empty_file", "", "is empty"),
    ("blank_file", "\n  \n", "is empty"),
    ("comment_only_file", "# nothing here yet\n", "is empty"),
    ("null_document", "null\n", "is empty"),
    ("top_level_list", "- nats\n", "mapping of sections"),
    ("not_utf8", b"nats:\n  url: \xc3\x28\n", "not valid YAML"),
    (
        "deep_nesting",
        "market_data:\n  pairs: " + "[" * 20000 + "]" * 20000 + "\n",
        "not valid YAML",
    ),
]


@pytest.mark.parametrize(
    ("text", "named"), [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED]
)
def test_malformed_file_fails_at_load_naming_the_key(
    tmp_path: Path, text: str | bytes, named: str
) -> None:
    path = tmp_path / "gf.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(str(path), env={})
    message = str(error.value)
    assert named in message
    assert str(path) in message


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("GF_NATS_URL", "nats://", "$.nats.url"),
        ("GF_KRAKEN_REST_URL", "localhost:8900", "$.kraken.rest_url"),
        ("GF_KRAKEN_WS_URL", "ws://127.0.0.1:123456/ws/v2", "$.kraken.ws_url"),
    ],
)
def test_malformed_environment_override_names_the_variable_and_key(
    variable: str, value: str, named: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(None, env={variable: value})
    assert variable in str(error.value)
    assert named in str(error.value)


def test_url_errors_do_not_repeat_the_password(tmp_path: Path) -> None:
    path = tmp_path / "gf.yaml"
    path.write_text("nats:\n  url: nats://alice:s3cret@127.0.0.1:99999\n")
    with pytest.raises(ConfigError) as error:
        load_config(str(path), env={})
    assert "s3cret" not in str(error.value)
    assert "alice" in str(error.value)


def test_an_explicit_empty_mapping_means_all_defaults(tmp_path: Path) -> None:
    path = tmp_path / "gf.yaml"
    path.write_text("# run on the defaults\n{}\n")
    assert load_config(str(path), env={}).nats.url == "nats://127.0.0.1:4222"


def test_unquoted_timestamps_are_read_as_rfc3339(tmp_path: Path) -> None:
    path = tmp_path / "gf.yaml"
    path.write_text(
        "market_data:\n  maintenance_windows:\n"
        "    - {start: 2025-01-01T00:00:00Z, end: 2025-01-01 02:30:00+01:00}\n"
    )
    window = load_config(str(path), env={}).market_data.maintenance_windows[0]
    assert (window.start, window.end) == ("2025-01-01T00:00:00Z", "2025-01-01 02:30:00+01:00")


@pytest.mark.parametrize(
    "text",
    [
        "nats:\n  url: tls://user:pw@nats.example.com:4443\n",
        "nats:\n  url: ws://[::1]:8080\n",
        "kraken:\n  rest_url: https://api.kraken.com\n  ws_url: wss://ws.kraken.com/v2\n",
        "market_data:\n  holiday_calendars: [XNYS, NYSE, XLON]\n",
        "errors:\n  strategies: {rate_limit: linear, network: fixed}\n",
        _session(timezone="America/New_York"),
    ],
)
def test_well_formed_values_are_accepted(tmp_path: Path, text: str) -> None:
    path = tmp_path / "gf.yaml"
    path.write_text(text)
    load_config(str(path), env={})


def test_a_file_too_large_to_be_a_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("# " + "x" * (2 * 1024 * 1024) + "\n{}\n")
    with pytest.raises(ConfigError, match="larger than"):
        load_config(str(path), env={})


def test_holiday_calendar_names_match_the_library_the_market_data_actor_uses() -> None:
    import exchange_calendars

    assert set(exchange_calendars.get_calendar_names(include_aliases=True)) == HOLIDAY_CALENDARS


def test_error_categories_match_the_error_classifier() -> None:
    from actors.error_classifier.categories import ErrorCategory

    assert {category.value for category in ErrorCategory} == ERROR_CATEGORIES
