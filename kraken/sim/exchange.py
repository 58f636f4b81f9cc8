"""The state of the simulated exchange: accounts, orders, prices, status, and their evolution.

Everything time-dependent reads the injected clock; everything random draws from a
``random.Random`` derived from the seed, one per purpose, so a seed replays the same run.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Protocol

from kraken.ratelimit import RestCallLimiter, TradingRateLimiter, cancel_penalty
from kraken.sim.auth import ApiCredential
from kraken.sim.book import BookProfile, SyntheticBook
from kraken.sim.clock import Clock
from kraken.sim.errors import INSUFFICIENT_FUNDS, POST_ONLY_ORDER, SimError
from kraken.sim.faults import FaultInjector
from kraken.sim.fees import fee_rate, usd_value
from kraken.sim.ids import ID_ALPHABET, draw_id_chars
from kraken.sim.matching import UNFILLED_IOC, Matcher
from kraken.sim.orders import OrderIntent, SimOrder
from kraken.sim.pairs import PAIR_STATUSES, PAIRS, PairSpec, find_pair
from kraken.sim.prices import PriceProcess, Quote
from kraken.sim.scenario import StatusChange, WsDisconnect, WsSilence
from kraken.sim.triggers import TriggerState, trigger_fires
from kraken.sim.wire import NANOS_PER_SECOND
from kraken.sim.ws_tokens import WsTokens
from schemas.config import KrakenTier

__all__ = [
    "DEFAULT_BALANCES",
    "SYSTEM_STATUSES",
    "Account",
    "LedgerEntry",
    "MarketFeed",
    "SimExchange",
]

SYSTEM_STATUSES = frozenset({"online", "maintenance", "cancel_only", "post_only"})

DEFAULT_BALANCES: dict[str, Decimal] = {
    "ZUSD": Decimal(1_000_000),
    "XXBT": Decimal(10),
    "XETH": Decimal(100),
    "SOL": Decimal(1000),
    "USDT": Decimal(1_000_000),
}

# Open orders per pair before ``EOrder:Orders limit exceeded`` (KRAKEN.md §4.2).
_OPEN_ORDER_LIMITS = {KrakenTier.STARTER: 60, KrakenTier.INTERMEDIATE: 80, KrakenTier.PRO: 225}
# Kraken gives no reason string for a dead man's switch cancel; this one names the mechanism.
DEAD_MAN_SWITCH_REASON = "Dead man's switch"
# Kraken's reason on an order the engine cancels for lack of funds (e.g. a triggered stop).
INSUFFICIENT_FUNDS_REASON = "Insufficient funds"


class MarketFeed(Protocol):
    """What the exchange pushes to WebSocket clients."""

    def publish_quote(self, spec: PairSpec, quote: Quote) -> None: ...

    def publish_book(self, spec: PairSpec, book: SyntheticBook) -> None: ...

    def publish_status(self, status: str) -> None: ...

    def disconnect_all(self, *, abrupt: bool = False) -> None: ...


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One order the exchange accepted, in acceptance order."""

    txid: str
    cl_ord_id: str | None
    pair: str
    side: str
    type: str
    volume: Decimal
    price: Decimal | None
    status: str
    time_ns: int

    def to_json(self) -> dict[str, Any]:
        return {
            "txid": self.txid,
            "cl_ord_id": self.cl_ord_id,
            "pair": self.pair,
            "side": self.side,
            "type": self.type,
            "volume": str(self.volume),
            "price": None if self.price is None else str(self.price),
            "status": self.status,
            "time_ns": self.time_ns,
        }


class Account:
    """Balances, limiters and the dead man's switch of one API key."""

    def __init__(
        self,
        credential: ApiCredential,
        balances: dict[str, Decimal],
        tier: KrakenTier,
        clock: Clock,
    ) -> None:
        self.credential = credential
        self.tier = tier
        self.balances = dict(balances)
        self.rest_limiter = RestCallLimiter(tier, clock)
        self.trading_limiter = TradingRateLimiter(tier, clock)
        self.dead_man_trigger_ns: int | None = None

    @property
    def key(self) -> str:
        return self.credential.key


_PLACEMENT_ENDPOINTS = ("AddOrder", "AddOrderBatch", "ws:add_order", "ws:batch_add")


class SimExchange:
    def __init__(
        self,
        *,
        seed: int,
        clock: Clock,
        tier: KrakenTier,
        credentials: list[ApiCredential],
        balances: dict[str, Decimal] | None = None,
        step_volatility: float = 0.0005,
        book_profile: BookProfile | None = None,
        extra_accounts: Sequence[tuple[ApiCredential, KrakenTier, dict[str, Decimal] | None]] = (),
        shared_keys: Mapping[str, str] | None = None,
    ) -> None:
        """``shared_keys``: API key -> the key of the account it trades for (several keys on
        one account: each has its own nonces, the account's orders and balances are shared)."""
        self.seed = seed
        self.book_profile = book_profile or BookProfile()
        self.clock = clock
        self.tier = tier
        self.started_ns = clock()
        self._credentials = credentials + [credential for credential, _, _ in extra_accounts]
        self._setups = {
            credential.key: (tier, balances) for credential, tier, balances in extra_accounts
        }
        self._shared_keys = dict(shared_keys or {})
        known = {credential.key for credential in self._credentials}
        for key, owner in self._shared_keys.items():
            if owner not in known or owner in self._shared_keys or key not in known:
                raise ValueError(f"API key {key!r}: account_of {owner!r} is not an account's key")
        self._initial_balances = dict(balances or DEFAULT_BALANCES)
        self._step_volatility = step_volatility
        self.feeds: list[MarketFeed] = []
        self.order_closed_listeners: list[Callable[[SimOrder], None]] = []
        """Called with every order that reaches a final status (filled, canceled, expired)."""
        self.faults = FaultInjector(clock, random.Random(f"{seed}:faults"))
        self.ws_silenced_until_ns = 0
        self.book_checksum_faults = 0
        """WS book updates still to send with a wrong checksum (a resync test's fault)."""
        self.ws_tokens = WsTokens(clock, random.Random(f"{seed}:ws-tokens"))
        """WS session tokens; they survive ``reset()`` like the API keys they belong to."""
        self._reset_state()

    def _reset_state(self) -> None:
        now = self.clock()
        self._ids = random.Random(f"{self.seed}:ids")
        self._record_ids = random.Random(f"{self.seed}:record-ids")
        self._issued_ids: set[str] = set()
        self.prices = {
            spec.pair_id: PriceProcess(spec, self.seed, now, self._step_volatility)
            for spec in PAIRS
        }
        self.books = {
            spec.pair_id: SyntheticBook(spec, self.book_profile, self.seed) for spec in PAIRS
        }
        for spec in PAIRS:
            self._rebuild_book(spec)
        self.matcher = Matcher(self.new_id, self.clock, self._usd_value)
        self.system_status = "online"
        self.pair_status = {spec.pair_id: spec.status for spec in PAIRS}
        self.accounts = {
            credential.key: self._new_account(credential)
            for credential in self._credentials
            if credential.key not in self._shared_keys
        }
        for key, owner in self._shared_keys.items():
            self.accounts[key] = self.accounts[owner]
        self.orders: dict[str, SimOrder] = {}
        self._placements = itertools.count()
        # Open orders only, in placement order: what matching and holds iterate over.
        self._open: dict[str, SimOrder] = {}
        self._requests: Counter[str] = Counter()
        self.ws_silenced_until_ns = 0

    def _new_account(self, credential: ApiCredential) -> Account:
        tier, balances = self._setups.get(credential.key, (self.tier, None))
        start = self._initial_balances if balances is None else balances
        return Account(credential, start, tier, self.clock)

    def reset(self) -> None:
        """Back to the starting state: balances, orders, prices, status, counters, faults."""
        for credential in self._credentials:
            credential.nonces.highest = None
        self.faults.clear()
        self._reset_state()

    @property
    def credentials(self) -> dict[str, ApiCredential]:
        return {credential.key: credential for credential in self._credentials}

    @property
    def open_order_limit(self) -> int:
        return _OPEN_ORDER_LIMITS[self.tier]

    def open_order_limit_of(self, account: Account) -> int:
        return _OPEN_ORDER_LIMITS[account.tier]

    # -- observation ---------------------------------------------------------------------

    def count_request(self, endpoint: str) -> None:
        self._requests[endpoint] += 1

    def request_counts(self) -> dict[str, int]:
        """Requests received per endpoint name (``AddOrder``, ``Ticker``…), faults included."""
        return dict(self._requests)

    def placement_requests(self) -> int:
        """Order placements received over REST and the WS trading socket, faults included."""
        return sum(self._requests[endpoint] for endpoint in _PLACEMENT_ENDPOINTS)

    def ledger(self) -> list[LedgerEntry]:
        """Every order ever accepted (validate-only and rejected orders are not in it)."""
        return [
            LedgerEntry(
                txid=order.txid,
                cl_ord_id=order.intent.cl_ord_id,
                pair=order.pair.pair_id,
                side=order.intent.side,
                type=order.intent.ordertype,
                volume=order.intent.volume,
                price=order.intent.price,
                status=order.status,
                time_ns=order.opentm_ns,
            )
            for order in self.orders.values()
        ]

    def quote(self, pair: str) -> Quote:
        return self.prices[self._spec(pair).pair_id].quote

    def account(self, key: str | None = None) -> Account:
        return self.accounts[key] if key is not None else next(iter(self.accounts.values()))

    def balances(self, key: str | None = None) -> dict[str, Decimal]:
        return dict(self.account(key).balances)

    # -- control -------------------------------------------------------------------------

    def _spec(self, pair: str) -> PairSpec:
        spec = find_pair(pair)
        if spec is None:
            raise KeyError(f"unknown pair {pair!r}")
        return spec

    def set_price(self, pair: str, price: Decimal) -> Quote:
        """Put the pair's touch at ``price`` now, fill what crosses, and stream the update."""
        spec = self._spec(pair)
        quote = self.prices[spec.pair_id].set_price(Decimal(price), self.clock())
        self._after_quote(spec, quote)
        return quote

    def step_prices(self, steps: int = 1) -> None:
        """Advance every pair's seeded random walk by ``steps``."""
        for _ in range(steps):
            for spec in PAIRS:
                self.step_pair(spec)

    def step_pair(self, spec: PairSpec) -> None:
        """Advance one pair's random walk by a step (the background loop yields between pairs)."""
        quote = self.prices[spec.pair_id].step(self.clock())
        self._after_quote(spec, quote)

    def _rebuild_book(self, spec: PairSpec) -> Quote:
        """The synthetic book follows the path; the ticker's touch sizes are the book's."""
        process = self.prices[spec.pair_id]
        quote = process.quote
        book = self.books[spec.pair_id]
        book.rebuild(quote.bid, quote.ask)
        best_bid, best_ask = book.best_bid(), book.best_ask()
        if best_bid is not None and best_ask is not None and not book.profile.unlimited:
            quote = replace(quote, bid_qty=best_bid.qty, ask_qty=best_ask.qty)
            process.quote = quote
        return quote

    def _after_quote(self, spec: PairSpec, quote: Quote) -> None:
        quote = self._rebuild_book(spec)
        self._fire_triggers(spec)
        self._match_resting(spec)
        for feed in self.feeds:
            feed.publish_quote(spec, quote)
        self._publish_book(spec)

    def _publish_book(self, spec: PairSpec) -> None:
        for feed in self.feeds:
            feed.publish_book(spec, self.books[spec.pair_id])

    def set_status(self, status: str) -> None:
        if status not in SYSTEM_STATUSES:
            raise ValueError(f"status must be one of {sorted(SYSTEM_STATUSES)}")
        changed = status != self.system_status
        self.system_status = status
        if changed:
            for feed in self.feeds:
                feed.publish_status(status)
            for spec in PAIRS:
                self._match_resting(spec)

    def set_pair_status(self, pair: str, status: str) -> None:
        if status not in PAIR_STATUSES:
            raise ValueError(f"pair status must be one of {sorted(PAIR_STATUSES)}")
        self.pair_status[self._spec(pair).pair_id] = status

    def disconnect_websockets(self, *, abrupt: bool = False) -> None:
        """Close every WS connection (``abrupt``: drop TCP without a close frame)."""
        for feed in self.feeds:
            feed.disconnect_all(abrupt=abrupt)

    def silence_websockets(self, duration_s: float) -> None:
        """Send nothing at all (not even heartbeats or pongs) for ``duration_s`` of sim time.

        ``silence_websockets(0)`` ends a silence early.
        """
        self.ws_silenced_until_ns = self.clock() + round(duration_s * NANOS_PER_SECOND)

    def ws_silenced(self) -> bool:
        return self.clock() < self.ws_silenced_until_ns

    def tick(self) -> None:
        """One step of the background loop: move prices, then apply everything time-driven."""
        self.step_prices()
        self.process_time()

    def process_time(self) -> None:
        """Apply due timeline events, fire dead man's switches and expire GTD orders."""
        for event in self.faults.due_events():
            if isinstance(event, StatusChange):
                self.set_status(event.status)
            elif isinstance(event, WsDisconnect):
                self.disconnect_websockets()
            elif isinstance(event, WsSilence):
                self.silence_websockets(event.duration_s)
        now = self.clock()
        for account in self.accounts.values():
            trigger = account.dead_man_trigger_ns
            if trigger is not None and now >= trigger:
                account.dead_man_trigger_ns = None
                for order in self.open_orders_of(account.key):
                    self.close_order(order, "canceled", DEAD_MAN_SWITCH_REASON)
        for order in list(self._open.values()):
            expiry = order.intent.expiretm_ns
            if order.is_open and expiry is not None and now >= expiry:
                self.close_order(order, "expired", None)

    # -- orders --------------------------------------------------------------------------

    def new_txid(self) -> str:
        return self.new_id("O")

    def new_id(self, prefix: str) -> str:
        """Kraken-style ids: ``O`` orders, ``T`` trades, ``L`` ledger entries.

        Trades and ledger entries draw from their own seeded stream, so fills never shift the
        order ids a seed produces.
        """
        if prefix == "O":
            while True:
                chars = draw_id_chars(self._ids, 16)
                txid = f"O{chars[:5]}-{chars[5:10]}-{chars[10:]}"
                if txid not in self.orders:
                    return txid
        while True:
            number = self._record_ids.getrandbits(83)
            chars = "".join(ID_ALPHABET[(number >> (5 * i)) % 36] for i in range(16))
            record_id = f"{prefix}{chars[:5]}-{chars[5:10]}-{chars[10:]}"
            if record_id not in self._issued_ids:
                self._issued_ids.add(record_id)
                return record_id

    def open_orders_of(self, key: str, pair_id: str | None = None) -> list[SimOrder]:
        return [
            order
            for order in self._open.values()
            if order.account == key and (pair_id is None or order.intent.pair.pair_id == pair_id)
        ]

    def trades_allowed(self, spec: PairSpec) -> bool:
        """No trades in maintenance, cancel_only or post_only (system or pair status)."""
        return self.system_status == "online" and self.pair_status[spec.pair_id] not in {
            "cancel_only",
            "post_only",
        }

    def _available(
        self, account: Account, asset: str, *, besides: SimOrder | None = None
    ) -> Decimal:
        held = Decimal(0)
        key = account.key
        for order in self._open.values():  # every placement asks: one pass, no lists
            hold = order.hold
            if hold and hold[0] == asset and order.account == key and order is not besides:
                held += hold[1]
        return account.balances.get(asset, Decimal(0)) - held

    def available(self, key: str, asset: str) -> Decimal:
        """Balance minus what open orders hold."""
        return self._available(self.accounts[key], asset)

    def held(self, key: str, asset: str) -> Decimal:
        return self.accounts[key].balances.get(asset, Decimal(0)) - self.available(key, asset)

    def _usd_value(self, spec: PairSpec, cost: Decimal) -> Decimal:
        """A trade's cost in USD for fee tiers, XBT-quoted pairs at XBTUSD's last price."""
        return usd_value(spec, cost, self.prices["XXBTZUSD"].quote.last)

    def fee_rate(self, account: Account, *, maker: bool) -> Decimal:
        """The account's fee from its 30-day volume (AssetPairs' tier table)."""
        return fee_rate(self.thirty_day_volume(account.key), maker=maker)

    def thirty_day_volume(self, key: str) -> Decimal:
        return self.matcher.volumes.total(key, self.clock())

    def place(self, account: Account, intent: OrderIntent) -> SimOrder:
        """Engine-side checks (post-only, funds), then accept, then trade what crosses now.

        Raises ``SimError`` for rejections that Kraken reports per order (also inside a batch).
        """
        spec = intent.pair
        book = self.books[spec.pair_id]
        taker_fee = self.fee_rate(account, maker=False)
        if intent.is_trigger:
            return self._place_trigger(account, intent, taker_fee)
        limit = intent.price if intent.ordertype != "market" else None
        crosses = book.crossing(intent.side, limit)
        if intent.post_only and crosses:
            raise SimError(POST_ONLY_ORDER)
        if intent.side == "buy":
            if limit is None:
                need = book.quote_cost("buy", intent.volume, None) * (1 + taker_fee)
            else:
                need = intent.volume * limit * (1 + taker_fee)
            hold = (spec.quote, need)
        else:
            hold = (spec.base, intent.volume)
        if hold[1] > self._available(account, hold[0]):
            raise SimError(INSUFFICIENT_FUNDS)
        order = SimOrder(
            txid=self.new_txid(),
            account=account.key,
            intent=intent,
            opentm_ns=self.clock(),
            hold=hold,
            placed_seq=next(self._placements),
        )
        self.orders[order.txid] = order
        self._open[order.txid] = order
        self._trade_now(account, order, crosses=crosses, taker_fee=taker_fee)
        return order

    def _trade_now(
        self, account: Account, order: SimOrder, *, crosses: bool, taker_fee: Decimal
    ) -> None:
        """Take what crosses as a taker; then rest, or cancel a market/IOC remainder.

        ``taker_fee``: the account's taker fee now (the caller has it; a trade here may move
        the account to another tier, so the hold asks again after one).
        """
        spec = order.pair
        limit = order.limit_price
        traded = False
        if crosses and self.trades_allowed(spec):
            traded = bool(
                self.matcher.take(account, order, self.books[spec.pair_id], limit, taker_fee)
            )
            if traded:
                taker_fee = self.fee_rate(account, maker=False)
        if self.matcher.remaining(order) <= 0:
            self.close_order(order, "closed", None)
        elif limit is None or order.intent.timeinforce == "IOC":
            # A market order the book could not fill, or an IOC limit's remainder.
            self.close_order(order, "canceled", UNFILLED_IOC if limit is not None else None)
        else:
            order.hold = Matcher.hold_for(order, limit, taker_fee)
        if traded:
            self._publish_book(spec)

    def _place_trigger(self, account: Account, intent: OrderIntent, taker_fee: Decimal) -> SimOrder:
        spec = intent.pair
        quote = self.prices[spec.pair_id].quote
        reference = self._trigger_reference(spec, intent.trigger)
        state = TriggerState(
            ordertype=intent.ordertype,
            side=intent.side,
            reference=intent.trigger,
            stop=intent.price if intent.price is not None else reference,
            trail=intent.trail,
        )
        state.observe(reference)
        if intent.side == "buy":
            unit = max(intent.price2 or state.stop, state.stop, quote.ask)
            hold = (spec.quote, intent.volume * unit * (1 + taker_fee))
        else:
            hold = (spec.base, intent.volume)
        if hold[1] > self._available(account, hold[0]):
            raise SimError(INSUFFICIENT_FUNDS)
        order = SimOrder(
            txid=self.new_txid(),
            account=account.key,
            intent=intent,
            opentm_ns=self.clock(),
            hold=hold,
            placed_seq=next(self._placements),
            stopprice=state.stop,
            limitprice=intent.price2,
            trigger_state=state,
        )
        self.orders[order.txid] = order
        self._open[order.txid] = order
        return order

    def _trigger_reference(self, spec: PairSpec, trigger: str) -> Decimal:
        quote = self.prices[spec.pair_id].quote
        return quote.last if trigger == "last" else (quote.bid + quote.ask) / 2

    def _fire_triggers(self, spec: PairSpec) -> None:
        if not self.trades_allowed(spec):
            return
        for order in list(self._open.values()):
            if not (order.is_open and order.pair is spec and order.waiting_for_trigger):
                continue
            state = order.trigger_state
            assert state is not None
            fires = trigger_fires(state, self._trigger_reference(spec, state.reference))
            order.stopprice = state.stop
            if fires:
                self._activate(order, state)

    def _activate(self, order: SimOrder, state: TriggerState) -> None:
        """A fired trigger: the order now trades as a market order or a limit at its limit."""
        intent = order.intent
        spec = order.pair
        order.triggered = True
        if intent.limit_offset is not None:
            offset = intent.limit_offset.offset_from(state.stop)
            raw = state.stop + offset if intent.limit_offset.sign == "+" else state.stop - offset
            ticks = (raw / spec.tick_size).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
            order.limitprice = max(ticks * spec.tick_size, spec.tick_size)
        account = self.accounts[order.account]
        book = self.books[spec.pair_id]
        limit = order.limit_price
        taker_fee = self.fee_rate(account, maker=False)
        if intent.side == "buy":
            need = book.quote_cost("buy", intent.volume, limit) * (1 + taker_fee)
            if need > self._available(account, spec.quote, besides=order):
                self.close_order(order, "canceled", INSUFFICIENT_FUNDS_REASON)
                return
        crosses = book.crossing(intent.side, limit)
        self._trade_now(account, order, crosses=crosses, taker_fee=taker_fee)

    def close_order(self, order: SimOrder, status: str, reason: str | None) -> None:
        order.status = status
        self._open.pop(order.txid, None)
        order.reason = reason
        order.closetm_ns = self.clock()
        order.hold = None
        for listener in self.order_closed_listeners:
            listener(order)

    def _match_resting(self, spec: PairSpec) -> None:
        if not self.trades_allowed(spec):
            return
        book = self.books[spec.pair_id]
        for order in list(self._open.values()):
            if not (order.is_open and order.pair is spec) or order.waiting_for_trigger:
                continue
            limit = order.limit_price
            if limit is None:
                continue
            account = self.accounts[order.account]
            if not self.matcher.rest_against(
                account, order, book, self.fee_rate(account, maker=True)
            ):
                continue
            if self.matcher.remaining(order) <= 0:
                self.close_order(order, "closed", None)
            else:
                order.hold = Matcher.hold_for(order, limit, self.fee_rate(account, maker=False))

    def amend(self, order: SimOrder, intent: OrderIntent) -> None:
        """Change an open order in place (same txid); refused if the new hold is not covered."""
        account = self.accounts[order.account]
        before = (order.intent, order.hold, order.stopprice, order.limitprice)
        order.intent = intent
        order.amended = True
        state = order.trigger_state
        if state is not None and not order.triggered and intent.trail is None:
            assert intent.price is not None
            state.stop = order.stopprice = intent.price
        if intent.price2 is not None:
            order.limitprice = intent.price2
        taker_fee = self.fee_rate(account, maker=False)
        unit = order.limit_price or order.stopprice or self.prices[intent.pair.pair_id].quote.ask
        hold = Matcher.hold_for(order, unit, taker_fee)
        if hold[1] > self._available(account, hold[0], besides=order):
            order.intent, order.hold, order.stopprice, order.limitprice = before
            raise SimError(INSUFFICIENT_FUNDS)
        order.hold = hold
        if not order.waiting_for_trigger:
            book = self.books[intent.pair.pair_id]
            crosses = book.crossing(intent.side, order.limit_price)
            self._trade_now(account, order, crosses=crosses, taker_fee=taker_fee)

    def replace_order(self, order: SimOrder, intent: OrderIntent) -> SimOrder:
        """EditOrder: cancel ``order`` and place ``intent``; on a refusal the original stays."""
        saved = (order.status, order.reason, order.closetm_ns, order.hold)
        self.close_order(order, "canceled", "Order replaced")
        try:
            return self.place(self.accounts[order.account], intent)
        except SimError:
            order.status, order.reason, order.closetm_ns, order.hold = saved
            self._open[order.txid] = order
            raise

    def cancel(self, order: SimOrder) -> None:
        """Cancel an open order and charge the age-based penalty on its pair's trading counter."""
        account = self.accounts[order.account]
        account.trading_limiter.counter(order.pair.pair_id).charge(
            cancel_penalty(self.clock() - order.opentm_ns)
        )
        self.close_order(order, "canceled", "User requested")
