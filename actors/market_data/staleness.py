"""Per-pair staleness: ``PriceStale`` once when updates stop, ``PriceRecovered`` on return."""

from __future__ import annotations

from collections.abc import Iterable

from schemas.events import PriceRecovered, PriceStale

__all__ = ["StalenessMonitor"]


class StalenessMonitor:
    """Tracks receive times. A pair never heard from counts from ``started_ns``.

    ``check`` is driven by the shell's timer and emits ``PriceStale`` once per stale episode;
    ``record`` ends the episode with ``PriceRecovered``. ``is_stale`` is age-based, so a query
    sees staleness even before the next ``check`` runs.
    """

    def __init__(self, pairs: Iterable[str], threshold_ns: int, started_ns: int) -> None:
        self.threshold_ns = threshold_ns
        self._started_ns = started_ns
        self._last_update_ns: dict[str, int | None] = dict.fromkeys(pairs)
        self._stale_since_ns: dict[str, int] = {}

    def last_update_ns(self, pair: str) -> int | None:
        return self._last_update_ns.get(pair)

    def record(self, pair: str, now_ns: int) -> PriceRecovered | None:
        self._last_update_ns[pair] = now_ns
        stale_since = self._stale_since_ns.pop(pair, None)
        if stale_since is None:
            return None
        return PriceRecovered(
            pair=pair, stale_for_ns=max(0, now_ns - stale_since), ts_event=now_ns, ts_init=now_ns
        )

    def is_stale(self, pair: str, now_ns: int) -> bool:
        if pair in self._stale_since_ns:
            return True
        last = self._last_update_ns.get(pair)
        reference = self._started_ns if last is None else last
        return now_ns - reference >= self.threshold_ns

    def stale_pairs(self) -> tuple[str, ...]:
        return tuple(sorted(self._stale_since_ns))

    def check(self, now_ns: int) -> list[PriceStale]:
        events: list[PriceStale] = []
        for pair, last in self._last_update_ns.items():
            if pair in self._stale_since_ns:
                continue
            reference = self._started_ns if last is None else last
            if now_ns - reference >= self.threshold_ns:
                # The episode starts when the data stopped, not when the timer noticed.
                self._stale_since_ns[pair] = reference
                events.append(
                    PriceStale(
                        pair=pair,
                        last_update_ns=last,
                        threshold_ns=self.threshold_ns,
                        ts_event=now_ns,
                        ts_init=now_ns,
                    )
                )
        return events
