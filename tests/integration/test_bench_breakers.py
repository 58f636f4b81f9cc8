"""Smoke test of ``bench.breakers``: one outage per classifier count and one short outage with
and without breakers, tables come out (no timing asserted here: figures belong to
``make bench``)."""

from __future__ import annotations

import pytest

from bench.breakers import main

pytestmark = [pytest.mark.nats, pytest.mark.sim]


def test_the_breaker_bench_runs_one_outage_with_one_and_two_classifiers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--outages", "1", "--outage-seconds", "1"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert [line.split("|")[0].strip() for line in table[2:4]] == ["1", "2"]
    assert table[-1].split("|")[0].strip() == "1s"
