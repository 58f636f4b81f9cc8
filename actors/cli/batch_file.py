"""Batch files for ``galfriday submit``: strict like the config, with prices relative to the market.

A file is a mapping with the keys of ``OrderBatchRequested`` (``batch_id``, ``strategy``,
``orders``, ``deadline_ns``, ``validate_only``); each order has the keys of ``OrderRequest``. An
unknown key is an error naming its path (``orders[0].post_onyl``): a misspelt ``post_only``
must not send an order without it.

``price`` and ``price2`` may be relative to the reference price (the bid/ask mid, as the router's
collar uses): ``"-1%"`` is 1 % below it. They are resolved at submit time from market-data's
price query and rounded to the quote's tick (the decimals the exchange quotes with).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
import msgspec.yaml

from actors.batch_router.validation import batch_size_problem
from schemas import OrderBatchRequested
from schemas.orders import OrderRequest

__all__ = ["BatchDraft", "BatchFileError", "Reference", "RelativePrice", "parse_batch_file"]

_HEADER_KEYS = frozenset({"type", "ts_event", "ts_init"})
_BATCH_KEYS = frozenset(OrderBatchRequested.__struct_fields__) - _HEADER_KEYS
_ORDER_KEYS = frozenset(OrderRequest.__struct_fields__)
_RELATIVE_FIELDS = ("price", "price2")
_RELATIVE = re.compile(r"^\s*([+-]\d+(?:\.\d+)?)\s*%\s*$")
_PLACEHOLDER_PRICE = "1"
"""Stands in for a relative price while the rest of the file is checked, before any lookup."""


class BatchFileError(ValueError):
    """The file is not a valid batch; the message names the key and what is wrong."""


@dataclass(frozen=True)
class RelativePrice:
    index: int
    field: str
    percent: Decimal
    pair: str

    def resolve(self, reference: Reference) -> Decimal:
        value = reference.mid * (1 + self.percent / 100)
        return value.quantize(reference.tick)


@dataclass(frozen=True)
class Reference:
    """The reference price of a pair and the tick its quotes use."""

    mid: Decimal
    tick: Decimal

    @classmethod
    def from_quote(cls, bid: Decimal, ask: Decimal) -> Reference:
        exponent = min(_exponent(bid), _exponent(ask))
        return cls(mid=(bid + ask) / 2, tick=Decimal(1).scaleb(exponent))


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0


@dataclass(frozen=True)
class BatchDraft:
    """A checked batch whose relative prices still need the market's reference."""

    raw: Mapping[str, Any]
    relative: tuple[RelativePrice, ...]
    batch_id: str
    order_count: int

    def pairs_to_price(self) -> tuple[str, ...]:
        return tuple(sorted({price.pair for price in self.relative}))

    def resolve(self, references: Mapping[str, Reference], now_ns: int) -> OrderBatchRequested:
        orders = [dict(order) for order in self.raw["orders"]]
        for price in self.relative:
            orders[price.index][price.field] = str(price.resolve(references[price.pair]))
        return _convert({**self.raw, "orders": orders}, now_ns)


def parse_batch_file(
    data: bytes, *, max_batch_size: int, now_ns: int, default_batch_id: str | None = None
) -> BatchDraft:
    """Decode and check a batch file (YAML or JSON); raises :class:`BatchFileError`.

    A file without ``batch_id`` gets ``default_batch_id`` (so an example can be submitted
    again without being a duplicate), when one is given.
    """
    try:
        raw = msgspec.yaml.decode(data)
    except msgspec.DecodeError as e:
        raise BatchFileError(f"not YAML/JSON: {e}") from None
    if not isinstance(raw, dict):
        raise BatchFileError("a batch file is a mapping with batch_id, strategy and orders")
    _check_keys(raw, _BATCH_KEYS, "")
    if "batch_id" not in raw and default_batch_id is not None:
        raw = {"batch_id": default_batch_id, **raw}
    orders = raw.get("orders")
    if not isinstance(orders, list):
        raise BatchFileError("`orders` must be a list of orders")
    relative: list[RelativePrice] = []
    placeholders: list[dict[str, Any]] = []
    for index, order in enumerate(orders):
        if not isinstance(order, dict):
            raise BatchFileError(f"`orders[{index}]` must be a mapping")
        _check_keys(order, _ORDER_KEYS, f"orders[{index}].")
        placeholder = dict(order)
        for field in _RELATIVE_FIELDS:
            percent = _relative_percent(order.get(field), f"orders[{index}].{field}")
            if percent is not None:
                relative.append(RelativePrice(index, field, percent, str(order.get("pair"))))
                placeholder[field] = _PLACEHOLDER_PRICE
        placeholders.append(placeholder)
    batch = _convert({**raw, "orders": placeholders}, now_ns)  # every other value checked now
    refusal = batch_size_problem(len(batch.orders), max_batch_size)
    if refusal is not None:
        raise BatchFileError(refusal)
    return BatchDraft(
        raw={**raw, "orders": orders},
        relative=tuple(relative),
        batch_id=batch.batch_id,
        order_count=len(batch.orders),
    )


def _check_keys(mapping: Mapping[Any, Any], known: frozenset[str], prefix: str) -> None:
    for key in mapping:
        if key not in known:
            close = difflib.get_close_matches(str(key), sorted(known), n=1)
            hint = f" (did you mean `{prefix}{close[0]}`?)" if close else ""
            raise BatchFileError(
                f"unknown key `{prefix}{key}`{hint}; known keys: {', '.join(sorted(known))}"
            )


def _relative_percent(value: object, path: str) -> Decimal | None:
    if not isinstance(value, str) or "%" not in value:
        return None
    match = _RELATIVE.match(value)
    if match is None:
        raise BatchFileError(f'`{path}`: {value!r} is not a relative price like "-1%" or "+0.5%"')
    try:
        percent = Decimal(match.group(1))
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise BatchFileError(f"`{path}`: {value!r} is not a number") from None
    if not -100 < percent < 100:
        raise BatchFileError(f"`{path}`: {value!r} must be within (-100%, +100%)")
    return percent


def _convert(raw: Mapping[str, Any], now_ns: int) -> OrderBatchRequested:
    document = {"ts_event": now_ns, "ts_init": now_ns, **raw, "type": "orders.batch.requested"}
    try:
        return msgspec.convert(document, type=OrderBatchRequested)
    except msgspec.ValidationError as e:
        raise BatchFileError(str(e).replace("`$.", "`")) from None
