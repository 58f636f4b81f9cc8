"""Development credentials of the simulated exchange.

They are public, fixed and worthless outside the simulator: the key says so, and the secret is the
base64 of 64 bytes spelling a dev marker. Override them with ``--api-key`` / ``--api-secret`` (CLI)
or ``SimOptions(api_key=..., api_secret=...)``.
"""

from __future__ import annotations

import base64

__all__ = ["DEFAULT_API_KEY", "DEFAULT_API_SECRET"]

DEFAULT_API_KEY = "galfriday-sim-dev-key-NOT-A-REAL-KRAKEN-KEY"
DEFAULT_API_SECRET = base64.b64encode(
    b"galfriday-sim-dev-secret-not-for-real-use".ljust(64, b"0")
).decode()
