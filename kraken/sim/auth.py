"""Private-endpoint authentication: API key, ``API-Sign`` over the exact body, and nonces."""

from __future__ import annotations

import hmac

from kraken.signing import sign_request
from kraken.sim.errors import INVALID_KEY, INVALID_NONCE, INVALID_SIGNATURE, SimError

__all__ = ["ApiCredential", "NonceTracker", "authenticate"]

_UINT64_MAX = 2**64 - 1


class NonceTracker:
    """Accepts strictly increasing nonces, or, with a window, late ones not seen before.

    Kraken's nonce window is a tolerance "between nonce values" (KRAKEN.md §1.3): a nonce up to
    ``window`` below the highest accepted one is still accepted once, which absorbs requests that
    overtake each other on the network. A repeat is always refused.
    """

    def __init__(self, window: int = 0) -> None:
        self.window = window
        self.highest: int | None = None
        self._recent: set[int] = set()

    def accept(self, nonce: int) -> bool:
        if self.highest is None or nonce > self.highest:
            self.highest = nonce
            self._recent.add(nonce)
            floor = nonce - self.window
            self._recent = {seen for seen in self._recent if seen >= floor}
            return True
        if self.window > 0 and nonce >= self.highest - self.window and nonce not in self._recent:
            self._recent.add(nonce)
            return True
        return False


class ApiCredential:
    """One API key of the simulator; its secret never appears in ``repr``."""

    def __init__(self, key: str, secret_b64: str, nonce_window: int = 0) -> None:
        self.key = key
        self._secret_b64 = secret_b64
        self.nonces = NonceTracker(nonce_window)

    def __repr__(self) -> str:
        return f"ApiCredential(key={self.key!r})"

    def signature_matches(self, *, url_path: str, nonce: str, body: bytes, signature: str) -> bool:
        expected = sign_request(
            secret_b64=self._secret_b64, url_path=url_path, nonce=nonce, body=body
        )
        return hmac.compare_digest(expected.encode(), signature.encode())


def _parse_nonce(raw: object) -> tuple[str, int]:
    text = raw if isinstance(raw, str) else str(raw) if isinstance(raw, int) else None
    if text is None or not text.isdigit():
        raise SimError(INVALID_NONCE)
    value = int(text)
    if value > _UINT64_MAX:
        raise SimError(INVALID_NONCE)
    return text, value


def authenticate(
    credentials: dict[str, ApiCredential],
    *,
    api_key: str | None,
    api_sign: str | None,
    url_path: str,
    body: bytes,
    nonce: object,
) -> ApiCredential:
    """Check key, then signature, then nonce, in the order Kraken reports them."""
    credential = credentials.get(api_key or "")
    if credential is None:
        raise SimError(INVALID_KEY)
    nonce_text, nonce_value = _parse_nonce(nonce) if nonce is not None else ("", -1)
    if not api_sign or not credential.signature_matches(
        url_path=url_path, nonce=nonce_text, body=body, signature=api_sign
    ):
        raise SimError(INVALID_SIGNATURE)
    if nonce is None or not credential.nonces.accept(nonce_value):
        raise SimError(INVALID_NONCE)
    return credential
