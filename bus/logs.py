"""Logs as one JSON object per line, with secrets scrubbed before they are written."""

from __future__ import annotations

import logging
import re
import sys

import orjson

__all__ = ["JsonFormatter", "setup_logging"]

# API-Sign values, base64 secrets and explicit secret=... pairs never reach a log line.
_SECRET_PATTERNS = (
    re.compile(
        r"(?i)(api[-_]?sign|api[-_]?secret|secret|password|token)([\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"
    ),
)


def _scrub(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1\2***", text)
    return text


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": int(record.created * 1e9),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "event": _scrub(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = _scrub(self.formatException(record.exc_info))
        return orjson.dumps(entry).decode()


def setup_logging(service: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
