"""What ``galfriday top`` shows, apart from where it comes from: a state fed with bus events and
health answers, and one frame of it as rich tables (rendered to a string in tests, no TTY)."""

from __future__ import annotations

import datetime as dt
import io
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from schemas import (
    AnyMessage,
    BatchCompleted,
    BatchRejected,
    BreakerState,
    CircuitBreakerStateChanged,
    PriceUpdated,
)
from schemas.events import ExchangeStatusChanged, PriceRecovered, PriceStale

__all__ = ["BatchLine", "PriceLine", "TopState", "render", "render_text"]

_NS = 1_000_000_000
_RECENT_BATCHES = 8
_BREAKER_STYLE = {
    BreakerState.CLOSED: "green",
    BreakerState.HALF_OPEN: "yellow",
    BreakerState.OPEN: "bold red",
}


@dataclass
class PriceLine:
    bid: Decimal
    ask: Decimal
    last: Decimal
    received_ns: int
    stale: bool = False


@dataclass(frozen=True)
class BatchLine:
    batch_id: str
    strategy: str
    outcome: str
    seen_ns: int


@dataclass
class TopState:
    staleness_threshold_ns: int
    prices: dict[str, PriceLine] = field(default_factory=dict)
    breakers: dict[str, CircuitBreakerStateChanged] = field(default_factory=dict)
    exchange: dict[str, ExchangeStatusChanged] = field(default_factory=dict)
    batches: deque[BatchLine] = field(default_factory=lambda: deque(maxlen=_RECENT_BATCHES))
    health: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    """Each actor's last health answer; ``None`` when it did not answer."""

    def apply(self, message: AnyMessage, now_ns: int) -> None:
        if isinstance(message, PriceUpdated):
            self.prices[message.pair] = PriceLine(
                message.bid, message.ask, message.last, received_ns=now_ns
            )
        elif isinstance(message, PriceStale) and message.pair in self.prices:
            self.prices[message.pair].stale = True
        elif isinstance(message, PriceRecovered) and message.pair in self.prices:
            self.prices[message.pair].stale = False
        elif isinstance(message, CircuitBreakerStateChanged):
            self.breakers[message.scope] = message
        elif isinstance(message, ExchangeStatusChanged):
            self.exchange[message.exchange] = message
        elif isinstance(message, BatchCompleted):
            outcome = (
                f"{message.placed} placed, {message.rejected} rejected, {message.failed} failed"
            )
            self.batches.appendleft(
                BatchLine(message.batch_id, str(message.strategy), outcome, now_ns)
            )
        elif isinstance(message, BatchRejected):
            self.batches.appendleft(
                BatchLine(message.batch_id, "-", f"rejected: {message.reason}", now_ns)
            )


def _clock(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / _NS, dt.UTC).strftime("%H:%M:%SZ")


def _prices(state: TopState, now_ns: int) -> Table:
    table = Table(title="prices", title_justify="left", expand=True)
    for column in ("pair", "bid", "ask", "last", "age", "state"):
        table.add_column(
            column, justify="right" if column in ("bid", "ask", "last", "age") else "left"
        )
    for pair in sorted(state.prices):
        line = state.prices[pair]
        age_ns = now_ns - line.received_ns
        stale = line.stale or age_ns > state.staleness_threshold_ns
        table.add_row(
            pair,
            str(line.bid),
            str(line.ask),
            str(line.last),
            f"{age_ns / _NS:.1f}s",
            Text("STALE", style="bold red") if stale else Text("fresh", style="green"),
        )
    return table


def _breakers(state: TopState) -> Table:
    table = Table(title="breakers and exchange", title_justify="left", expand=True)
    for column in ("scope", "state", "reason", "retry at"):
        table.add_column(column)
    for scope in sorted(state.breakers):
        event = state.breakers[scope]
        retry = "-" if event.retry_at_ns is None else _clock(event.retry_at_ns)
        style = _BREAKER_STYLE[event.state]
        table.add_row(scope, Text(str(event.state), style=style), event.reason, retry)
    for exchange in sorted(state.exchange):
        status = state.exchange[exchange]
        table.add_row(f"exchange {exchange}", str(status.status), "", "")
    return table


def _batches(state: TopState) -> Table:
    table = Table(title="recent batches", title_justify="left", expand=True)
    for column in ("seen", "batch", "strategy", "outcome"):
        table.add_column(column)
    for batch in state.batches:
        table.add_row(_clock(batch.seen_ns), batch.batch_id, batch.strategy, batch.outcome)
    return table


def _actors(state: TopState) -> Table:
    table = Table(title="actors", title_justify="left", expand=True)
    for column in ("actor", "health", "bus", "reconnects"):
        table.add_column(column)
    for actor in sorted(state.health):
        report = state.health[actor]
        if report is None:
            table.add_row(actor, Text("no answer", style="bold red"), "-", "-")
            continue
        connected = "connected" if report.get("connected") else "disconnected"
        table.add_row(
            actor, Text("up", style="green"), connected, str(report.get("bus_reconnects", 0))
        )
    return table


def render(state: TopState, now_ns: int) -> Group:
    return Group(
        Text(f"galfriday top - {_clock(now_ns)}  (Ctrl-C quits)", style="bold"),
        _prices(state, now_ns),
        _breakers(state),
        _batches(state),
        _actors(state),
    )


def render_text(state: TopState, now_ns: int, width: int = 100) -> str:
    """One frame as plain text, as a terminal of ``width`` columns would show it."""
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(render(state, now_ns))
    return console.export_text()
