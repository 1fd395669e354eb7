"""`yquant report parity`: a TradingView Strategy Tester export against the strategy's live
orders (`yquant.domain.parity`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from yquant.domain.model import Market
from yquant.domain.parity import LiveOrder, Parity, TradesFileError, match, parse_tv_trades
from yquant.errors import ConfigurationError

# The chart's time zone when none is given: TradingView charts show the exchange's time.
EXCHANGE_ZONES = {Market.KR: ZoneInfo("Asia/Seoul"), Market.US: ZoneInfo("America/New_York")}


class LiveOrderReads(Protocol):
    async def live_orders(
        self, strategy: str, since: datetime, until: datetime, ticker: str | None = None
    ) -> list[LiveOrder]: ...

    async def strategy_tickers(self, strategy: str) -> list[tuple[str, str]]: ...


async def parity_report(
    reads: LiveOrderReads,
    *,
    strategy: str,
    text: str,
    window: timedelta,
    ticker: str | None = None,
    zone: str | None = None,
) -> tuple[Parity, str, str | None]:
    """The parity of ``text`` (the export) with the live orders of ``strategy`` in ``ticker``
    (default: the one instrument the strategy traded); times in ``zone`` (default: the
    exchange's). Returns the parity, the ticker and the export's currency. Raises
    `TradesFileError` for a bad file, `ConfigurationError` for what the caller must say."""
    traded = await reads.strategy_tickers(strategy)
    if ticker is None:
        if len({t for _, t in traded}) > 1:
            shown = ", ".join(t for _, t in traded)
            raise ConfigurationError(
                f"strategy {strategy!r} traded several instruments ({shown}): give --ticker"
            )
        if not traded:
            raise ConfigurationError(
                f"strategy {strategy!r} has no live orders: give --ticker and --tz to compare"
                " anyway (every backtest row is then a missed signal)"
            )
        ticker = traded[0][1]
    market = next((Market(m) for m, t in traded if t == ticker), None)
    if zone is not None:
        try:
            tz = ZoneInfo(zone)
        except (KeyError, ValueError):
            raise ConfigurationError(f"--tz {zone!r}: not a time zone name") from None
    elif market is not None:
        tz = EXCHANGE_ZONES[market]
    else:
        raise ConfigurationError(f"strategy {strategy!r} has no orders in {ticker}: give --tz")
    trades = parse_tv_trades(text, tz)
    since = trades.fills[0].at - window
    until = trades.fills[-1].at + window + timedelta(microseconds=1)
    live = await reads.live_orders(strategy, since, until, ticker)
    return match(trades, live, window), ticker, trades.currency


__all__ = ["TradesFileError", "parity_report"]
