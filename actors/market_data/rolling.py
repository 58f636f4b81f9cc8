"""Fixed-size rolling statistics with O(1) work per value and no drift, ever.

Every finite float is a dyadic rational, so scaling it by 2**1074 gives an exact integer. The
running sum and sum of squares are kept as such integers: adding a value and removing the one
that leaves the window are exact, so no rounding error accumulates however long the series, and
a calm window after a wild one is as precise as the first (float running sums, even Welford's
update, keep a residue of the large values that left). Python's ``int / int`` is correctly
rounded, so each statistic is the correctly rounded value of the exact window statistic.
"""

from __future__ import annotations

from collections import deque

__all__ = ["RollingMean", "RollingVariance"]

_SCALE_BITS = 1074
"""2**-1074 is the smallest subnormal double: every finite float times 2**1074 is an integer."""


def _exact(value: float) -> int:
    numerator, denominator = value.as_integer_ratio()
    return numerator * ((1 << _SCALE_BITS) // denominator)


class _RollingSums:
    def __init__(self, size: int) -> None:
        self._size = size
        self._values: deque[int] = deque()
        self._sum = 0
        self._sum_of_squares = 0

    def __len__(self) -> int:
        return len(self._values)

    def push(self, value: float) -> None:
        exact = _exact(value)
        self._values.append(exact)
        self._sum += exact
        self._sum_of_squares += exact * exact
        if len(self._values) > self._size:
            oldest = self._values.popleft()
            self._sum -= oldest
            self._sum_of_squares -= oldest * oldest


class RollingMean(_RollingSums):
    """Mean of the last ``size`` values."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("size must be >= 1")
        super().__init__(size)

    @property
    def mean(self) -> float | None:
        count = len(self._values)
        return self._sum / (count << _SCALE_BITS) if count else None


class RollingVariance(_RollingSums):
    """Mean and sample variance (ddof 1) of the last ``size`` values."""

    def __init__(self, size: int) -> None:
        if size < 2:
            raise ValueError("size must be >= 2")
        super().__init__(size)

    @property
    def mean(self) -> float | None:
        count = len(self._values)
        return self._sum / (count << _SCALE_BITS) if count else None

    @property
    def sample_variance(self) -> float | None:
        count = len(self._values)
        if count < 2:
            return None
        # n * sum(x^2) - sum(x)^2 is exact here, so the usual cancellation cannot happen.
        numerator = count * self._sum_of_squares - self._sum * self._sum
        return numerator / ((count * (count - 1)) << (2 * _SCALE_BITS))
