"""Daily snapshots: taken after each market's close, back-filled for the days missed.

Each market's snapshot of a day (KRX: KRW, in Seoul time; the US exchanges: USD, in New York
time) is taken ``after_close`` past its close, by the active worker's gateway only (the loop
runs inside `ActiveRole.while_active`): the broker's cash, the book's positions at the closing
prices (the broker's quote where a KIS account quotes, else the last price seen), and the
day's flow (cash the fills do not explain). While the next session has not opened, a day can
be taken from the broker again and gives the same row; once it has, the broker's cash is no
longer that day's, so a stored day is kept as it is, and a day with no row (the worker was
down) is back-filled from the day before it, the fills in between and the prices recorded by
its close (`yquant.domain.snapshots`).

The FX rate of a foreign currency comes from `yquant.services.fx.FxService`, the one source the
dashboard uses too: for a day taken from the broker, the latest (the rate KIS gave with the
balance just asked, recorded first; no call of its own), for a day back-filled, the rate
recorded at or before that day's close; else the configured ``fx.usdkrw``; else, for a day
back-filled, the previous snapshot's. Without any, the snapshot is refused with the setting
to add. The rate's source and time are kept in the row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from yquant.domain.book import BookFill, FeeSchedule, LocalDay
from yquant.domain.market_rules import Session
from yquant.domain.model import CURRENCY, Market
from yquant.domain.snapshots import (
    BASE_CURRENCY,
    AccountDay,
    FxRate,
    FxSource,
    close_price,
    take,
)
from yquant.errors import (
    ConfigurationError,
    DatabaseUnavailableError,
    RejectedError,
    RetryableError,
)
from yquant.ports import Broker, Clock, FillHistory, LastPrices, Prices, SnapshotRecords
from yquant.services.fx import FxService

logger = logging.getLogger(__name__)

Sessions = Callable[[Market, date], Session | None]
"""A market's regular session on a local date, or None when it is closed."""

_SEARCH_DAYS = 21  # the longest closure (Lunar New Year plus weekends) is well inside this
ZERO = Decimal(0)


class Outcome(StrEnum):
    TAKEN = "taken"  # from the broker
    BACKFILLED = "backfilled"  # from the fills and the prices recorded
    KEPT = "kept"  # stored before, left as it was
    EMPTY = "empty"  # nothing in this currency: no row
    CLOSED = "closed"  # the market had no session that day
    NOT_YET = "not_yet"  # the day has not closed yet


@dataclass(frozen=True, slots=True)
class Result:
    account: str
    market: Market
    day: date
    outcome: Outcome
    snapshot: AccountDay | None = None


class SnapshotService:
    def __init__(
        self,
        *,
        records: SnapshotRecords,
        fills: FillHistory,
        fees: FeeSchedule,
        prices: Prices,
        last: LastPrices,
        clock: Clock,
        sessions: Sessions,
        accounts: Sequence[str],
        fx: FxService,
        broker: Broker | None = None,
        flow_min: Mapping[str, Decimal] | None = None,
        after_close: timedelta = timedelta(minutes=30),
        check_every_s: float = 300.0,
        markets: Sequence[Market] = (Market.KR, Market.US),
        local_day: LocalDay | None = None,
    ) -> None:
        self._records = records
        self._fills = fills
        self._fees = fees
        self._prices = prices
        self._last = last
        self._clock = clock
        self._sessions = sessions
        self._accounts = list(accounts)
        self._broker = broker
        self._fx = fx
        self._flow_min = dict(flow_min or {})
        self._after_close = after_close
        self._every_s = check_every_s
        self._markets = list(markets)
        self._days = local_day or LocalDay.of_markets()

    @property
    def markets(self) -> list[Market]:
        return list(self._markets)

    def clock_now(self) -> datetime:
        return self._clock.now()

    # ---- the schedule ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Take what is due, then look again every ``check_every_s``, until ``stop``."""
        said = ""  # the last problem logged: said once, not at every pass
        while not stop.is_set():
            try:
                await self.run_due()
                said = ""
            except (DatabaseUnavailableError, RetryableError, RejectedError) as exc:
                logger.warning("snapshots not taken, tried again later: %s", exc)
            except ConfigurationError as exc:
                if str(exc) != said:
                    logger.error("snapshots not taken: %s", exc)
                said = str(exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._every_s)

    async def run_due(self) -> list[Result]:
        """For every account and market: the days missed since the last snapshot back-filled,
        and the latest day closed taken from the broker unless it is stored already."""
        now = self._clock.now()
        results: list[Result] = []
        refused: ConfigurationError | None = None
        for market in self._markets:
            day = self.last_closed(market, now, self._after_close)
            if day is None:
                continue
            for account in self._accounts:
                try:
                    results += await self._bring_up_to(account, market, day, now)
                except ConfigurationError as exc:
                    refused = refused or exc  # the other accounts and markets go on
        if refused is not None:
            raise refused
        return results

    def last_closed(
        self, market: Market, now: datetime, after: timedelta = timedelta(0)
    ) -> date | None:
        """The latest session of ``market`` that closed ``after`` before ``now``."""
        today = self._days(market, now)
        for back in range(_SEARCH_DAYS):
            day = today - timedelta(days=back)
            session = self._sessions(market, day)
            if session is not None and session.close_at + after <= now:
                return day
        return None

    # ---- one day -----------------------------------------------------------------------------

    async def snapshot(self, account: str, market: Market, day: date) -> Result:
        """``day``'s snapshot of ``account`` in ``market`` (`yquant snapshot`): from the
        broker while its next session has not opened, else the stored one, else back-filled
        (with the days missed before it)."""
        now = self._clock.now()
        session = self._sessions(market, day)
        if session is None:
            return Result(account, market, day, Outcome.CLOSED)
        if now < session.close_at:
            return Result(account, market, day, Outcome.NOT_YET)
        if self._live(market, day, now):
            results = await self._bring_up_to(account, market, day, now, again=True)
            return results[-1]
        stored = await self._records.get(account, CURRENCY[market], day)
        if stored is not None:
            return Result(account, market, day, Outcome.KEPT, stored)
        results = await self._bring_up_to(account, market, day, now)
        return results[-1]

    async def _bring_up_to(
        self, account: str, market: Market, day: date, now: datetime, *, again: bool = False
    ) -> list[Result]:
        currency = CURRENCY[market]
        results: list[Result] = []
        stored = await self._records.get(account, currency, day)
        live = self._live(market, day, now)
        if stored is not None and not (again and live):
            return [Result(account, market, day, Outcome.KEPT, stored)]
        previous = await self._records.latest_before(account, currency, day)
        fills: list[BookFill] | None = None
        if previous is not None:
            missed = self._sessions_between(market, previous.day, day)
            for gap in missed:
                fills = fills if fills is not None else await self._fills.book_fills()
                result = await self._take(account, market, gap, previous, fills, live=False)
                results.append(result)
                if result.snapshot is not None:
                    previous = result.snapshot
        if not live and previous is None:
            # Nothing to start from: without the broker's cash of that day or an earlier
            # snapshot, the day's cash cannot be known.
            results.append(Result(account, market, day, Outcome.EMPTY))
            return results
        fills = fills if fills is not None else await self._fills.book_fills()
        results.append(await self._take(account, market, day, previous, fills, live=live))
        return results

    async def _take(
        self,
        account: str,
        market: Market,
        day: date,
        previous: AccountDay | None,
        fills: list[BookFill],
        *,
        live: bool,
    ) -> Result:
        currency = CURRENCY[market]
        session = self._sessions(market, day)
        if session is None:
            return Result(account, market, day, Outcome.CLOSED)
        previous_close = None
        if previous is not None:
            # Its day's close; a day the calendar no longer has a session (an override added
            # since): the time it was taken, which came after that day's fills.
            before = self._sessions(market, previous.day)
            previous_close = before.close_at if before is not None else previous.taken_at
        mine = [f for f in fills if f.account == account]
        keys = sorted({(f.market, f.ticker) for f in mine if f.market is market})
        cash = None
        holdings = None
        if live and self._broker is not None:
            broker = self._broker.for_account(account)
            cash = (await broker.cash(account)).get(currency, ZERO)
            holdings = await broker.holdings(account)
            held = {(h.market, h.ticker) for h in holdings if h.market is market}
            keys = sorted(set(keys) | held)
            exchanges = {(f.market, f.ticker): f.exchange for f in mine}
            marks = await self._prices.marks([(m, exchanges.get((m, t), ""), t) for m, t in keys])
            prices = {key: mark.price for key, mark in marks.items()}
        else:
            recorded = await self._last.last(keys)
            prices = close_price(
                fills, {k: (m.price, m.at) for k, m in recorded.items()}, session.close_at
            )
        fx = await self._fx_rate(account, currency, previous, session.close_at, live=live)
        snapshot = take(
            account=account,
            market=market,
            day=day,
            close_at=session.close_at,
            fills=mine,
            prices=prices,
            fees=self._fees,
            local_day=self._days,
            fx=fx,
            taken_at=self._clock.now(),
            previous=previous,
            previous_close=previous_close,
            cash=cash,
            holdings=holdings,
            flow_min=self._flow_min.get(currency, ZERO),
        )
        if previous is None and snapshot.equity == 0 and not snapshot.strategies:
            return Result(account, market, day, Outcome.EMPTY)
        await self._records.save(snapshot)
        logger.info(
            "snapshot account=%s day=%s currency=%s source=%s equity=%s flow=%s",
            account,
            day,
            currency,
            snapshot.source.value,
            snapshot.equity,
            snapshot.flow,
        )
        outcome = Outcome.TAKEN if cash is not None else Outcome.BACKFILLED
        return Result(account, market, day, outcome, snapshot)

    async def _fx_rate(
        self,
        account: str,
        currency: str,
        previous: AccountDay | None,
        close_at: datetime,
        *,
        live: bool,
    ) -> FxRate:
        """KRW per unit of ``currency``: the latest for a day taken from the broker (the rate
        its balance inquiry just gave recorded first), else the rate at the day's close."""
        if currency == BASE_CURRENCY:
            return FxRate(Decimal(1), FxSource.BASE)
        if live and self._broker is not None:
            try:
                await self._fx.observe(await self._broker.for_account(account).fx_rate(account))
            except (RetryableError, RejectedError) as exc:
                logger.warning("fx rate not had from the broker account=%s: %s", account, exc)
            rate = await self._fx.rate(currency, BASE_CURRENCY)
        else:
            rate = await self._fx.as_of(close_at, currency, BASE_CURRENCY)
        if rate is not None:
            return FxRate(rate.rate, FxSource(rate.source), rate.at)
        if previous is not None:
            return FxRate(previous.fx.rate, FxSource.PREVIOUS, previous.fx.at or previous.taken_at)
        fix = "set fx.usdkrw (KRW per USD)" if currency == "USD" else "none can be configured"
        raise ConfigurationError(
            f"fx.usdkrw: no exchange rate for {currency} (the broker of account {account} "
            f"gave none); {fix}"
        )

    # ---- calendars ---------------------------------------------------------------------------

    def _live(self, market: Market, day: date, now: datetime) -> bool:
        """Whether the broker's cash is still ``day``'s: it has closed and the next session
        has not opened."""
        if self._broker is None:
            return False
        session = self._sessions(market, day)
        if session is None or now < session.close_at:
            return False
        for ahead in range(1, _SEARCH_DAYS):
            following = self._sessions(market, day + timedelta(days=ahead))
            if following is not None:
                return now < following.open_at
        return True

    def _sessions_between(self, market: Market, after: date, before: date) -> list[date]:
        """The session days of ``market`` strictly between ``after`` and ``before``."""
        days = []
        day = after + timedelta(days=1)
        while day < before:
            if self._sessions(market, day) is not None:
                days.append(day)
            day += timedelta(days=1)
        return days
