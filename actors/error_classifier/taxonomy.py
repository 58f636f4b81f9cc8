"""Turning Kraken error strings and transport failures into a :class:`Classification`.

Matching is by documented prefix, never substring: the text is split on ``:``, each part is
whitespace-collapsed and case-folded, and the longest catalogued prefix wins; what follows is
kept as ``detail``. Only the first :data:`MAX_TEXT_CHARS` characters are looked at and no
regular expression is used, so any input classifies in time linear in that cap.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from functools import reduce

import msgspec

from actors.error_classifier.catalogue import (
    CATALOGUE,
    MAX_PREFIX_PARTS,
    WS_TEXT_PREFIXES,
    normalize_part,
)
from actors.error_classifier.categories import ErrorCategory, Severity, severity_of, worse
from schemas.events import KrakenCallFailed, OperationKind

__all__ = [
    "MAX_ERRORS_PER_CALL",
    "MAX_TEXT_CHARS",
    "NOT_SENT",
    "Classification",
    "ErrorMatch",
    "classify_call",
    "classify_error",
    "classify_errors",
    "classify_text",
]

MAX_TEXT_CHARS = 1024
"""Catalogued strings are short; nothing past this is read."""
MAX_KEPT_CHARS = 200
"""How much of the original text a classification keeps (for logs and events)."""
MAX_ERRORS_PER_CALL = 64
_MAX_TIMESTAMP_CHARS = 24
_NS_PER_S = 1_000_000_000

_PREFIXES: dict[tuple[str, ...], tuple[str, ErrorCategory]] = {
    tuple(normalize_part(p) for p in code.split(":")): (code, category)
    for code, category in CATALOGUE.items()
}
_WS_TEXT_PREFIXES: dict[str, tuple[str, ErrorCategory]] = {
    normalize_part(code): (code, category) for code, category in WS_TEXT_PREFIXES.items()
}
_FAMILIES = ("general", "auth", "api", "query", "order", "trade", "funding", "service")
_WARNING_FAMILIES = frozenset(f"w{name}" for name in _FAMILIES)
_TRANSPORT_CODES = {
    "timeout": ("transport:timeout", ErrorCategory.NETWORK),
    "connection": ("transport:connection", ErrorCategory.NETWORK),
    "http_5xx": ("transport:http_5xx", ErrorCategory.GATEWAY),
    "non_json": ("transport:non_json", ErrorCategory.GATEWAY),
    # Nothing was sent: a configuration problem, never retried or reconciled.
    "no_credentials": ("transport:no_credentials", ErrorCategory.AUTH),
}
NOT_SENT = frozenset({"no_credentials"})
"""Transport errors of calls that never left the process: they say nothing about Kraken."""
_FAMILY_FALLBACKS = {"eauth": ("EAuth:*", ErrorCategory.AUTH)}
"""Unlisted strings of these families still classify: the official SDK treats every
``EAuth:*`` as an unrecoverable authentication failure (KRAKEN.md §2.6)."""
_AMBIGUOUS_ON_PLACE = frozenset(
    {ErrorCategory.INTERNAL, ErrorCategory.NETWORK, ErrorCategory.GATEWAY}
)


class ErrorMatch(msgspec.Struct, frozen=True, kw_only=True):
    """One error string (or transport failure) and what it means."""

    category: ErrorCategory
    severity: Severity
    code: str
    """The catalogued string that matched (``EGeneral:Invalid arguments``), a transport code
    (``transport:timeout``, ``http:502``), or ``""`` when nothing matched."""
    detail: str = ""
    text: str = ""
    """The original text, UTF-8-safe and cut to a few hundred characters."""
    retry_not_before_ns: int | None = None

    @property
    def key(self) -> str:
        """A bounded-cardinality name for statistics: the code, else the start of the text."""
        return self.code or f"unknown:{self.text[:80]}"


class Classification(msgspec.Struct, frozen=True, kw_only=True):
    """A whole response: the worst of its errors, plus every individual match."""

    category: ErrorCategory
    severity: Severity
    code: str
    detail: str
    text: str
    matches: tuple[ErrorMatch, ...]
    retry_not_before_ns: int | None = None
    outcome_unknown: bool = False
    """True when a placement may or may not have reached the engine: reconcile first."""

    @property
    def key(self) -> str:
        return self.code or f"unknown:{self.text[:80]}"


def _safe_text(text: str) -> str:
    # Lone surrogates would make every later encode (msgspec, logs) raise.
    return text[:MAX_KEPT_CHARS].encode("utf-8", "replace").decode("utf-8")


def _as_text(raw: str | bytes | object) -> str:
    if isinstance(raw, str):
        return raw[:MAX_TEXT_CHARS]
    if isinstance(raw, bytes | bytearray | memoryview):
        return bytes(raw[: MAX_TEXT_CHARS * 4]).decode("utf-8", "replace")[:MAX_TEXT_CHARS]
    return ""


def _parse_unix_seconds(detail: str) -> int | None:
    digits = detail.strip()
    if not digits or len(digits) > _MAX_TIMESTAMP_CHARS:
        return None
    if not digits.replace(".", "", 1).isascii() or not digits.replace(".", "", 1).isdigit():
        return None
    try:
        return int(Decimal(digits) * _NS_PER_S)
    except InvalidOperation:
        return None


def classify_text(raw: str | bytes) -> ErrorMatch:
    """Classify one error string. Never raises, whatever the input."""
    text = _as_text(raw)
    kept = _safe_text(text)
    parts = text.split(":", MAX_PREFIX_PARTS)
    normalized = [normalize_part(p) for p in parts[:MAX_PREFIX_PARTS]]
    for length in range(len(normalized), 0, -1):
        found = _PREFIXES.get(tuple(normalized[:length]))
        if found is None:
            continue
        code, category = found
        detail = _safe_text(":".join(parts[length:]).strip())
        not_before = _parse_unix_seconds(detail) if category is ErrorCategory.THROTTLED else None
        return ErrorMatch(
            category=category,
            severity=severity_of(category),
            code=code,
            detail=detail,
            text=kept,
            retry_not_before_ns=not_before,
        )
    for prefix, (code, category) in _WS_TEXT_PREFIXES.items():
        if len(normalized) == 1 and normalized[0].startswith(prefix):
            detail = _safe_text(text.strip()[len(code) :].strip())
            return ErrorMatch(
                category=category,
                severity=severity_of(category),
                code=code,
                detail=detail,
                text=kept,
            )
    fallback = _FAMILY_FALLBACKS.get(normalized[0]) if len(normalized) > 1 else None
    if fallback is not None:
        code, category = fallback
        detail = _safe_text(":".join(parts[1:]).strip())
        return ErrorMatch(
            category=category, severity=severity_of(category), code=code, detail=detail, text=kept
        )
    category = (
        ErrorCategory.WARNING
        if normalized and normalized[0] in _WARNING_FAMILIES
        else ErrorCategory.UNKNOWN
    )
    return ErrorMatch(category=category, severity=severity_of(category), code="", text=kept)


def _combine(matches: tuple[ErrorMatch, ...], outcome_unknown: bool = False) -> Classification:
    worst_category = reduce(worse, (m.category for m in matches))
    worst = next(m for m in matches if m.category is worst_category)
    severity = worst.severity
    if outcome_unknown and severity in (Severity.WARNING, Severity.TRANSIENT):
        severity = Severity.AMBIGUOUS
    not_before = [m.retry_not_before_ns for m in matches if m.retry_not_before_ns is not None]
    return Classification(
        category=worst.category,
        severity=severity,
        code=worst.code,
        detail=worst.detail,
        text=worst.text,
        matches=matches,
        retry_not_before_ns=max(not_before) if not_before else None,
        outcome_unknown=outcome_unknown,
    )


def classify_error(raw: str | bytes) -> Classification:
    """Classify one error string as a whole response."""
    return _combine((classify_text(raw),))


def classify_errors(raws: Iterable[str | bytes]) -> Classification:
    """Classify every error of one response; the worst one names the result."""
    matches: list[ErrorMatch] = []
    for raw in raws:
        if len(matches) >= MAX_ERRORS_PER_CALL:
            break
        matches.append(classify_text(raw))
    if not matches:
        matches.append(_no_error_string())
    return _combine(tuple(matches))


def _no_error_string() -> ErrorMatch:
    return ErrorMatch(
        category=ErrorCategory.UNKNOWN,
        severity=Severity.UNKNOWN,
        code="",
        detail="no error string",
    )


def _transport_match(transport_error: str | None, http_status: int | None) -> ErrorMatch:
    if http_status == 429:
        # The REST client reports it as ``http_status``; it is Cloudflare's rate limit.
        code, category = "http:429", ErrorCategory.RATE_LIMIT
    elif transport_error in _TRANSPORT_CODES:
        code, category = _TRANSPORT_CODES[transport_error]
        if transport_error == "http_5xx" and http_status is not None:
            code = f"http:{http_status}"
    elif http_status is not None and 100 <= http_status <= 599:
        code, category = f"http:{http_status}", ErrorCategory.GATEWAY
    else:
        code, category = "transport:other", ErrorCategory.NETWORK
    detail = _safe_text(transport_error or "")
    return ErrorMatch(category=category, severity=severity_of(category), code=code, detail=detail)


def classify_call(event: KrakenCallFailed) -> Classification:
    """Classify a failed call: its Kraken error strings plus any transport failure.

    With a transport failure the ``errors`` tuple holds descriptions, not Kraken strings, so
    unmatched texts are ignored then. A placement is marked ``outcome_unknown`` when the
    caller says so, or when the worst failure is internal/network/gateway.
    """
    transport = event.transport_error is not None or (
        event.http_status is not None and event.http_status != 200
    )
    matches: list[ErrorMatch] = []
    for raw in event.errors[:MAX_ERRORS_PER_CALL]:
        match = classify_text(raw)
        if transport and match.category is ErrorCategory.UNKNOWN:
            continue
        matches.append(match)
    if transport:
        matches.append(_transport_match(event.transport_error, event.http_status))
    if not matches:
        matches.append(_no_error_string())
    combined = _combine(tuple(matches))
    outcome_unknown = event.outcome_unknown or (
        event.operation is OperationKind.PLACE and combined.category in _AMBIGUOUS_ON_PLACE
    )
    if outcome_unknown:
        combined = _combine(combined.matches, outcome_unknown=True)
    return combined
