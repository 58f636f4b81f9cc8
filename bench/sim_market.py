"""The simulated market: matching-engine orders/s against a 1 000-level book, and the book
pipeline's updates/s (WS v2 book message text -> decode -> checksum -> BookUpdated), in one run.

``python -m bench.sim_market [orders] [updates]``.
"""

from __future__ import annotations

import sys
import time
from decimal import Decimal

from actors.market_data.order_book import OrderBooks
from kraken.sim import BookProfile, ManualClock, SimExchange
from kraken.sim.auth import ApiCredential
from kraken.sim.depth import BookView, book_message
from kraken.sim.orders import parse_order
from kraken.sim.pairs import find_pair
from kraken.sim.wire import compact_json
from kraken.ws import BookUpdate, decode_ws_message
from schemas.config import KrakenTier

LEVELS = 1_000
ORDERS = 20_000
UPDATES = 20_000
BOOK_DEPTH = 100
_RICH = {"ZUSD": Decimal(10) ** 12, "XXBT": Decimal(10) ** 9}


def _exchange(levels: int) -> SimExchange:
    exchange = SimExchange(
        seed=1,
        clock=ManualClock(),
        tier=KrakenTier.PRO,
        credentials=[ApiCredential("bench", "c2VjcmV0")],
        balances=_RICH,
        book_profile=BookProfile(levels=levels),
    )
    exchange.set_price("XBTUSD", Decimal("50000.0"))
    return exchange


def matching_orders_per_s(orders: int = ORDERS, levels: int = LEVELS) -> float:
    """Alternating market buys/sells that each walk a few levels, plus crossing IOC limits."""
    exchange = _exchange(levels)
    spec = find_pair("XBTUSD")
    assert spec is not None
    account = exchange.account()
    quote = exchange.quote("XBTUSD")
    intents = []
    for index in range(orders):
        side = "buy" if index % 2 == 0 else "sell"
        params = {"type": side, "ordertype": "market", "volume": "8"}
        if index % 4 >= 2:
            touch = quote.ask + 5 if side == "buy" else quote.bid - 5
            params |= {"ordertype": "limit", "price": str(touch), "timeinforce": "IOC"}
        intents.append(parse_order(params, spec, quote.ask, 0))
    started = time.perf_counter()
    for index, intent in enumerate(intents):
        if index % 50 == 0:
            exchange.set_price("XBTUSD", Decimal("50000.0"))  # refill the book
        exchange.place(account, intent)
    return orders / (time.perf_counter() - started)


def _book_messages(updates: int, depth: int) -> list[str]:
    exchange = _exchange(max(depth, 10) + 20)
    book = exchange.books["XXBTZUSD"]
    view = BookView(depth)
    first = book_message(book, view, 0, snapshot=True)
    assert first is not None
    messages = [compact_json(first)]
    spec = book.spec
    while len(messages) <= updates:
        # A taker nibbles the touch: one or two changed levels per update, as on Kraken.
        side = "buy" if len(messages) % 2 else "sell"
        book.take(side, spec.ordermin * 500, None)
        if not book.asks or not book.bids or len(book.asks) < depth or len(book.bids) < depth:
            book.rebuild(Decimal("50000.0"), Decimal("50000.1"))
        message = book_message(book, view, len(messages), snapshot=False)
        if message is not None:
            messages.append(compact_json(message))
    return messages


def book_updates_per_s(updates: int = UPDATES, depth: int = BOOK_DEPTH) -> float:
    messages = _book_messages(updates, depth)
    books = OrderBooks({"BTC/USD": (1, 8)}, depth=depth, top_n=10, min_interval_ns=0)
    published = 0
    started = time.perf_counter()
    for index, text in enumerate(messages):
        for update in decode_ws_message(text, index) or []:
            assert isinstance(update, BookUpdate)
            event, resync = books.on_update(update, index)
            assert not resync, "the sim's checksums must verify"
            published += event is not None
    elapsed = time.perf_counter() - started
    assert published == len(messages)
    return len(messages) / elapsed


def report(matching: float, book: float, orders: int, updates: int) -> None:
    print(f"sim matching engine: {matching:,.0f} orders/s ({orders} orders, {LEVELS}-level book)")
    print(
        f"book pipeline: {book:,.0f} updates/s (WS text -> decode -> CRC32 -> BookUpdated, "
        f"depth {BOOK_DEPTH}, {updates} updates)"
    )


def figures() -> dict[str, float]:
    """This bench's figures (printed as it always did) for ``bench.run_all``."""
    matching, book = matching_orders_per_s(), book_updates_per_s()
    report(matching, book, ORDERS, UPDATES)
    return {"matching_orders_per_s": round(matching), "book_updates_per_s": round(book)}


def main() -> int:
    orders = int(sys.argv[1]) if len(sys.argv) > 1 else ORDERS
    updates = int(sys.argv[2]) if len(sys.argv) > 2 else UPDATES
    report(matching_orders_per_s(orders), book_updates_per_s(updates), orders, updates)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
