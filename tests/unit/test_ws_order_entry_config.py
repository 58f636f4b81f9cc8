"""``kraken.order_entry`` and ``kraken.ws_auth_url``: parsing, refusal, and the derived URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from kraken.ws_trading import auth_url_for
from schemas import ConfigError, load_config
from schemas.config import OrderEntry


def test_order_entry_defaults_to_ws(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("kraken: {}\n")
    assert load_config(str(path), env={}).kraken.order_entry is OrderEntry.WS


def test_order_entry_ws_and_an_auth_url_load(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("kraken: {order_entry: ws, ws_auth_url: 'wss://ws-auth.kraken.com/v2'}\n")
    kraken = load_config(str(path), env={}).kraken
    assert kraken.order_entry is OrderEntry.WS
    assert kraken.ws_auth_url == "wss://ws-auth.kraken.com/v2"


@pytest.mark.parametrize(
    ("text", "key"),
    [("order_entry: fix", "order_entry"), ("ws_auth_url: 'http://x/v2'", "ws_auth_url")],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"kraken: {{{text}}}\n")
    with pytest.raises(ConfigError, match=key):
        load_config(str(path), env={})


@pytest.mark.parametrize(
    ("ws_url", "expected"),
    [
        ("wss://ws.kraken.com/v2", "wss://ws-auth.kraken.com/v2"),
        ("wss://beta-ws.kraken.com/v2", "wss://beta-ws-auth.kraken.com/v2"),
        ("ws://127.0.0.1:8900/ws/v2", "ws://127.0.0.1:8900/ws/v2-auth"),
    ],
)
def test_auth_url_is_derived_from_the_public_one(ws_url: str, expected: str) -> None:
    assert auth_url_for(ws_url) == expected


def test_an_explicit_auth_url_wins() -> None:
    assert auth_url_for("wss://ws.kraken.com/v2", "wss://elsewhere/v2") == "wss://elsewhere/v2"
