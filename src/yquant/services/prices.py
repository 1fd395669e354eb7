"""The current price of an instrument, with when and where it was seen (the `Prices` port).

In order of preference:

1. the broker's quotation, where a KIS account exists (every KIS call goes through the KIS
   adapter's pacing; a quote is kept ``quote_cache_s`` so that a book of many rows, or a
   dashboard that refreshes, does not ask for the same instrument again and again);
2. the latest price seen: an accepted alert's or a fill's, stored in ``last_prices`` (and, for
   the prices this process observed, in memory: they are there while the database is away);
3. the catalog's base price (KRX: the day's base price, the previous close). It is always
   shown as stale, and stamped with the start of the market's day.

A price is written (`observe`) through the recorder where one is given (the engine: the write
shares the signal's commit, and is journaled during a database outage like every other write),
else straight to the database, skipped while it is away: a price is worth keeping, never worth
holding up the order path.

With a `PriceHistory`, the first price this process sees (an alert's, a fill's, a quote it
asked for) of an instrument in each bucket of ``HISTORY_BUCKET`` (15 minutes) is also kept
there, one insert per instrument and bucket at most (never journaled: a gap in a chart costs
nothing), for the dashboard's charts (`series`) and for the day's P&L (`before_today`: the
price each position is compared with).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from yquant.domain.book import LocalDay
from yquant.domain.model import Market
from yquant.domain.writes import RecordPrice
from yquant.errors import (
    DatabaseUnavailableError,
    JournalUnavailableError,
    RetryableError,
    YquantError,
)
from yquant.ports import (
    Broker,
    Clock,
    Instruments,
    LastPrices,
    Mark,
    PriceHistory,
    PriceSource,
    Recorder,
)

logger = logging.getLogger(__name__)

Key = tuple[Market, str]
HISTORY_BUCKET = timedelta(minutes=15)


def bucket_of(at: datetime) -> datetime:
    """The start of the ``HISTORY_BUCKET`` that holds ``at`` (in UTC)."""
    step = int(HISTORY_BUCKET.total_seconds())
    seconds = int(at.timestamp())
    return datetime.fromtimestamp(seconds - seconds % step, UTC)


class PriceService:
    """Implements `yquant.ports.Prices`."""

    def __init__(
        self,
        *,
        last: LastPrices,
        clock: Clock,
        quotes: Broker | None = None,
        instruments: Instruments | None = None,
        recorder: Recorder | None = None,
        quote_cache_s: float = 5.0,
        local_day: LocalDay | None = None,
        history: PriceHistory | None = None,
    ) -> None:
        self._last = last
        self._clock = clock
        self._quotes = quotes
        self._instruments = instruments
        self._recorder = recorder
        self._quote_cache_s = quote_cache_s
        self._days = local_day or LocalDay.of_markets()
        self._quoted: dict[Key, tuple[float, Mark]] = {}  # monotonic time asked, the quote
        self._seen: dict[Key, Mark] = {}  # observed by this process, newest per instrument
        self._history = history
        self._sampled: dict[Key, datetime] = {}  # the latest bucket this process stored

    async def warm_up(self) -> None:
        """The history's first sample rehearsed (a database away is left for later)."""
        if self._history is not None:
            try:
                await self._history.rehearse()
            except DatabaseUnavailableError as exc:
                logger.info("price history not rehearsed: %s", exc)
            except Exception:  # only the first sample's compile is at stake
                logger.warning("price history not rehearsed", exc_info=True)

    # ---- reading --------------------------------------------------------------------------

    async def mark(self, market: Market, exchange: str, ticker: str) -> Mark | None:
        return (await self.marks([(market, exchange, ticker)])).get((market, ticker))

    async def marks(self, instruments: Sequence[tuple[Market, str, str]]) -> dict[Key, Mark]:
        wanted = {(m, t): e for m, e, t in instruments}
        found: dict[Key, Mark] = {}
        if self._quotes is not None:
            for key, exchange in wanted.items():
                try:
                    quoted = await self._quote(key, exchange)
                except RetryableError as exc:
                    # The broker is away: the others are not asked (each would wait its
                    # timeout); the stored prices stand in, and the next read asks again.
                    logger.warning("quotes not had: %s", exc)
                    break
                if quoted is not None:
                    found[key] = quoted
        rest = [key for key in wanted if key not in found]
        stored: dict[Key, Mark] = {}
        if rest:
            try:
                stored = await self._last.last(rest)
            except DatabaseUnavailableError as exc:
                logger.warning("last prices not read: database unavailable (%s)", exc)
        for key in rest:
            seen = [m for m in (stored.get(key), self._seen.get(key)) if m is not None]
            if seen:
                found[key] = max(seen, key=lambda m: m.at)
            else:
                base = self._catalog(key, wanted[key])
                if base is not None:
                    found[key] = base
        return found

    async def _quote(self, key: Key, exchange: str) -> Mark | None:
        cached = self._quoted.get(key)
        if cached is not None and self._clock.monotonic() - cached[0] < self._quote_cache_s:
            return cached[1]
        assert self._quotes is not None
        market, ticker = key
        try:
            quote = await self._quotes.quote(market, exchange or self._exchange(key), ticker)
        except RetryableError:
            raise
        except YquantError as exc:  # refused for this instrument: the stored price stands in
            logger.warning("quote not had market=%s ticker=%s: %s", market.value, ticker, exc)
            return None
        if quote is None or quote.price <= 0:
            return None
        mark = Mark(price=quote.price, at=self._clock.now(), source=PriceSource.QUOTE)
        self._quoted[key] = (self._clock.monotonic(), mark)
        await self._sample([(market, ticker, mark)])  # a quote is a price seen, for the charts
        return mark

    def _exchange(self, key: Key) -> str:
        """The exchange the catalog lists a ticker on (a US quote needs it)."""
        market, ticker = key
        if self._instruments is None:
            return ""
        listed = [x for x in self._instruments.find(ticker) if x.market == market.value]
        return listed[0].exchange if len(listed) == 1 else ""

    def _catalog(self, key: Key, exchange: str) -> Mark | None:
        if self._instruments is None:
            return None
        market, ticker = key
        try:
            instrument = self._instruments.resolve(market, exchange or self._exchange(key), ticker)
        except YquantError:
            return None  # unknown, halted or not tradable: no base price to show
        if instrument.base_price is None or instrument.base_price <= 0:
            return None
        start = self._days.day_start(market, self._clock.now())
        return Mark(price=instrument.base_price, at=start, source=PriceSource.CATALOG)

    # ---- writing --------------------------------------------------------------------------

    async def observe(
        self, market: Market, ticker: str, price: Decimal, at: datetime, source: PriceSource
    ) -> None:
        if price <= 0:
            return
        mark = Mark(price=price, at=at, source=source)
        known = self._seen.get((market, ticker))
        if known is None or known.at < at:
            self._seen[(market, ticker)] = mark
        try:
            if self._recorder is not None:
                await self._recorder.write(RecordPrice(market, ticker, price, at, source.value))
            else:
                await self._last.record([(market, ticker, mark)])
        except (DatabaseUnavailableError, JournalUnavailableError) as exc:
            logger.info("price not stored market=%s ticker=%s: %s", market.value, ticker, exc)
        await self._sample([(market, ticker, mark)])

    async def observe_many(self, marks: Sequence[tuple[Market, str, Mark]]) -> None:
        """Several prices at once, in one database transaction (skipped while it is away)."""
        fresh = [(m, t, mark) for m, t, mark in marks if mark.price > 0]
        for market, ticker, mark in fresh:
            known = self._seen.get((market, ticker))
            if known is None or known.at < mark.at:
                self._seen[(market, ticker)] = mark
        try:
            await self._last.record(fresh)
        except DatabaseUnavailableError as exc:
            logger.info("prices not stored count=%d: %s", len(fresh), exc)
        await self._sample(fresh)

    async def _sample(self, marks: Sequence[tuple[Market, str, Mark]]) -> None:
        """The marks that open a bucket this process has not stored yet, into the history."""
        if self._history is None:
            return
        due = []
        for market, ticker, mark in marks:
            bucket = bucket_of(mark.at)
            last = self._sampled.get((market, ticker))
            if last is None or bucket > last:
                due.append((market, ticker, bucket, mark))
        if not due:
            return
        try:
            await self._history.sample(due)
        except DatabaseUnavailableError as exc:
            logger.info("price history not stored count=%d: %s", len(due), exc)
            return
        for market, ticker, bucket, _ in due:
            self._sampled[(market, ticker)] = bucket

    # ---- history --------------------------------------------------------------------------

    async def series(self, market: Market, ticker: str, since: datetime) -> list[Mark]:
        """The stored history of one instrument from ``since`` on, oldest first ([] without
        a history). DatabaseUnavailableError when the database is away."""
        if self._history is None:
            return []
        return await self._history.series(market, ticker, since)

    async def before_today(self, instruments: Sequence[tuple[Market, str, str]]) -> dict[Key, Mark]:
        """Per (market, exchange, ticker), the price it had before its market's day began (the
        start of the day's P&L): the latest price seen, when it was seen before today; else
        the latest history sample before today; else the catalog's base price (KRX: the
        previous close). Left out when none is known; the database away counts as none."""
        now = self._clock.now()
        starts = {m: self._days.day_start(m, now) for m in Market}
        wanted = {(m, t): e for m, e, t in instruments}
        try:
            stored = await self._last.last(list(wanted))
        except DatabaseUnavailableError:
            stored = {}
        found = {key: mark for key, mark in stored.items() if mark.at < starts[key[0]]}
        rest = [key for key in wanted if key not in found]
        if rest and self._history is not None:
            with contextlib.suppress(DatabaseUnavailableError):
                found.update(await self._history.before(rest, starts))
        for key in [k for k in wanted if k not in found]:
            base = self._catalog(key, wanted[key])
            if base is not None:
                found[key] = base
        return found
