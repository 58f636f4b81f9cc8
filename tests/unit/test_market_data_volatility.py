"""Volatility estimators against plain numpy on the same series; bars per timeframe."""

from __future__ import annotations

import math

import numpy as np
import pytest

from actors.market_data.bars import Bar, BarBuilder
from actors.market_data.rolling import RollingMean, RollingVariance
from actors.market_data.volatility import (
    VolatilityEngine,
    VolatilityEstimator,
    parse_timeframe,
    periods_per_year,
)
from schemas.config import VolatilityConfig

MINUTE_NS = 60 * 1_000_000_000
LAMBDA = 0.94
START_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z, a whole hour


def random_bars(count: int, seed: int) -> list[Bar]:
    """A random walk with a calm regime after a wild one, so errors left by big values show."""
    rng = np.random.default_rng(seed)
    sigma = np.where(np.arange(count) < count // 2, 2e-2, 3e-5)
    closes = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, sigma)))
    spread = np.abs(rng.normal(0.0, sigma)) + 1e-7
    highs = closes * np.exp(spread)
    lows = closes * np.exp(-spread * rng.uniform(0.1, 1.0, count))
    return [
        Bar(i * MINUTE_NS, (i + 1) * MINUTE_NS, float(c), float(h), float(lo), float(c), 1)
        for i, (c, h, lo) in enumerate(zip(closes, highs, lows, strict=True))
    ]


def relative_error(actual: float, expected: float) -> float:
    return abs(actual - expected) / abs(expected)


@pytest.mark.parametrize("window", [2, 3, 10, 30, 100])
def test_estimators_match_numpy_at_every_bar_of_a_long_series(window: int) -> None:
    """Realized, EWMA and Parkinson equal a direct numpy computation within 1e-9 relative."""
    bars = random_bars(3_000, seed=window)
    annualization = periods_per_year(MINUTE_NS)
    estimator = VolatilityEstimator(window, LAMBDA, annualization)
    closes = np.array([b.close for b in bars])
    log_returns = np.log(closes[1:] / closes[:-1])
    range_squares = np.log(np.array([b.high for b in bars]) / np.array([b.low for b in bars])) ** 2
    ewma_variance: float | None = None
    checked = 0

    for k, bar in enumerate(bars):
        reading = estimator.on_bar(bar)
        first_bar = max(0, k - window + 1)
        window_returns = log_returns[max(0, first_bar - 1) : k] if k else log_returns[:0]
        if k >= 1:
            squared = float(log_returns[k - 1]) ** 2
            ewma_variance = (
                squared
                if ewma_variance is None
                else LAMBDA * ewma_variance + (1 - LAMBDA) * squared
            )

        assert reading.bars_in_window == k - first_bar + 1
        expected_parkinson = math.sqrt(
            float(np.mean(range_squares[first_bar : k + 1])) / (4 * math.log(2)) * annualization
        )
        assert reading.parkinson is not None
        assert relative_error(reading.parkinson, expected_parkinson) <= 1e-9
        if len(window_returns) >= 2:
            expected_realized = float(np.std(window_returns, ddof=1)) * math.sqrt(annualization)
            assert reading.realized is not None
            assert relative_error(reading.realized, expected_realized) <= 1e-9
            checked += 1
        else:
            assert reading.realized is None
        if ewma_variance is None:
            assert reading.ewma is None
        else:
            assert reading.ewma is not None
            expected_ewma = math.sqrt(ewma_variance * annualization)
            assert relative_error(reading.ewma, expected_ewma) <= 1e-9

    assert checked >= len(bars) - 3


def test_realized_window_holds_window_bars_returns() -> None:
    """A full window of N bars uses N returns (each bar's close against the one before)."""
    closes = [100.0, 101.0, 99.0, 102.0, 98.0]
    estimator = VolatilityEstimator(3, LAMBDA, 1.0)
    reading = None
    for i, close in enumerate(closes):
        reading = estimator.on_bar(Bar(i, i + 1, close, close, close, close, 1))
    expected = float(np.std(np.diff(np.log(closes))[-3:], ddof=1))
    assert reading is not None
    assert reading.realized == pytest.approx(expected, rel=1e-12)
    assert reading.parkinson == 0.0


def test_rolling_variance_keeps_precision_when_mean_dwarfs_spread() -> None:
    """Values near 1e6 with unit spread: float sum-of-squares would lose most digits."""
    rng = np.random.default_rng(7)
    values = 1e6 + rng.normal(0.0, 1.0, 5_000)
    rolling = RollingVariance(50)
    for i, value in enumerate(values):
        rolling.push(float(value))
        window = values[max(0, i - 49) : i + 1]
        if len(window) >= 2:
            variance = rolling.sample_variance
            assert variance is not None
            assert relative_error(variance, float(np.var(window, ddof=1))) <= 1e-9


def test_rolling_mean_is_exact_for_window_after_large_values_leave() -> None:
    """Huge values once in the window leave no residue in the mean of tiny ones."""
    rolling = RollingMean(4)
    for value in [1e12, 3e11, 1e-3, 2e-3, 3e-3, 4e-3, 5e-3]:
        rolling.push(value)
    assert rolling.mean is not None
    assert relative_error(rolling.mean, 0.0035) <= 1e-12


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("1m", 60), ("15m", 900), ("1h", 3600), ("1d", 86400)]
)
def test_parse_timeframe_returns_nanoseconds(text: str, seconds: int) -> None:
    assert parse_timeframe(text) == seconds * 1_000_000_000


def test_periods_per_year_is_for_a_market_open_all_year() -> None:
    assert periods_per_year(parse_timeframe("1h")) == 365 * 24
    assert periods_per_year(parse_timeframe("1m")) == 365 * 24 * 60


def test_bar_builder_closes_bar_when_price_lands_in_later_bucket() -> None:
    builder = BarBuilder(MINUTE_NS)
    for offset_s, price in [(0, 10.0), (10, 12.0), (20, 9.0), (59, 11.0)]:
        assert builder.add(START_NS + offset_s * 1_000_000_000, price) is None

    closed = builder.add(START_NS + MINUTE_NS, 11.5)

    assert closed == Bar(START_NS, START_NS + MINUTE_NS, 10.0, 12.0, 9.0, 11.0, 4)


def test_bar_builder_flush_closes_open_bar_and_ignores_late_prices() -> None:
    builder = BarBuilder(MINUTE_NS)
    builder.add(START_NS + 5_000_000_000, 10.0)
    assert builder.flush(START_NS + MINUTE_NS - 1) is None

    closed = builder.flush(START_NS + MINUTE_NS)
    late = builder.add(START_NS + 30_000_000_000, 99.0)

    assert closed is not None
    assert closed.close == 10.0
    assert late is None
    assert builder.late == 1
    assert builder.open_bar is None


def test_engine_builds_bars_per_timeframe_matching_numpy_ohlc() -> None:
    """Quotes every 7 s for 2 h: each timeframe's closed bars equal numpy OHLC of its bucket."""
    config = VolatilityConfig(timeframes=("1m", "5m", "15m", "1h"), window_bars=5)
    engine = VolatilityEngine(config, ["BTC/USD"])
    rng = np.random.default_rng(3)
    times = START_NS + np.arange(0, 7_200, 7, dtype=np.int64) * 1_000_000_000
    prices = 100.0 * np.exp(np.cumsum(rng.normal(0, 1e-3, len(times))))
    events = []
    for ts, price in zip(times, prices, strict=True):
        events += engine.on_price("BTC/USD", int(ts), float(price), int(ts))
    events += engine.flush(START_NS + 7_200 * 1_000_000_000)

    for timeframe in config.timeframes:
        timeframe_ns = parse_timeframe(timeframe)
        closes = [e for e in events if e.timeframe == timeframe]
        assert len(closes) == 7_200 * 1_000_000_000 // timeframe_ns
        buckets = (times - START_NS) // timeframe_ns
        bucket_closes = np.array([prices[buckets == b][-1] for b in range(len(closes))])
        bucket_ranges = np.array(
            [
                np.log(prices[buckets == b].max() / prices[buckets == b].min())
                for b in range(len(closes))
            ]
        )
        last = closes[-1]
        assert last.bar_close_ns == START_NS + len(closes) * timeframe_ns
        assert last.window_bars == min(5, len(closes))
        annualization = periods_per_year(timeframe_ns)
        expected_parkinson = math.sqrt(
            float(np.mean(bucket_ranges[-5:] ** 2)) / (4 * math.log(2)) * annualization
        )
        assert last.parkinson is not None
        assert relative_error(last.parkinson, expected_parkinson) <= 1e-9
        if len(closes) >= 3:
            returns = np.diff(np.log(bucket_closes))[-5:]
            assert last.realized is not None
            expected_realized = float(np.std(returns, ddof=1)) * math.sqrt(annualization)
            assert relative_error(last.realized, expected_realized) <= 1e-9
        assert engine.latest("BTC/USD", timeframe) == last


def test_engine_ignores_unconfigured_pair() -> None:
    engine = VolatilityEngine(VolatilityConfig(), ["BTC/USD"])
    assert engine.on_price("DOGE/USD", START_NS, 1.0, START_NS) == []
    assert engine.flush(START_NS + 10 * 3_600 * 1_000_000_000) == []
