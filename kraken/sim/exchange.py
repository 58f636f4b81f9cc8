"""The state of the simulated exchange: accounts, orders, prices, status, and their evolution.

Everything time-dependent reads the injected clock; everything random draws from a
``random.Random`` derived from the seed, one per purpose, so a seed replays the same run.
"""

from __future__ import annotations

import random
import string
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from kraken.ratelimit import RestCallLimiter, TradingRateLimiter, cancel_penalty
from kraken.sim.auth import ApiCredential
from kraken.sim.clock import Clock
from kraken.sim.errors import INSUFFICIENT_FUNDS, POST_ONLY_ORDER, SimError
from kraken.sim.faults import FaultInjector
from kraken.sim.orders import OrderIntent, SimOrder
from kraken.sim.pairs import PAIR_STATUSES, PAIRS, PairSpec, find_pair
from kraken.sim.prices import PriceProcess, Quote
from kraken.sim.scenario import StatusChange, WsDisconnect, WsSilence
from kraken.sim.wire import NANOS_PER_SECOND
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
_ID_ALPHABET = string.ascii_uppercase + string.digits


class MarketFeed(Protocol):
    """What the exchange pushes to WebSocket clients."""

    def publish_quote(self, spec: PairSpec, quote: Quote) -> None: ...

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
        self.balances = dict(balances)
        self.rest_limiter = RestCallLimiter(tier, clock)
        self.trading_limiter = TradingRateLimiter(tier, clock)
        self.dead_man_trigger_ns: int | None = None

    @property
    def key(self) -> str:
        return self.credential.key


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
    ) -> None:
        self.seed = seed
        self.clock = clock
        self.tier = tier
        self.started_ns = clock()
        self._credentials = credentials
        self._initial_balances = dict(balances or DEFAULT_BALANCES)
        self._step_volatility = step_volatility
        self.feeds: list[MarketFeed] = []
        self.faults = FaultInjector(clock, random.Random(f"{seed}:faults"))
        self.ws_silenced_until_ns = 0
        self._reset_state()

    def _reset_state(self) -> None:
        now = self.clock()
        self._ids = random.Random(f"{self.seed}:ids")
        self.prices = {
            spec.pair_id: PriceProcess(spec, self.seed, now, self._step_volatility)
            for spec in PAIRS
        }
        self.system_status = "online"
        self.pair_status = {spec.pair_id: spec.status for spec in PAIRS}
        self.accounts = {
            credential.key: Account(credential, self._initial_balances, self.tier, self.clock)
            for credential in self._credentials
        }
        self.orders: dict[str, SimOrder] = {}
        self._requests: Counter[str] = Counter()
        self.ws_silenced_until_ns = 0

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

    # -- observation ---------------------------------------------------------------------

    def count_request(self, endpoint: str) -> None:
        self._requests[endpoint] += 1

    def request_counts(self) -> dict[str, int]:
        """Requests received per endpoint name (``AddOrder``, ``Ticker``…), faults included."""
        return dict(self._requests)

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
                quote = self.prices[spec.pair_id].step(self.clock())
                self._after_quote(spec, quote)

    def _after_quote(self, spec: PairSpec, quote: Quote) -> None:
        self._match_resting(spec)
        for feed in self.feeds:
            feed.publish_quote(spec, quote)

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
        for order in list(self.orders.values()):
            expiry = order.intent.expiretm_ns
            if order.is_open and expiry is not None and now >= expiry:
                self.close_order(order, "expired", None)

    # -- orders --------------------------------------------------------------------------

    def new_txid(self) -> str:
        while True:
            chars = "".join(self._ids.choice(_ID_ALPHABET) for _ in range(16))
            txid = f"O{chars[:5]}-{chars[5:10]}-{chars[10:]}"
            if txid not in self.orders:
                return txid

    def open_orders_of(self, key: str, pair_id: str | None = None) -> list[SimOrder]:
        return [
            order
            for order in self.orders.values()
            if order.account == key and order.is_open and pair_id in {None, order.pair.pair_id}
        ]

    def trades_allowed(self, spec: PairSpec) -> bool:
        """No trades in maintenance, cancel_only or post_only (system or pair status)."""
        return self.system_status == "online" and self.pair_status[spec.pair_id] not in {
            "cancel_only",
            "post_only",
        }

    def _available(self, account: Account, asset: str) -> Decimal:
        held = sum(
            (
                order.hold[1]
                for order in self.open_orders_of(account.key)
                if order.hold is not None and order.hold[0] == asset
            ),
            Decimal(0),
        )
        return account.balances.get(asset, Decimal(0)) - held

    def _crosses(self, intent: OrderIntent, quote: Quote) -> bool:
        if intent.price is None:
            return True
        return quote.ask <= intent.price if intent.side == "buy" else quote.bid >= intent.price

    def place(self, account: Account, intent: OrderIntent) -> SimOrder:
        """Engine-side checks (post-only, funds), then accept, then fill what crosses now.

        Raises ``SimError`` for rejections that Kraken reports per order (also inside a batch).
        """
        spec = intent.pair
        quote = self.prices[spec.pair_id].quote
        crosses = self._crosses(intent, quote)
        if intent.post_only and crosses:
            raise SimError(POST_ONLY_ORDER)
        if intent.side == "buy":
            unit_price = quote.ask if intent.price is None else intent.price
            need = intent.volume * unit_price * (1 + spec.taker_fee_rate)
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
        )
        self.orders[order.txid] = order
        if crosses and self.trades_allowed(spec):
            fill_price = quote.ask if intent.side == "buy" else quote.bid
            self._fill(order, fill_price, spec.taker_fee_rate)
        elif intent.ordertype == "market" or intent.timeinforce == "IOC":
            # A market order with no trading allowed, or an IOC limit that did not cross.
            self.close_order(
                order, "canceled", "Unfilled IOC" if intent.ordertype == "limit" else None
            )
        return order

    def _fill(self, order: SimOrder, price: Decimal, fee_rate: Decimal) -> None:
        """Fill the whole order at ``price``; fees are charged in the quote currency."""
        spec = order.pair
        account = self.accounts[order.account]
        volume = order.intent.volume
        cost = volume * price
        fee = cost * fee_rate
        balances = account.balances
        sign = 1 if order.intent.side == "buy" else -1
        balances[spec.base] = balances.get(spec.base, Decimal(0)) + sign * volume
        balances[spec.quote] = balances.get(spec.quote, Decimal(0)) - sign * cost - fee
        order.vol_exec = volume
        order.cost = cost
        order.fee = fee
        self.close_order(order, "closed", None)

    def close_order(self, order: SimOrder, status: str, reason: str | None) -> None:
        order.status = status
        order.reason = reason
        order.closetm_ns = self.clock()
        order.hold = None

    def _match_resting(self, spec: PairSpec) -> None:
        if not self.trades_allowed(spec):
            return
        quote = self.prices[spec.pair_id].quote
        for order in list(self.orders.values()):
            if order.is_open and order.pair is spec and self._crosses(order.intent, quote):
                assert order.intent.price is not None
                self._fill(order, order.intent.price, spec.maker_fee_rate)

    def cancel(self, order: SimOrder) -> None:
        """Cancel an open order and charge the age-based penalty on its pair's trading counter."""
        account = self.accounts[order.account]
        account.trading_limiter.counter(order.pair.pair_id).charge(
            cancel_penalty(self.clock() - order.opentm_ns)
        )
        self.close_order(order, "canceled", "User requested")
