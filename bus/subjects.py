"""The only place NATS subjects, stream names and KV bucket names are built.

Tokens are lowercase and ordered general to specific under a configurable root (default ``gf``).
A pair symbol (``BTC/USD``) becomes one token through :func:`pair_token`.
"""

from __future__ import annotations

import re

__all__ = ["OrderState", "Subjects", "pair_token", "token_to_pair"]

_UNSAFE_TOKEN_CHARS = re.compile(r"[^A-Za-z0-9_\-]")


def pair_token(pair: str) -> str:
    """``BTC/USD`` → ``BTC-USD``; any other character unsafe in a NATS token becomes ``_``."""
    if not pair:
        raise ValueError("pair must not be empty")
    return _UNSAFE_TOKEN_CHARS.sub("_", pair.replace("/", "-"))


def token_to_pair(token: str) -> str:
    """Inverse of :func:`pair_token` for ordinary symbols (``BTC-USD`` → ``BTC/USD``)."""
    return token.replace("-", "/", 1)


OrderState = str
"""``placed``, ``rejected`` or ``failed``."""


class Subjects:
    """Subjects under one root. Tests build their own with a unique root."""

    def __init__(self, root: str = "gf") -> None:
        if not re.fullmatch(r"[a-z0-9_\-]+(\.[a-z0-9_\-]+)*", root):
            raise ValueError(f"invalid subject root {root!r}: lowercase tokens separated by '.'")
        self.root = root

    def _join(self, *tokens: str) -> str:
        return ".".join((self.root, *tokens))

    # -- market data
    def price(self, pair: str) -> str:
        return self._join("md", "price", pair_token(pair))

    def price_all(self) -> str:
        return self._join("md", "price", "*")

    def book(self, pair: str) -> str:
        """L2 book tops: core NATS only, in no stream (they are superseded within a second)."""
        return self._join("md", "book", pair_token(pair))

    def book_all(self) -> str:
        return self._join("md", "book", "*")

    def stale(self, pair: str) -> str:
        return self._join("md", "stale", pair_token(pair))

    def stale_all(self) -> str:
        return self._join("md", "stale", "*")

    def volatility(self, pair: str) -> str:
        return self._join("md", "volatility", pair_token(pair))

    def volatility_all(self) -> str:
        return self._join("md", "volatility", "*")

    def session(self) -> str:
        return self._join("md", "session")

    def exchange_status(self) -> str:
        return self._join("md", "status")

    def price_query(self) -> str:
        return self._join("md", "query", "price")

    def status_query(self) -> str:
        return self._join("md", "query", "status")

    # -- orders
    def batch_requested(self) -> str:
        return self._join("orders", "batch", "requested")

    def batch_completed(self) -> str:
        return self._join("orders", "batch", "completed")

    def batch_rejected(self) -> str:
        return self._join("orders", "batch", "rejected")

    def order_event(self, state: OrderState) -> str:
        return self._join("orders", "order", state)

    def order_events_all(self) -> str:
        return self._join("orders", "order", "*")

    # -- Kraken calls, errors, breakers, control
    def kraken_call(self, outcome: str) -> str:
        """``outcome`` is ``succeeded`` or ``failed``."""
        return self._join("kraken", "call", outcome)

    def kraken_calls_all(self) -> str:
        return self._join("kraken", "call", "*")

    def verdict(self) -> str:
        return self._join("errors", "verdict")

    def error_statistics(self) -> str:
        return self._join("errors", "statistics")

    def breaker(self, scope: str) -> str:
        return self._join("breaker", scope)

    def breakers_all(self) -> str:
        return self._join("breaker", ">")

    def kill_switch(self) -> str:
        return self._join("control", "kill")

    def kill_switch_ack(self) -> str:
        """Routers' acknowledgements of the kill switch (core NATS, outside every stream)."""
        return self._join("control", "kill", "ack")

    def dlq(self, actor: str) -> str:
        return self._join("dlq", actor)

    def dlq_all(self) -> str:
        return self._join("dlq", "*")

    def service_endpoint(self, actor: str, endpoint: str) -> str:
        """An actor's micro-service endpoint (``health``, ``stats``) beside ``$SRV.*``."""
        return self._join("svc", actor, endpoint)

    def everything(self) -> str:
        return self._join(">")

    # -- JetStream names (no dots allowed there)
    def stream_name(self, kind: str) -> str:
        return f"{self.root.upper().replace('.', '_').replace('-', '_')}_{kind.upper()}"

    def bucket_name(self, kind: str) -> str:
        return f"{self.root.replace('.', '_')}_{kind}"

    def durable_name(self, actor: str, purpose: str) -> str:
        return f"{self.root.replace('.', '_')}_{actor}_{purpose}".replace("-", "_")
