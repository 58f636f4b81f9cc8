"""Volatility from the quote stream: OHLC bars per timeframe, three estimators per bar close.

Price: the mid, ``(bid + ask) / 2`` as a float (statistics, not money): it moves on every book
change, unlike ``last``, which only moves on trades. Bars are placed by the quote's exchange time.

At each bar close, over the last ``window_bars`` bars, all annualized for a market that never
closes (``periods_per_year = 365 * 24 * 3600 / timeframe_seconds``):

- realized: sample standard deviation (ddof 1) of the close-to-close log returns of the bars in
  the window (each bar's return is against the close before it, so a full window holds
  ``window_bars`` returns); ``None`` until two returns exist.
- EWMA (RiskMetrics): ``var_t = lam * var_{t-1} + (1 - lam) * r_t**2`` over every return seen,
  seeded with the first squared return (``var_1 = r_1**2``); ``None`` until one return exists.
- Parkinson: ``sqrt(mean(ln(H/L)**2) / (4 ln 2))`` over the bars in the window.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from actors.market_data.bars import Bar, BarBuilder
from actors.market_data.rolling import RollingMean, RollingVariance
from schemas.config import VolatilityConfig
from schemas.events import VolatilityUpdated

__all__ = [
    "VolatilityEngine",
    "VolatilityEstimator",
    "VolatilityReading",
    "parse_timeframe",
    "periods_per_year",
]

_NS_PER_SECOND = 1_000_000_000
_SECONDS_PER_YEAR = 365 * 24 * 3600
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_TIMEFRAME = re.compile(r"^([1-9]\d*)([smhd])$")
_FOUR_LN_2 = 4.0 * math.log(2.0)


def parse_timeframe(timeframe: str) -> int:
    """``"15m"`` → its length in nanoseconds."""
    match = _TIMEFRAME.match(timeframe)
    if match is None:
        raise ValueError(f"bad timeframe {timeframe!r}: expected e.g. 30s, 1m, 1h, 1d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)] * _NS_PER_SECOND


def periods_per_year(timeframe_ns: int) -> float:
    return _SECONDS_PER_YEAR * _NS_PER_SECOND / timeframe_ns


@dataclass(frozen=True, slots=True)
class VolatilityReading:
    bars_in_window: int
    realized: float | None
    ewma: float | None
    parkinson: float | None


class VolatilityEstimator:
    """Consumes closed bars of one pair and timeframe; O(1) work per bar."""

    def __init__(self, window_bars: int, ewma_lambda: float, annualization: float) -> None:
        self._returns = RollingVariance(window_bars)
        self._range_squares = RollingMean(window_bars)
        self._lambda = ewma_lambda
        self._scale = math.sqrt(annualization)
        self._previous_close: float | None = None
        self._ewma_variance: float | None = None

    def on_bar(self, bar: Bar) -> VolatilityReading:
        if self._previous_close is not None:
            log_return = math.log(bar.close / self._previous_close)
            self._returns.push(log_return)
            squared = log_return * log_return
            if self._ewma_variance is None:
                self._ewma_variance = squared
            else:
                self._ewma_variance = (
                    self._lambda * self._ewma_variance + (1.0 - self._lambda) * squared
                )
        self._previous_close = bar.close
        high_low = math.log(bar.high / bar.low)
        self._range_squares.push(high_low * high_low)
        return self.reading()

    def reading(self) -> VolatilityReading:
        variance = self._returns.sample_variance
        mean_range_square = self._range_squares.mean
        return VolatilityReading(
            bars_in_window=len(self._range_squares),
            realized=None if variance is None else math.sqrt(variance) * self._scale,
            ewma=(
                None
                if self._ewma_variance is None
                else math.sqrt(self._ewma_variance) * self._scale
            ),
            parkinson=(
                None
                if mean_range_square is None
                else math.sqrt(max(mean_range_square, 0.0) / _FOUR_LN_2) * self._scale
            ),
        )


class _Series:
    """Bars and estimator of one pair at one timeframe."""

    def __init__(self, timeframe: str, config: VolatilityConfig) -> None:
        self.timeframe = timeframe
        timeframe_ns = parse_timeframe(timeframe)
        self.bars = BarBuilder(timeframe_ns)
        self.estimator = VolatilityEstimator(
            config.window_bars, config.ewma_lambda, periods_per_year(timeframe_ns)
        )
        self.latest: VolatilityUpdated | None = None


class VolatilityEngine:
    """Every configured pair × timeframe; emits ``VolatilityUpdated`` per bar close."""

    def __init__(self, config: VolatilityConfig, pairs: Iterable[str]) -> None:
        self._window_bars = config.window_bars
        self._series: dict[str, tuple[_Series, ...]] = {
            pair: tuple(_Series(timeframe, config) for timeframe in config.timeframes)
            for pair in pairs
        }

    def on_price(self, pair: str, ts_ns: int, price: float, now_ns: int) -> list[VolatilityUpdated]:
        events: list[VolatilityUpdated] = []
        for series in self._series.get(pair, ()):
            closed = series.bars.add(ts_ns, price)
            if closed is not None:
                events.append(self._on_close(pair, series, closed, now_ns))
        return events

    def flush(self, now_ns: int) -> list[VolatilityUpdated]:
        events: list[VolatilityUpdated] = []
        for pair, all_series in self._series.items():
            for series in all_series:
                closed = series.bars.flush(now_ns)
                if closed is not None:
                    events.append(self._on_close(pair, series, closed, now_ns))
        return events

    def latest(self, pair: str, timeframe: str) -> VolatilityUpdated | None:
        for series in self._series.get(pair, ()):
            if series.timeframe == timeframe:
                return series.latest
        return None

    def late_prices(self) -> int:
        return sum(s.bars.late for all_series in self._series.values() for s in all_series)

    def _on_close(self, pair: str, series: _Series, bar: Bar, now_ns: int) -> VolatilityUpdated:
        reading = series.estimator.on_bar(bar)
        event = VolatilityUpdated(
            pair=pair,
            timeframe=series.timeframe,
            bar_close_ns=bar.end_ns,
            window_bars=reading.bars_in_window,
            realized=reading.realized,
            ewma=reading.ewma,
            parkinson=reading.parkinson,
            ts_event=bar.end_ns,
            ts_init=now_ns,
        )
        series.latest = event
        return event
