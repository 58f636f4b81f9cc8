"""WebSocket session tokens: issued by REST ``GetWebSocketsToken``, checked by ``/ws/v2-auth``.

KRAKEN.md §3.2: a token must be used within 15 minutes (``expires: 900``), and "does not expire
once a successful Websockets connection and private subscription has been made and is
maintained". So a token is valid while it is younger than 900 s, or while at least one open
connection holds a private subscription made with it; once the last such subscription ends, an
old token is dead for good.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from kraken.sim.clock import Clock
from kraken.sim.wire import NANOS_PER_SECOND

__all__ = ["INVALID_TOKEN", "TOKEN_LIFETIME_S", "WsTokens"]

TOKEN_LIFETIME_S = 900
# KRAKEN.md §2.2: "EAPI:Invalid token" (stale token; refresh with GetWebSocketsToken, resend).
INVALID_TOKEN = "EAPI:Invalid token"
_ALPHABET = string.ascii_letters + string.digits + "+/"


@dataclass(slots=True)
class _Token:
    account: str
    issued_ns: int
    pinned: int = 0
    revoked: bool = False


class WsTokens:
    def __init__(self, clock: Clock, rng: random.Random) -> None:
        self._clock = clock
        self._random = rng
        self._tokens: dict[str, _Token] = {}

    def issue(self, account: str) -> str:
        token = "".join(self._random.choice(_ALPHABET) for _ in range(43))
        self._tokens[token] = _Token(account, self._clock())
        return token

    def account_of(self, token: object) -> str | None:
        """The account a live token belongs to, or ``None`` (unknown, expired or revoked)."""
        found = self._tokens.get(token) if isinstance(token, str) else None
        if found is None or found.revoked:
            return None
        if found.pinned == 0 and self._expired(found):
            return None
        return found.account

    def _expired(self, token: _Token) -> bool:
        return self._clock() - token.issued_ns >= TOKEN_LIFETIME_S * NANOS_PER_SECOND

    def pin(self, token: str) -> None:
        """A private subscription made with ``token`` keeps it alive while it lasts."""
        found = self._tokens.get(token)
        if found is not None:
            found.pinned += 1

    def unpin(self, token: str) -> None:
        found = self._tokens.get(token)
        if found is not None and found.pinned > 0:
            found.pinned -= 1
            if found.pinned == 0 and self._expired(found):
                found.revoked = True

    def revoke_all(self) -> None:
        """Every token stops working (a test's "session invalidated" fault)."""
        for token in self._tokens.values():
            token.revoked = True
