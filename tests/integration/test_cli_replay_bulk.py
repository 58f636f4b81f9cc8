"""``galfriday replay`` (not paced) as a process against a real nats-server (issue 14 item 4):
what arrives is what was recorded, and a bad record is found before anything is sent."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import nats
import pytest
import yaml

from bus import LogRecord, Recorder, Subjects, encode, read_event_log
from bus.eventlog import EventLogWriter
from bus.wire_log import encode_log, publish_wire
from schemas import GalFridayConfig
from tests.support.nats_server import running_nats_server
from tests.support.probe_actor import quote
from tests.support.waiting import eventually

pytestmark = pytest.mark.nats

REPO_ROOT = Path(__file__).resolve().parents[2]
RECORDED_ROOT = "recorded"


def _write_log(path: Path, records: list[LogRecord]) -> Path:
    with path.open("wb") as file:
        writer = EventLogWriter(file)
        for record in records:
            writer.write(record)
    return path


async def _replay(bus_config: GalFridayConfig, log: Path, tmp_path: Path) -> tuple[int, str]:
    config = tmp_path / "replay.yaml"
    config.write_text(
        yaml.safe_dump({"nats": {"url": bus_config.nats.url, "subject_root": "live"}})
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "actors.cli.main", "replay", str(log),
        "--config", str(config), "--subject-root", bus_config.nats.subject_root,
        cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, err.decode()


def _records(count: int) -> list[LogRecord]:
    recorded = Subjects(RECORDED_ROOT)
    pairs = ("BTC/USD", "ETH/USD", "SOL/USD")
    records = []
    for n in range(count):
        pair = pairs[n % 3]
        headers = {"Nats-Msg-Id": f"m{n}", "k": "line\r\nbreak", " ": "blank"} if n % 7 == 0 else {}
        payload = encode(quote(pair)) if n % 5 else b""
        records.append(LogRecord(recorded.price(pair), headers, n, payload))
    return records


async def test_every_record_arrives_moved_in_order_with_its_headers(
    bus_config: GalFridayConfig, tmp_path: Path
) -> None:
    """Several read blocks' worth (the encoder works a block at a time), headers with line
    breaks blanked and a blank name dropped as nats-py does, empty payloads kept."""
    records = _records(12_000)
    log = _write_log(tmp_path / "in.gfl", records)
    moved = Subjects(bus_config.nats.subject_root)
    client = await nats.connect(bus_config.nats.url)
    out = tmp_path / "out.gfl"
    async with Recorder(client, out, [moved.everything()]) as recorder:
        code, err = await _replay(bus_config, log, tmp_path)
        assert code == 0, err
        await eventually(
            lambda: recorder.writer is not None and recorder.writer.count == len(records)
        )
    await client.close()
    got = list(read_event_log(out))
    assert "replayed 12000 messages" in err
    assert [r.subject for r in got] == [
        r.subject.replace(RECORDED_ROOT, moved.root, 1) for r in records
    ]
    assert [r.payload for r in got] == [r.payload for r in records]
    assert [r.headers for r in got] == [
        {"Nats-Msg-Id": r.headers["Nats-Msg-Id"], "k": "line  break"} if r.headers else {}
        for r in records
    ]


async def test_a_bad_record_deep_in_the_log_is_reported_and_nothing_is_published(
    bus_config: GalFridayConfig, tmp_path: Path
) -> None:
    """Today's code sent the first few thousand records, then died with a traceback."""
    records = _records(5_000)
    bad = LogRecord(records[0].subject, {"bad name": "x"}, 1, b"p")
    log = _write_log(tmp_path / "in.gfl", [*records, bad, *records[:10]])
    moved = Subjects(bus_config.nats.subject_root)
    client = await nats.connect(bus_config.nats.url)
    seen: list[str] = []

    async def count(msg: object) -> None:
        seen.append(msg.subject)  # type: ignore[attr-defined]

    await client.subscribe(moved.everything(), cb=count)
    await client.flush()
    code, err = await _replay(bus_config, log, tmp_path)
    await client.flush()
    await asyncio.sleep(0.2)  # anything sent would have arrived by now (same server)
    await client.close()
    assert code == 2, err
    assert "record 5001" in err
    assert "bad header name" in err
    assert "Traceback" not in err
    assert seen == []


def _authorized_server_config(tmp_path: Path) -> Path:
    config = tmp_path / "server.conf"
    config.write_text(
        f'jetstream {{ store_dir: "{tmp_path / "store"}" }}\n'
        "authorization { users = [\n"
        '  { user: "replayer", password: "pw", permissions: { publish: { allow: ["ok.>"] } } }\n'
        "] }\n"
    )
    return config


def _run_replay(url: str, log: Path, tmp_path: Path, root: str, password: str) -> tuple[int, str]:
    config = tmp_path / f"replay-{root}-{password}.yaml"
    nats_settings = {"url": url, "subject_root": "live", "user": "replayer", "password": password}
    config.write_text(yaml.safe_dump({"nats": nats_settings}))
    done = subprocess.run(
        [sys.executable, "-m", "actors.cli.main", "replay", str(log), "--config", str(config),
         "--subject-root", root],
        check=False, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return done.returncode, done.stderr


def test_a_server_refusal_is_reported_not_swallowed(tmp_path: Path) -> None:
    """Publishing where the user may not, or with a wrong password, exits 1 with the server's
    words (nats-py's quiet error callback let such a replay report success)."""
    log = _write_log(tmp_path / "in.gfl", _records(50))
    with running_nats_server(config_file=_authorized_server_config(tmp_path)) as server:
        allowed = _run_replay(server.url, log, tmp_path, "ok", "pw")
        forbidden = _run_replay(server.url, log, tmp_path, "elsewhere", "pw")
        wrong_password = _run_replay(server.url, log, tmp_path, "ok", "nope")
    assert allowed[0] == 0, allowed[1]
    assert forbidden[0] == 1, forbidden[1]
    assert "Permissions Violation" in forbidden[1]
    assert wrong_password[0] == 1, wrong_password[1]
    assert "Authorization Violation" in wrong_password[1]


async def test_the_nats_py_path_writes_the_same_records(
    bus_config: GalFridayConfig, tmp_path: Path
) -> None:
    """What TLS, credentials files and websockets go through: the encoded blocks via nats-py."""
    records = _records(6_000)
    moved = Subjects(bus_config.nats.subject_root)
    wire = encode_log(
        _write_log(tmp_path / "in.gfl", records),
        lambda subject: subject.replace(RECORDED_ROOT, moved.root, 1),
    )
    client = await nats.connect(bus_config.nats.url)
    out = tmp_path / "out.gfl"
    async with Recorder(client, out, [moved.everything()]) as recorder:
        assert await publish_wire(client, wire) == len(records)
        await client.flush()
        await eventually(
            lambda: recorder.writer is not None and recorder.writer.count == len(records)
        )
    await client.close()
    got = list(read_event_log(out))
    assert [r.payload for r in got] == [r.payload for r in records]
    assert [bool(r.headers) for r in got] == [bool(r.headers) for r in records]
