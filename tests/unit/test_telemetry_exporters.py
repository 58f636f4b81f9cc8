"""`OTEL_TRACES_EXPORTER` picks the span exporters (issue 13.14). Each case runs in its own
interpreter: OpenTelemetry's tracer provider is set once per process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from tests.support.process_stack import REPO_ROOT

_PROGRAM = """
from bus.context import ActorContext  # noqa: F401 - the bus as actors import it
from bus.telemetry import setup_telemetry, tracer
setup_telemetry("probe")
with tracer.start_as_current_span("hello-span"):
    pass
"""


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run(
        [sys.executable, "-c", _PROGRAM],
        cwd=REPO_ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_console_exporter_prints_spans() -> None:
    result = _run({"OTEL_TRACES_EXPORTER": "console"})
    assert '"name": "hello-span"' in result.stdout


def test_jsonl_exporter_appends_spans_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    _run({"OTEL_TRACES_EXPORTER": "jsonl", "GF_TRACES_FILE": str(path)})
    (span,) = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert (span["name"], span["service"], span["parent_id"]) == ("hello-span", "probe", None)


def test_no_exporter_means_no_output() -> None:
    result = _run({})
    assert "hello-span" not in result.stdout
