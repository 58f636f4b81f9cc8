"""The market-data actor's pure core: quotes in, events and price answers out (no NATS)."""

from actors.market_data.bars import Bar, BarBuilder
from actors.market_data.exchange_calendar import (
    ExchangeCalendar,
    ExchangeCalendarRegistry,
    ScheduledWindow,
    StatusSource,
    can_cancel,
    can_place,
)
from actors.market_data.holidays import HolidayCalendars, YearHolidays, load_exchange_calendar_year
from actors.market_data.price_cache import CachedQuote, Fetch, PriceCache
from actors.market_data.quote_validation import (
    QuoteRejection,
    QuoteValidator,
    RejectionReason,
    quote_time_ns,
)
from actors.market_data.rolling import RollingMean, RollingVariance
from actors.market_data.service import EnhancedMarketDataService, FetchRecord, QuoteIntake
from actors.market_data.sessions import MarketSession, SessionCalendar
from actors.market_data.single_flight import SingleFlight
from actors.market_data.staleness import StalenessMonitor
from actors.market_data.volatility import (
    VolatilityEngine,
    VolatilityEstimator,
    VolatilityReading,
    parse_timeframe,
    periods_per_year,
)

__all__ = [
    "Bar",
    "BarBuilder",
    "CachedQuote",
    "EnhancedMarketDataService",
    "ExchangeCalendar",
    "ExchangeCalendarRegistry",
    "Fetch",
    "FetchRecord",
    "HolidayCalendars",
    "MarketSession",
    "PriceCache",
    "QuoteIntake",
    "QuoteRejection",
    "QuoteValidator",
    "RejectionReason",
    "RollingMean",
    "RollingVariance",
    "ScheduledWindow",
    "SessionCalendar",
    "SingleFlight",
    "StalenessMonitor",
    "StatusSource",
    "VolatilityEngine",
    "VolatilityEstimator",
    "VolatilityReading",
    "YearHolidays",
    "can_cancel",
    "can_place",
    "load_exchange_calendar_year",
    "parse_timeframe",
    "periods_per_year",
    "quote_time_ns",
]
