"""Kraken REST request signing (KRAKEN.md §1.1).

``API-Sign = base64(HMAC-SHA512(base64decode(secret), path + SHA256(nonce + body)))`` where the
body is the exact bytes sent and the SHA-256 digest is raw (32 bytes), not hex.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = ["sign_request"]


def sign_request(*, secret_b64: str, url_path: str, nonce: int | str, body: bytes | str) -> str:
    """Return the ``API-Sign`` header value for one private request."""
    body_bytes = body.encode() if isinstance(body, str) else body
    digest = hashlib.sha256(str(nonce).encode() + body_bytes).digest()
    mac = hmac.new(base64.b64decode(secret_b64), url_path.encode() + digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()
