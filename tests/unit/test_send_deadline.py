"""Kraken's deadline of a placement is fixed when the request is signed, not when planned."""

from __future__ import annotations

import pytest

from kraken.send_deadline import SendDeadline

_S = 1_000_000_000


def test_the_deadline_counts_from_the_moment_it_is_stamped() -> None:
    deadline = SendDeadline(5 * _S)
    assert deadline.sent_ns is None  # planned, not sent: it cannot land
    assert deadline.stamp(100 * _S) == 105 * _S
    assert deadline.sent_ns == 105 * _S


def test_the_cap_wins_when_nearer() -> None:
    deadline = SendDeadline(5 * _S, not_after=lambda: 103 * _S)
    assert deadline.stamp(100 * _S) == 103 * _S
    assert deadline.stamp(90 * _S) == 95 * _S


def test_the_cap_is_read_when_stamped() -> None:
    cap = [103 * _S]
    deadline = SendDeadline(5 * _S, not_after=lambda: cap[0])
    cap[0] = 110 * _S  # e.g. a lease renewed while the request queued
    assert deadline.stamp(104 * _S) == 109 * _S


def test_a_resend_keeps_the_latest_deadline_sent() -> None:
    deadline = SendDeadline(5 * _S)
    deadline.stamp(100 * _S)
    deadline.stamp(101 * _S)
    assert deadline.sent_ns == 106 * _S


def test_a_span_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        SendDeadline(0)
