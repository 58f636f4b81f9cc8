"""``galfriday top``: one frame rendered to a string from a known state (no TTY), compared with
the stored snapshot; regenerate with GF_UPDATE_SNAPSHOTS=1 and review the diff."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

from actors.cli.top_view import TopState, render_text
from schemas import BatchCompleted, BatchRejected, BatchStrategy, BreakerState
from schemas import CircuitBreakerStateChanged as Breaker
from schemas.events import (
    ExchangeStatus,
    ExchangeStatusChanged,
    PriceSource,
    PriceStale,
    PriceUpdated,
)

SNAPSHOT = Path(__file__).parent / "snapshots" / "top_frame.txt"
S = 1_000_000_000
NOW = 1_795_910_400 * S  # 2026-11-29T00:00:00Z


def _price(pair: str, bid: str, ask: str) -> PriceUpdated:
    return PriceUpdated(
        ts_event=1,
        ts_init=1,
        pair=pair,
        bid=Decimal(bid),
        ask=Decimal(ask),
        last=Decimal(bid),
        bid_size=Decimal(1),
        ask_size=Decimal(1),
        volume_24h=Decimal(1),
        vwap_24h=Decimal(bid),
        source=PriceSource.WS,
    )


def _state() -> TopState:
    state = TopState(staleness_threshold_ns=30 * S)
    state.apply(_price("BTC/USD", "100000.0", "100000.2"), NOW - 2 * S)
    state.apply(_price("ETH/USD", "3500.00", "3500.04"), NOW - 45 * S)  # old: stale by age
    state.apply(_price("SOL/USD", "150.00", "150.01"), NOW - 1 * S)
    state.apply(
        PriceStale(ts_event=1, ts_init=1, pair="SOL/USD", last_update_ns=1, threshold_ns=1), NOW
    )
    state.apply(
        Breaker(
            ts_event=1,
            ts_init=1,
            scope="kraken.trading",
            state=BreakerState.OPEN,
            previous=BreakerState.CLOSED,
            reason="failure_rate",
            since_ns=NOW - 5 * S,
            retry_at_ns=NOW + 25 * S,
        ),
        NOW,
    )
    state.apply(
        Breaker(
            ts_event=1,
            ts_init=1,
            scope="kraken.public",
            state=BreakerState.CLOSED,
            previous=BreakerState.HALF_OPEN,
            reason="probe_succeeded",
            since_ns=NOW,
        ),
        NOW,
    )
    state.apply(
        ExchangeStatusChanged(
            ts_event=1,
            ts_init=1,
            exchange="kraken",
            status=ExchangeStatus.ONLINE,
            previous=None,
            source="rest",
            can_place=True,
            can_cancel=True,
        ),
        NOW,
    )
    state.apply(
        BatchCompleted(
            ts_event=1,
            ts_init=1,
            batch_id="smart_routing-1795910390000",
            strategy=BatchStrategy.SMART_ROUTING,
            results=(),
            total=3,
            placed=2,
            rejected=1,
            failed=0,
            success_rate=2 / 3,
            duration_ns=1,
            retries=0,
            api_calls=2,
            exposure_used=Decimal(0),
        ),
        NOW - 10 * S,
    )
    state.apply(
        BatchRejected(
            ts_event=1, ts_init=1, batch_id="big", reason="batch_too_large", order_count=99
        ),
        NOW - 3 * S,
    )
    state.health = {
        "batch-router": {"connected": True, "bus_reconnects": 1},
        "error-classifier": {"connected": True, "bus_reconnects": 0},
        "market-data": None,
    }
    return state


def test_one_frame_matches_the_snapshot() -> None:
    frame = render_text(_state(), NOW)
    if os.environ.get("GF_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(frame)
    assert frame == SNAPSHOT.read_text()


def test_the_frame_says_what_matters() -> None:
    frame = render_text(_state(), NOW)
    lines = frame.splitlines()
    assert any("ETH/USD" in line and "STALE" in line and "45.0s" in line for line in lines)
    assert any("SOL/USD" in line and "STALE" in line for line in lines)
    assert any("BTC/USD" in line and "fresh" in line for line in lines)
    assert any(
        "kraken.trading" in line and "open" in line and "00:00:25Z" in line for line in lines
    )
    assert any("exchange kraken" in line and "online" in line for line in lines)
    assert any("big" in line and "rejected: batch_too_large" in line for line in lines)
    assert any("market-data" in line and "no answer" in line for line in lines)
