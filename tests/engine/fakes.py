"""Hand-written fakes of the engine's ports: a catalog from a dict and a clock a test moves."""

from __future__ import annotations

from datetime import datetime, timedelta

from yquant.domain.model import CURRENCY, Instrument, Market
from yquant.domain.reasons import ReasonCode
from yquant.errors import SignalRejectedError


class FakeInstruments:
    """The `Instruments` port over a dict of (market, ticker) -> Instrument."""

    def __init__(self, *instruments: Instrument) -> None:
        self.by_key = {(i.market, i.ticker): i for i in instruments}

    def resolve(self, market: Market, exchange: str, ticker: str) -> Instrument:
        found = self.by_key.get((market, ticker))
        if found is None:
            raise SignalRejectedError(ReasonCode.UNKNOWN_TICKER, f"{exchange}:{ticker}")
        if not found.tradable:
            raise SignalRejectedError(ReasonCode.NOT_TRADABLE, ticker)
        if found.halted:
            raise SignalRejectedError(ReasonCode.HALTED, ticker)
        return found


class ManualClock:
    def __init__(self, now: datetime) -> None:
        assert now.tzinfo is not None
        self.current = now

    def now(self) -> datetime:
        return self.current

    def set(self, now: datetime) -> None:
        self.current = now

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


def stock(
    ticker: str, exchange: str, market: Market, security_type: str | None = "stock"
) -> Instrument:
    return Instrument(
        market=market,
        exchange=exchange,
        ticker=ticker,
        currency=CURRENCY[market],
        security_type=security_type,
    )


SAMSUNG = stock("005930", "KOSPI", Market.KR)
KODEX = stock("069500", "KOSPI", Market.KR, "etf")
APPLE = stock("AAPL", "NASDAQ", Market.US)
IBM = stock("IBM", "NYSE", Market.US)
