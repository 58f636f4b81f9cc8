"""``galfriday kraken`` in-process against the simulated exchange."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from actors.cli.main import main
from kraken.sim import DEFAULT_API_KEY, DEFAULT_API_SECRET, RunningSim, SimOptions, running_sim

pytestmark = pytest.mark.sim


@pytest.fixture
async def sim(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunningSim]:
    async with running_sim(SimOptions(auto_tick=False)) as running:
        monkeypatch.setenv("GF_KRAKEN_REST_URL", running.rest_url)
        monkeypatch.delenv("GF_CONFIG", raising=False)
        for name in ("KRAKEN_API_KEY", "KRAKEN_API_SECRET", "KRAKEN_API_SECRET_FILE"):
            monkeypatch.delenv(name, raising=False)
        yield running


def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRAKEN_API_KEY", DEFAULT_API_KEY)
    monkeypatch.setenv("KRAKEN_API_SECRET", DEFAULT_API_SECRET)


async def _run(*argv: str) -> int:
    # main() runs its own event loop, so it goes to a thread while the sim serves on this one.
    return await asyncio.to_thread(main, list(argv))


async def test_cli_ticker_when_public_then_json_and_exit_0(
    sim: RunningSim, capsys: pytest.CaptureFixture[str]
) -> None:
    """A public call prints the result as JSON."""
    code = await _run("kraken", "Ticker", "pair=XBTUSD")

    assert code == 0
    result = json.loads(capsys.readouterr().out)
    (ticker,) = result.values()
    assert set(ticker) >= {"a", "b", "c"}


async def test_cli_addorder_when_credentials_then_txid(
    sim: RunningSim, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A private call with credentials from the environment places the order."""
    _credentials(monkeypatch)

    code = await _run(
        "kraken", "AddOrder", "pair=XBTUSD", "type=buy", "ordertype=market", "volume=0.01"
    )

    assert code == 0
    assert len(json.loads(capsys.readouterr().out)["txid"]) == 1


async def test_cli_when_kraken_error_then_stderr_and_exit_1(
    sim: RunningSim, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Kraken error is printed on stderr with exit code 1."""
    _credentials(monkeypatch)

    code = await _run("kraken", "AddOrder", "pair=XBTUSD", "type=buy", "volume=0.01")

    assert code == 1
    assert "error: E" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [("kraken", "NoSuchCall"), ("kraken", "Ticker", "pairXBTUSD"), ("kraken", "Balance")],
)
async def test_cli_when_bad_arguments_or_no_credentials_then_exit_2(
    sim: RunningSim, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    """Unknown CALL, malformed key=value and a private call without credentials exit 2."""
    code = await _run(*argv)

    assert code == 2
    assert capsys.readouterr().err.startswith("galfriday kraken:")
