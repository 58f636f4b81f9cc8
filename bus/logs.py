"""Logs as one JSON object per line, with secrets scrubbed before they are written.

A line carries the time twice (``ts``, int ns, for machines; ``time``, RFC 3339 UTC, for
people), the event apart from its fields, and the fields as JSON values::

    {"ts": 1795910291215135744, "time": "2026-11-28T23:58:11.215135Z", "level": "info",
     "service": "batch-router", "logger": "bus.runtime", "event": "actor.started",
     "fields": {"name": "batch-router"}}

Fields come from the ``key=%s`` placeholders of the message template (``log.info("a.b x=%d",
1)``), so call sites stay plain ``logging`` calls. The level is ``--log-level`` or
``GF_LOG_LEVEL`` (``debug``, ``info``, ``warning``, ``error``), default ``info``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import sys
from collections.abc import Mapping

import orjson

__all__ = ["LOG_LEVELS", "JsonFormatter", "log_level", "setup_logging", "split_fields"]

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_LEVEL_ENV = "GF_LOG_LEVEL"

# API-Sign values, base64 secrets and explicit secret=... pairs never reach a log line.
_SECRET_PATTERNS = (
    re.compile(
        r"(?i)(api[-_]?sign|api[-_]?secret|secret|password|token)([\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"
    ),
)
_SECRET_KEY = re.compile(r"(?i)(api[-_]?sign|secret|password|token)")
# printf conversions, in order; ``key=`` right before one makes it a field.
_CONVERSION = re.compile(r"%(?:%|[-#0 +]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[sdifrxXeEgGa])")
_FIELD_KEY = re.compile(r"([A-Za-z_][\w.]*)=$")
_PRECISION = re.compile(r"\.(\d+)[fFeEgG]$")


def _scrub(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1\2***", text)
    return text


def _json_value(key: str, value: object) -> object:
    if _SECRET_KEY.search(key):
        return "***"
    if isinstance(value, bool | int | float) or value is None:
        return value
    return _scrub(str(value))


def split_fields(template: str, args: tuple[object, ...]) -> tuple[str, dict[str, object]]:
    """``("actor.started name=%s", ("x",))`` → ``("actor.started", {"name": "x"})``.

    Placeholders not preceded by ``key=`` stay in the event text. Raises ``ValueError`` when
    the template and the arguments do not match (the caller falls back to the plain message).
    """
    fields: dict[str, object] = {}
    text: list[str] = []
    position = 0
    index = 0
    for match in _CONVERSION.finditer(template):
        before = template[position : match.start()]
        position = match.end()
        spec = match.group(0)
        if spec == "%%":
            text.append(before + "%")
            continue
        if "*" in spec or index >= len(args):
            raise ValueError("template and arguments do not match")
        value = args[index]
        index += 1
        key = _FIELD_KEY.search(before)
        if key is not None:
            text.append(before[: key.start()])
            precision = _PRECISION.search(spec)
            if precision is not None and isinstance(value, float):
                value = round(value, int(precision.group(1)))  # as the template shows it
            fields[key.group(1)] = _json_value(key.group(1), value)
        else:
            text.append(before + (spec % (value,)))
    if index != len(args):
        raise ValueError("template and arguments do not match")
    text.append(template[position:])
    return " ".join("".join(text).split()), fields


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        event, fields = self._event_and_fields(record)
        entry: dict[str, object] = {
            "ts": int(record.created * 1e9),
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC)
            .isoformat(timespec="microseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "event": _scrub(event),
        }
        if fields:
            entry["fields"] = fields
        if record.exc_info:
            error = record.exc_info[1]
            if isinstance(error, KeyboardInterrupt):  # Ctrl-C is not a crash
                entry["interrupted"] = True
            else:
                entry["exception"] = _scrub(self.formatException(record.exc_info))
        return orjson.dumps(entry).decode()

    @staticmethod
    def _event_and_fields(record: logging.LogRecord) -> tuple[str, dict[str, object]]:
        if isinstance(record.msg, str) and isinstance(record.args, tuple) and record.args:
            try:
                return split_fields(record.msg, record.args)
            except (ValueError, TypeError):
                pass
        elif isinstance(record.msg, str) and not record.args:
            try:
                return split_fields(record.msg, ())
            except ValueError:
                pass
        try:
            return record.getMessage(), {}
        except (TypeError, ValueError):  # a template that does not fit its arguments
            return f"{record.msg} {record.args!r}", {}


def log_level(requested: str | None = None, env: Mapping[str, str] | None = None) -> int:
    """The level from ``--log-level`` or ``GF_LOG_LEVEL``; ``ValueError`` names a bad one."""
    name = requested or (os.environ if env is None else env).get(LOG_LEVEL_ENV) or "info"
    if name.lower() not in LOG_LEVELS:
        source = "--log-level" if requested else LOG_LEVEL_ENV
        raise ValueError(f"{source}: {name!r} is not one of {', '.join(LOG_LEVELS)}")
    return int(logging.getLevelName(name.upper()))


def setup_logging(service: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
