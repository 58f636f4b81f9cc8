"""Value checks for config keys that a type alone cannot express: URLs, time zones, RFC 3339
timestamps and names that must come from a known set.

Each check raises :class:`KeyProblem` naming the key (the field) it was given. Raised from a
config Struct's ``__post_init__``, msgspec wraps it in a ``ValidationError`` whose path is the
Struct; ``schemas.config`` joins the two into the key's full path
(``$.market_data.sessions[0].timezone``).
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
import zoneinfo
from collections.abc import Iterable

__all__ = [
    "ERROR_CATEGORIES",
    "HOLIDAY_CALENDARS",
    "KeyProblem",
    "check_known",
    "check_timezone",
    "check_unique",
    "check_url",
    "parse_rfc3339",
]

_HOLIDAY_CALENDAR_NAMES = (
    # Every name ``exchange_calendars.get_calendar`` accepts (ISO MIC codes and their aliases),
    # which is what the market-data actor's holiday notes are built from. Schemas do not import
    # that library (it takes a second); tests/unit/test_config_validation.py keeps this in step.
    "24/5 24/7 AIXK ARCX ASEX ASX BATS BMF BSE BVB BVMF CBOT CFE CME CMES COMEX FWB HKEX ICE "
    "ICEUS IEPA JKT JPX LSE LUXSE NASDAQ NYFE NYMEX NYSE OOTC OSE SIX SSE TASE TSX XAMS XASE "
    "XASX XBDA XBEL XBKK XBOG XBOM XBRA XBRU XBSE XBUD XBUE XCBF XCSE XCYS XDUB XDUS XEEE XETR "
    "XEUR XFRA XHAM XHEL XHKG XICE XIDX XIST XJSE XKAR XKLS XKRX XLIM XLIS XLIT XLJU XLON XLUX "
    "XMAD XMEX XMIL XMOS XNAS XNYS XNZE XOSL XPAR XPHS XPRA XRIS XSAU XSES XSGO XSHG XSTO XSTU "
    "XSWX XTAE XTAI XTAL XTKS XTSE XTSX XWAR XWBO XZAG us_futures"
)

_ERROR_CATEGORY_NAMES = (
    # The values of actors.error_classifier.categories.ErrorCategory (kept in step by a test).
    "rate_limit throttled nonce session_expired auth permission account lockout "
    "insufficient_funds margin invalid_order orders_limit invalid_arguments index_unavailable "
    "unknown_asset unknown_order funding market_mode service_unavailable busy internal "
    "deadline_elapsed network gateway warning unknown"
)

HOLIDAY_CALENDARS = frozenset(_HOLIDAY_CALENDAR_NAMES.split())
ERROR_CATEGORIES = frozenset(_ERROR_CATEGORY_NAMES.split())

# RFC 3339 date-time with a mandatory offset; the forms datetime.fromisoformat also accepts
# (week dates, compact 20240101T…, no offset) are refused so the file means one thing, and so
# is a lowercase ``z``, which the market-data actor's parser does not read.
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?(?P<offset>Z|[+-]\d{2}:\d{2})$"
)


class KeyProblem(ValueError):
    """A bad value for ``key`` (a field of the Struct being checked)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"`{key}`: {problem}")
        self.key = key
        self.problem = problem


def check_timezone(key: str, name: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise KeyProblem(
            key, f"{name!r} is not a known IANA time zone (e.g. Europe/London)"
        ) from None


def parse_rfc3339(key: str, text: str) -> dt.datetime:
    """The aware datetime ``text`` names, e.g. ``2025-01-01T00:00:00Z``."""
    match = _RFC3339.match(text)
    moment: dt.datetime | None = None
    if match is not None:
        offset = match["offset"]
        try:
            moment = dt.datetime.fromisoformat(
                text[: match.start("offset")] + ("+00:00" if offset == "Z" else offset)
            )
        except ValueError:
            moment = None
    if moment is None:
        raise KeyProblem(
            key, f"{text!r} is not an RFC 3339 timestamp with offset (e.g. 2025-01-01T02:00:00Z)"
        )
    return moment


def check_url(key: str, url: str, schemes: tuple[str, ...], *, path_allowed: bool = True) -> None:
    """Scheme in ``schemes``, a host, a port (if any) in 1..65535, no stray characters."""
    shown = _redacted(url)
    if not url or url != url.strip() or any(c.isspace() or ord(c) < 0x20 for c in url):
        raise KeyProblem(key, f"{shown!r} is not a URL (empty or contains spaces)")
    expected = " or ".join(f"{scheme}://" for scheme in schemes)
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise KeyProblem(key, f"{shown!r} has a bad port (expected a number in 1..65535)") from None
    if parts.scheme.lower() not in schemes:
        raise KeyProblem(key, f"{shown!r} must start with {expected}")
    if not parts.hostname:
        raise KeyProblem(key, f"{shown!r} has no host (expected {expected}HOST[:PORT])")
    if port is not None and not 1 <= port <= 65535:
        raise KeyProblem(key, f"{shown!r} has port {port}, expected 1..65535")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise KeyProblem(key, f"{shown!r} must not have a query or fragment")
    if not path_allowed and parts.path not in ("", "/"):
        raise KeyProblem(key, f"{shown!r} must not have a path")


def check_known(
    key: str, values: Iterable[str], known: frozenset[str], what: str, *, hint: str = ""
) -> None:
    unknown = [value for value in values if value not in known]
    if unknown:
        listed = hint or "known: " + ", ".join(sorted(known))
        raise KeyProblem(key, f"unknown {what} {', '.join(map(repr, unknown))} ({listed})")


def check_unique(key: str, values: Iterable[str]) -> None:
    seen: set[str] = set()
    repeated: list[str] = []
    for value in values:
        if value in seen and value not in repeated:
            repeated.append(value)
        seen.add(value)
    if repeated:
        raise KeyProblem(key, f"{', '.join(map(repr, repeated))} appears more than once")


def _redacted(url: str) -> str:
    """``url`` without the password of a ``user:password@`` part: error messages get logged."""
    scheme, separator, rest = url.partition("://")
    if not separator or "@" not in rest.split("/", 1)[0]:
        return url
    userinfo, _, host = rest.partition("@")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in userinfo else f"{scheme}://***@{host}"
