"""Test helpers for the simulated Kraken exchange: a fixture helper and a plain aiohttp client.

The client signs exactly like Kraken expects (``kraken.signing``) and returns the decoded JSON
envelope untouched, so tests can assert on Kraken's wire format. Typical use::

    @pytest.fixture
    async def sim() -> AsyncIterator[RunningSim]:
        async for running in sim_fixture(SimOptions(auto_tick=False)):
            yield running

    async def test_x(sim: RunningSim) -> None:
        async with SimClient(sim) as client:
            answer = await client.private("Balance")
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import aiohttp

from kraken.signing import sign_request
from kraken.sim import RunningSim, SimOptions, running_sim

__all__ = ["KRAKEN_FIXTURES", "RawAnswer", "SimClient", "kraken_fixture", "sim_fixture"]

KRAKEN_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kraken"
"""Recorded Kraken answers, copied verbatim from the team's shared/kraken-fixtures/."""

_FIXTURE_DIRS = (KRAKEN_FIXTURES,)


def kraken_fixture(name: str) -> Any:
    """A recorded Kraken answer from ``shared/kraken-fixtures/``, decoded."""
    for directory in _FIXTURE_DIRS:
        if (directory / name).exists():
            return json.loads((directory / name).read_text())
    raise FileNotFoundError(f"kraken fixture {name} not found in {_FIXTURE_DIRS}")


async def sim_fixture(options: SimOptions | None = None) -> AsyncIterator[RunningSim]:
    """Async-generator body for a pytest fixture: a started sim, stopped afterwards."""
    async with running_sim(options) as running:
        yield running


class RawAnswer:
    """An HTTP answer as received: status, content type and body text."""

    def __init__(self, status: int, content_type: str, text: str) -> None:
        self.status = status
        self.content_type = content_type
        self.text = text

    def json(self) -> Any:
        return json.loads(self.text)


class SimClient:
    """A minimal signed Kraken REST client for tests; nonces come from a per-client counter."""

    def __init__(
        self,
        sim: RunningSim,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.sim = sim
        self.api_key = api_key if api_key is not None else sim.options.api_key
        self._api_secret = api_secret if api_secret is not None else sim.options.api_secret
        self._nonces = itertools.count(time.time_ns() // 1000)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> SimClient:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use SimClient as an async context manager"
        return self._session

    def next_nonce(self) -> int:
        return next(self._nonces)

    async def public(self, method: str, **params: str) -> Any:
        return (await self.public_raw(method, **params)).json()

    async def public_raw(self, method: str, **params: str) -> RawAnswer:
        url = f"{self.sim.rest_url}/0/public/{method}"
        async with self.session.get(url, params=params) as response:
            return RawAnswer(response.status, response.content_type, await response.text())

    async def private(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        as_json: bool = False,
        nonce: int | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        answer = await self.private_raw(
            method, params, as_json=as_json, nonce=nonce, timeout_s=timeout_s
        )
        return answer.json()

    async def private_raw(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        as_json: bool = False,
        nonce: int | None = None,
        timeout_s: float | None = None,
        api_sign: str | None = None,
    ) -> RawAnswer:
        path = f"/0/private/{method}"
        nonce_value = self.next_nonce() if nonce is None else nonce
        payload = {"nonce": str(nonce_value), **(params or {})}
        if as_json:
            body = json.dumps(payload)
            content_type = "application/json"
        else:
            body = urlencode(payload)
            content_type = "application/x-www-form-urlencoded"
        signature = api_sign or sign_request(
            secret_b64=self._api_secret, url_path=path, nonce=nonce_value, body=body
        )
        headers = {
            "API-Key": self.api_key,
            "API-Sign": signature,
            "Content-Type": content_type,
            "User-Agent": "galfriday-tests",
        }
        timeout = aiohttp.ClientTimeout(total=timeout_s) if timeout_s is not None else None
        async with self.session.post(
            f"{self.sim.rest_url}{path}", data=body.encode(), headers=headers, timeout=timeout
        ) as response:
            return RawAnswer(response.status, response.content_type, await response.text())

    async def control(self, path: str, body: Any | None = None) -> Any:
        url = f"{self.sim.control_url}/{path}"
        async with self.session.post(url, json=body if body is not None else {}) as response:
            return await response.json()

    async def ledger(self) -> Any:
        async with self.session.get(f"{self.sim.control_url}/ledger") as response:
            return await response.json()
