"""Kraken's documented error strings (KRAKEN.md §2) mapped to categories, by prefix."""

from __future__ import annotations

from actors.error_classifier.categories import ErrorCategory as C

__all__ = ["CATALOGUE", "MAX_PREFIX_PARTS", "WS_TEXT_PREFIXES", "normalize_part"]

CATALOGUE: dict[str, C] = {
    # EGeneral
    "EGeneral:Invalid arguments": C.INVALID_ARGUMENTS,
    "EGeneral:Invalid arguments:Index unavailable": C.INDEX_UNAVAILABLE,
    "EGeneral:Temporary lockout": C.LOCKOUT,
    "EGeneral:Permission denied": C.PERMISSION,
    "EGeneral:Internal error": C.INTERNAL,
    "EGeneral:Unknown method": C.INVALID_ARGUMENTS,
    "EGeneral:Too many requests": C.RATE_LIMIT,
    # EService
    "EService:Unavailable": C.SERVICE_UNAVAILABLE,
    "EService:Busy": C.BUSY,
    "EService:Market in cancel_only mode": C.MARKET_MODE,
    "EService:Market in post_only mode": C.MARKET_MODE,
    "EService:Deadline elapsed": C.DEADLINE_ELAPSED,
    "EService:Throttled": C.THROTTLED,
    # EAPI
    "EAPI:Invalid key": C.AUTH,
    "EAPI:Invalid signature": C.AUTH,
    "EAPI:Invalid nonce": C.NONCE,
    "EAPI:Rate limit exceeded": C.RATE_LIMIT,
    "EAPI:Bad request": C.INVALID_ARGUMENTS,
    "EAPI:Permission denied": C.PERMISSION,
    "EAPI:Invalid token": C.SESSION_EXPIRED,
    # EAuth
    "EAuth:Failed": C.AUTH,
    "EAuth:Account temporary disabled": C.ACCOUNT,
    "EAuth:Account unconfirmed": C.ACCOUNT,
    "EAuth:Rate limit exceeded": C.RATE_LIMIT,
    "EAuth:Too many requests": C.RATE_LIMIT,
    # ESession: KRAKEN.md lists it twice (N via ccxt, R* via the official SDK); the official
    # SDK's "refresh + resend" wins.
    "ESession:Invalid session": C.SESSION_EXPIRED,
    # EOrder
    "EOrder:Cannot open opposing position": C.MARGIN,
    "EOrder:Cannot open position": C.MARGIN,
    "EOrder:Margin allowance exceeded": C.MARGIN,
    "EOrder:Margin level too low": C.MARGIN,
    "EOrder:Margin position size exceeded": C.MARGIN,
    "EOrder:Insufficient margin": C.MARGIN,
    "EOrder:Positions limit exceeded": C.MARGIN,
    "EOrder:Unknown position": C.MARGIN,
    "EOrder:Insufficient funds": C.INSUFFICIENT_FUNDS,
    "EOrder:Order minimum not met": C.INVALID_ORDER,
    "EOrder:Cost minimum not met": C.INVALID_ORDER,
    "EOrder:Tick size check failed": C.INVALID_ORDER,
    "EOrder:Invalid price": C.INVALID_ORDER,
    "EOrder:Invalid order": C.INVALID_ORDER,
    "EOrder:Post only order": C.INVALID_ORDER,
    "EOrder:Reduce only:No position exists": C.INVALID_ORDER,
    "EOrder:Orders limit exceeded": C.ORDERS_LIMIT,
    "EOrder:Scheduled orders limit exceeded": C.ORDERS_LIMIT,
    "EOrder:Rate limit exceeded": C.RATE_LIMIT,
    "EOrder:Domain rate limit exceeded": C.RATE_LIMIT,
    "EOrder:Unknown order": C.UNKNOWN_ORDER,
    # EQuery
    "EQuery:Unknown asset pair": C.UNKNOWN_ASSET,
    "EQuery:Unknown asset": C.UNKNOWN_ASSET,
    "EQuery:Invalid asset pair": C.UNKNOWN_ASSET,
    # EFunding (PKS map) and others
    "EFunding:Max fee exceeded": C.FUNDING,
    "EFunding:Invalid reference id": C.FUNDING,
    "EFunding:Unknown reference id": C.FUNDING,
    "EFunding:Unknown withdraw key": C.FUNDING,
    "EFunding:Invalid amount": C.FUNDING,
    "EFunding:Invalid staking method": C.FUNDING,
    "EFunding:Too many addresses": C.FUNDING,
    "EFunding:Unknown asset": C.FUNDING,
    "EFunding:No funding method": C.FUNDING,
    "EBM:limit exceeded:CAL": C.ACCOUNT,
    "ETrade:User Locked": C.ACCOUNT,
    "EDatabase:Internal error": C.INTERNAL,
    # WS v2 answers that are not in E<Category>: form.
    "Exceeded msg rate": C.RATE_LIMIT,
    "Post only order": C.INVALID_ORDER,
    # WS v2 request errors (KRAKEN.md §5): the request was refused before the engine saw it.
    "Unsupported field": C.INVALID_ARGUMENTS,
    "Malformed request": C.INVALID_ARGUMENTS,
    "Method not found": C.INVALID_ARGUMENTS,
    "Subscription Not Found": C.INVALID_ARGUMENTS,
    "Private data and trading are unavailable on this endpoint. Try ws-auth.kraken.com": (
        C.INVALID_ARGUMENTS
    ),
}
"""Canonical string → category. Keys are matched part by part (split on ``:``), case- and
whitespace-insensitively; the longest matching key wins and what follows is the detail."""


WS_TEXT_PREFIXES: dict[str, C] = {
    "Currency pair not supported": C.UNKNOWN_ASSET,
}
"""WS v2 errors whose variable part follows without a ``:`` (``Currency pair not supported
BTC/XYZ``): matched by text prefix, the rest is the detail."""


def normalize_part(part: str) -> str:
    return " ".join(part.split()).casefold()


MAX_PREFIX_PARTS = max(len(key.split(":")) for key in CATALOGUE)
