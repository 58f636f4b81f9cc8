"""Exchange status is state, not an edge (issue 11, point 1): a status whose publication failed
is announced again, and the current status can be re-announced at any time."""

from __future__ import annotations

from actors.market_data.exchange_calendar import ExchangeCalendar
from schemas.events import ExchangeStatus

NOW = 1_800_000_000 * 1_000_000_000
MAINTENANCE, ONLINE = ExchangeStatus.MAINTENANCE, ExchangeStatus.ONLINE


def test_online_whose_publication_failed_is_announced_again_by_the_next_poll() -> None:
    calendar = ExchangeCalendar("kraken")
    calendar.tick(NOW)
    assert calendar.on_status(MAINTENANCE, "rest", NOW + 1) is not None
    lost = calendar.on_status(ONLINE, "rest", NOW + 2)
    assert lost is not None
    calendar.publish_failed(lost)

    again = calendar.on_status(ONLINE, "rest", NOW + 3)

    assert again is not None
    assert (again.status, again.previous) == (ONLINE, MAINTENANCE)


def test_a_failure_reported_after_a_newer_announcement_changes_nothing() -> None:
    calendar = ExchangeCalendar("kraken")
    first = calendar.on_status(MAINTENANCE, "rest", NOW)
    assert first is not None
    assert calendar.on_status(ONLINE, "rest", NOW + 1) is not None
    calendar.publish_failed(first)  # late: ONLINE was announced since
    assert calendar.on_status(ONLINE, "rest", NOW + 2) is None


def test_current_status_is_re_announced_on_demand_with_a_fresh_timestamp() -> None:
    calendar = ExchangeCalendar("kraken")
    calendar.on_status(MAINTENANCE, "ws", NOW)
    calendar.on_status(ONLINE, "ws", NOW + 1)

    refresh = calendar.current(NOW + 30)

    assert (refresh.status, refresh.previous, refresh.source) == (ONLINE, ONLINE, "ws")
    assert refresh.ts_event == NOW + 30
    assert (refresh.can_place, refresh.can_cancel) == (True, True)
    assert calendar.on_status(ONLINE, "ws", NOW + 31) is None
