"""``galfriday actor NAME --config F`` with a malformed file: exit 2 at load, one line naming the
key, no traceback, even though the NATS server it would connect to is up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from schemas import GalFridayConfig

pytestmark = pytest.mark.nats

# (id, actor, malformed sections (YAML); "{nats}" is replaced by a valid nats section, key named)
CASES = [
    (
        "unknown_timezone",
        "market-data",
        "{nats}market_data:\n  sessions:\n"
        "    - {name: mars, timezone: Mars/Olympus, open: '09:00', close: '17:00'}\n",
        "$.market_data.sessions[0].timezone",
    ),
    (
        "window_start_yesterday",
        "market-data",
        "{nats}market_data:\n  maintenance_windows:\n"
        "    - {start: yesterday, end: '2030-01-01T00:00:00Z'}\n",
        "$.market_data.maintenance_windows[0].start",
    ),
    ("nats_url_without_host", "market-data", "nats:\n  url: 'nats://'\n", "$.nats.url"),
    (
        "nats_url_port_99999",
        "error-classifier",
        "nats:\n  url: nats://127.0.0.1:99999\n",
        "$.nats.url",
    ),
    (
        "unknown_holiday_calendar",
        "market-data",
        "{nats}market_data:\n  holiday_calendars: [XNYS, NOPE]\n",
        "$.market_data.holiday_calendars",
    ),
    (
        "rest_url_not_a_url",
        "batch-router",
        "{nats}kraken:\n  rest_url: kraken please\n",
        "$.kraken.rest_url",
    ),
    ("empty_file", "batch-router", "", "is empty"),
    ("comment_only_file", "batch-router", "# to be filled in\n", "is empty"),
]


@pytest.mark.parametrize(
    ("actor", "text", "named"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_actor_with_malformed_config_exits_2_naming_the_key(
    tmp_path: Path, bus_config: GalFridayConfig, actor: str, text: str, named: str
) -> None:
    nats = f"nats:\n  url: {bus_config.nats.url}\n  subject_root: {bus_config.nats.subject_root}\n"
    config_path = tmp_path / "gf.yaml"
    config_path.write_text(text.replace("{nats}", nats))
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GF_", "KRAKEN_"))}
    finished = subprocess.run(
        [sys.executable, "-m", "actors.cli.main", "actor", actor, "--config", str(config_path)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 2, finished.stderr
    assert "Traceback" not in finished.stderr
    assert named in finished.stderr
    assert str(config_path) in finished.stderr
    assert len(finished.stderr.strip().splitlines()) == 1
