"""API credentials, loaded only from the environment or a private (0600) secret file."""

from __future__ import annotations

import base64
import binascii
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kraken.errors import MissingCredentialsError

__all__ = ["Credentials", "load_credentials"]


@dataclass(frozen=True, slots=True)
class Credentials:
    """A Kraken API key pair. The secret is base64 as Kraken issues it and never shown."""

    api_key: str
    api_secret: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.api_key or not self.api_secret:
            raise MissingCredentialsError("API key and secret must both be non-empty")
        try:
            base64.b64decode(self.api_secret, validate=True)
        except (binascii.Error, ValueError):
            raise MissingCredentialsError("API secret is not valid base64") from None

    def __repr__(self) -> str:
        return f"Credentials(api_key={self.api_key[:4]}…, api_secret=<redacted>)"

    __str__ = __repr__


def load_credentials(env: Mapping[str, str] | None = None) -> Credentials | None:
    """Read ``KRAKEN_API_KEY`` and ``KRAKEN_API_SECRET`` or ``KRAKEN_API_SECRET_FILE``.

    Returns ``None`` when no key is configured. Raises :class:`MissingCredentialsError` when the
    configuration is half there, or the secret file is readable by group or others.
    """
    environ = os.environ if env is None else env
    api_key = environ.get("KRAKEN_API_KEY", "").strip()
    secret = environ.get("KRAKEN_API_SECRET", "").strip()
    secret_file = environ.get("KRAKEN_API_SECRET_FILE", "").strip()
    if not api_key and not secret and not secret_file:
        return None
    if not api_key:
        raise MissingCredentialsError("KRAKEN_API_KEY is not set but a secret is configured")
    if not secret and secret_file:
        secret = _read_private_file(Path(secret_file))
    if not secret:
        raise MissingCredentialsError(
            "KRAKEN_API_KEY is set but neither KRAKEN_API_SECRET nor KRAKEN_API_SECRET_FILE is"
        )
    return Credentials(api_key=api_key, api_secret=secret)


def _read_private_file(path: Path) -> str:
    try:
        mode = path.stat().st_mode
    except OSError as e:
        raise MissingCredentialsError(f"cannot read secret file {path}: {e.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise MissingCredentialsError(
            f"secret file {path} must not be accessible by group or others (chmod 600)"
        )
    return path.read_text().strip()
