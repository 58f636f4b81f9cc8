"""Kraken wire formatting: envelopes, decimal strings and timestamps."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache
from typing import Any

from aiohttp import web

__all__ = [
    "NANOS_PER_SECOND",
    "compact_json",
    "error_response",
    "format_decimal",
    "ok_response",
    "rfc1123",
    "rfc3339_micros",
    "rfc3339_seconds",
    "unix_seconds_float",
]

NANOS_PER_SECOND = 1_000_000_000


def format_decimal(value: Decimal, places: int) -> str:
    """A fixed-point decimal string with exactly ``places`` digits after the point."""
    return f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN):f}"


def _utc(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / NANOS_PER_SECOND, tz=UTC)


def rfc3339_seconds(ns: int) -> str:
    """``2025-11-11T00:17:10Z`` as in SystemStatus and CancelAllOrdersAfter."""
    return _utc(ns).strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=16)
def _rfc3339_second(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def rfc3339_micros(ns: int) -> str:
    """``2023-09-25T09:04:31.742648Z`` as in WS v2 ``time_in``/``time_out``/``timestamp``."""
    seconds, rest = divmod(ns, NANOS_PER_SECOND)
    # Every WS reply and execution entry carries one: format each second once.
    return f"{_rfc3339_second(seconds)}.{rest // 1000:06d}Z"


def rfc1123(ns: int) -> str:
    """``Tue, 11 Nov 25 00:17:04 +0000``: Kraken's Time uses a two-digit year."""
    return _utc(ns).strftime("%a, %d %b %y %H:%M:%S +0000")


def unix_seconds_float(ns: int) -> float:
    """Order timestamps (``opentm``/``closetm``) are JSON numbers with fractional seconds."""
    return round(ns / NANOS_PER_SECOND, 4)


def compact_json(value: Any) -> str:
    """JSON as Kraken sends it: no spaces after separators."""
    return json.dumps(value, separators=(",", ":"))


def _json_response(payload: dict[str, Any]) -> web.Response:
    return web.Response(text=compact_json(payload), content_type="application/json")


def ok_response(result: Any) -> web.Response:
    return _json_response({"error": [], "result": result})


def error_response(*errors: str) -> web.Response:
    """Kraken answers errors with HTTP 200 and an ``error`` array (live Kraken omits ``result``)."""
    return _json_response({"error": list(errors)})
