"""What every REST call returns: a success with its value, or a failure as data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, NoReturn, TypeAlias, TypeVar

from kraken.errors import KrakenCallError, TransportError

__all__ = ["KrakenFailure", "KrakenOk", "KrakenResult"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class KrakenOk(Generic[T]):
    endpoint: str
    value: T
    http_status: int
    latency_ns: int

    @property
    def ok(self) -> bool:
        return True

    def unwrap(self) -> T:
        return self.value


@dataclass(frozen=True, slots=True)
class KrakenFailure:
    """A call that did not succeed. ``errors`` holds every Kraken error string of the response
    (empty for pure transport failures). ``outcome_unknown`` is True when a state-changing call
    may or may not have reached the matching engine: reconcile before retrying it."""

    endpoint: str
    errors: tuple[str, ...]
    http_status: int | None
    latency_ns: int
    transport_error: TransportError | None = None
    outcome_unknown: bool = False
    raw_body: str = ""
    """The response text, truncated; empty when nothing was received."""
    detail: str = ""
    """A one-line description of a transport or decoding problem."""

    @property
    def ok(self) -> bool:
        return False

    def unwrap(self) -> NoReturn:
        """Raise :class:`KrakenCallError` (the optional raising style)."""
        raise KrakenCallError(
            self.endpoint, self.errors, self.transport_error, self.outcome_unknown
        )

    def describe(self) -> tuple[str, ...]:
        """The Kraken errors, or a transport description when there are none."""
        if self.errors:
            return self.errors
        return (f"{self.transport_error or 'failure'}: {self.detail}".rstrip(": "),)


KrakenResult: TypeAlias = KrakenOk[T] | KrakenFailure
