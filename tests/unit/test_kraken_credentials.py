"""Credentials come only from the environment or a 0600 file, and never show the secret."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from kraken.credentials import Credentials, load_credentials
from kraken.errors import MissingCredentialsError

SECRET = base64.b64encode(b"s" * 64).decode()


def test_load_when_nothing_configured_then_none() -> None:
    """No variables means no credentials (public calls only)."""
    assert load_credentials({}) is None


def test_load_when_key_and_secret_then_credentials() -> None:
    """Key and secret come from the environment."""
    creds = load_credentials({"KRAKEN_API_KEY": "key", "KRAKEN_API_SECRET": SECRET})

    assert creds == Credentials(api_key="key", api_secret=SECRET)


def test_load_when_secret_file_private_then_read(tmp_path: Path) -> None:
    """A 0600 secret file is accepted."""
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    path.chmod(0o600)

    creds = load_credentials({"KRAKEN_API_KEY": "key", "KRAKEN_API_SECRET_FILE": str(path)})

    assert creds is not None
    assert creds.api_secret == SECRET


def test_load_when_secret_file_group_readable_then_refused(tmp_path: Path) -> None:
    """A secret file readable by others is refused."""
    path = tmp_path / "secret"
    path.write_text(SECRET)
    path.chmod(0o644)

    with pytest.raises(MissingCredentialsError, match="chmod 600"):
        load_credentials({"KRAKEN_API_KEY": "key", "KRAKEN_API_SECRET_FILE": str(path)})


@pytest.mark.parametrize(
    "env",
    [
        {"KRAKEN_API_KEY": "key"},
        {"KRAKEN_API_SECRET": SECRET},
        {"KRAKEN_API_KEY": "key", "KRAKEN_API_SECRET": "not base64!"},
    ],
)
def test_load_when_half_configured_then_error(env: dict[str, str]) -> None:
    """Half a configuration is an error, not silently public-only."""
    with pytest.raises(MissingCredentialsError):
        load_credentials(env)


def test_repr_when_printed_then_secret_hidden() -> None:
    """Neither repr nor str show the secret."""
    creds = Credentials(api_key="abcdefgh", api_secret=SECRET)

    assert SECRET not in repr(creds)
    assert SECRET not in str(creds)
    assert "redacted" in repr(creds)
