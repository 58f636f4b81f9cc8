"""Log lines: readable time beside the ns one, the event apart from its fields, level from
``--log-level``/``GF_LOG_LEVEL``, and Ctrl-C is not a traceback (issue 13 point 8)."""

from __future__ import annotations

import logging

import orjson
import pytest

from bus.logs import JsonFormatter, log_level, split_fields


def _record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    record = logging.LogRecord("bus.runtime", logging.INFO, __file__, 1, msg, args, exc_info)
    record.created = 1_795_910_291.215135
    return record


def _line(record: logging.LogRecord) -> dict[str, object]:
    decoded: dict[str, object] = orjson.loads(JsonFormatter("batch-router").format(record))
    return decoded


def test_a_line_has_rfc3339_time_beside_ns_and_the_event_apart_from_its_fields() -> None:
    line = _line(_record("actor.started name=%s pid=%d", "batch-router", 42))
    assert abs(int(str(line["ts"])) - 1_795_910_291_215_135_000) < 1000  # float seconds
    assert line["time"] == "2026-11-28T23:58:11.215135Z"
    assert line["event"] == "actor.started"
    assert line["fields"] == {"name": "batch-router", "pid": 42}


def test_placeholders_without_a_key_stay_in_the_event() -> None:
    assert split_fields("bus.error %s retry_in_s=%.1f", ("TimeoutError", 0.5)) == (
        "bus.error TimeoutError",
        {"retry_in_s": 0.5},
    )
    assert split_fields("100%% done n=%d", (3,)) == ("100% done", {"n": 3})
    assert split_fields("wait retry_in_s=%.2f", (0.10629239,)) == ("wait", {"retry_in_s": 0.11})


def test_a_template_that_does_not_match_its_arguments_is_logged_as_written() -> None:
    line = _line(_record("odd %s %s", "only-one"))
    assert "odd" in str(line["event"])
    assert "fields" not in line


def test_secret_fields_are_scrubbed() -> None:
    line = _line(_record("auth.failed api_secret=%s user=%s", "c2VjcmV0", "bob"))
    assert line["fields"] == {"api_secret": "***", "user": "bob"}
    assert "c2VjcmV0" not in orjson.dumps(line).decode()


def test_keyboard_interrupt_is_not_logged_as_a_traceback() -> None:
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as e:
        line = _line(_record("actor.interrupted", exc=e))
    assert line["interrupted"] is True
    assert "exception" not in line


def test_the_level_comes_from_the_flag_then_the_environment() -> None:
    assert log_level(None, {}) == logging.INFO
    assert log_level(None, {"GF_LOG_LEVEL": "debug"}) == logging.DEBUG
    assert log_level("warning", {"GF_LOG_LEVEL": "debug"}) == logging.WARNING
    with pytest.raises(ValueError, match="GF_LOG_LEVEL: 'loud' is not one of"):
        log_level(None, {"GF_LOG_LEVEL": "loud"})


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from actors.cli.main import main

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == "galfriday 0.1.0"
