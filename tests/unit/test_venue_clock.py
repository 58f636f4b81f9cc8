"""Bounding how far the host's clock runs ahead of the venue's (kraken/venue_clock.py)."""

from __future__ import annotations

from kraken.venue_clock import UNKNOWN_AHEAD_NS, VenueClockBound

_NS = 1_000_000_000
NOON = 1_795_953_600 * _NS  # Sun, 29 Nov 2026 12:00:00 GMT
NOON_HEADER = "Sun, 29 Nov 2026 12:00:00 GMT"


def test_nothing_observed_is_unknown_and_fails_closed() -> None:
    assert VenueClockBound().ahead_ns() == UNKNOWN_AHEAD_NS


def test_a_host_three_seconds_ahead_is_bounded_at_three_seconds_and_the_answers_age() -> None:
    bound = VenueClockBound()
    bound.observe(NOON_HEADER, NOON + 3 * _NS + 400_000_000)
    assert bound.ahead_ns() == 3 * _NS + 400_000_000


def test_the_smallest_recent_sample_is_the_bound() -> None:
    bound = VenueClockBound()
    bound.observe(NOON_HEADER, NOON + 900_000_000)
    bound.observe("Sun, 29 Nov 2026 12:00:01 GMT", NOON + _NS + 100_000_000)
    assert bound.ahead_ns() == 100_000_000


def test_a_host_behind_the_venue_waits_nothing_extra() -> None:
    bound = VenueClockBound()
    bound.observe(NOON_HEADER, NOON - 2 * _NS)
    assert bound.ahead_ns() == 0


def test_a_clock_stepped_forward_counts_once_the_old_samples_are_gone() -> None:
    bound = VenueClockBound()
    for _ in range(64):
        bound.observe(NOON_HEADER, NOON + 100_000_000)
    for _ in range(64):
        bound.observe(NOON_HEADER, NOON + 4 * _NS)
    assert bound.ahead_ns() == 4 * _NS


def test_unreadable_or_zone_less_dates_are_ignored() -> None:
    bound = VenueClockBound()
    bound.observe("yesterday-ish", NOON)
    bound.observe("Sun, 29 Nov 2026 12:00:00", NOON)
    bound.observe(None, NOON)
    assert bound.ahead_ns() == UNKNOWN_AHEAD_NS
