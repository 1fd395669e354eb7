"""The book as people and the account sync read it: each strategy's positions, valued, and
checked against what the broker holds.

`BookService.view` builds the book of the fills in the system of record (`FillHistory`), with
the charges of the `FeeSchedule` and the P&L realised since the start of each market's local
day, values every open position at its `Prices` mark (unrealised P&L, the price's time and
source, stale past ``stale_after_s``), and reconciles each account with the broker's holdings:
asked of the broker now, or as the last account sync stored them. A difference is a row of the
strategy ``unattributed``: shown, never given to a strategy.

`BookService.differences` is the account sync's check: the unattributed rows of one account
against the holdings it has just fetched.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from yquant.domain.book import (
    UNATTRIBUTED,
    ZERO,
    Book,
    FeeSchedule,
    Holding,
    LocalDay,
    Position,
    build,
    reconcile,
)
from yquant.domain.model import Market
from yquant.errors import DatabaseUnavailableError, RejectedError, RetryableError
from yquant.ports import Broker, Clock, FillHistory, Mark, Prices, PriceSource, SyncedHoldings

logger = logging.getLogger(__name__)


class HoldingsFrom(StrEnum):
    """Where a view's broker holdings came from."""

    BROKER = "broker"  # asked of the broker now
    SYNCED = "synced"  # as the last account sync stored them
    NONE = "none"  # not known: no unattributed rows could be made


@dataclass(frozen=True, slots=True)
class HoldingsCheck:
    """How one account's book was checked against its broker."""

    source: HoldingsFrom
    as_of: datetime | None = None  # the holdings' time (now, or the sync's)
    error: str | None = None  # why the broker (or the stored copy) could not say


@dataclass(frozen=True, slots=True)
class BookRow:
    """One position of the book with its price: a strategy's, or an ``unattributed`` one."""

    position: Position
    mark: Mark | None = None
    stale: bool = False
    realised_today: Decimal = ZERO
    # The position as the market's day began and its price then (`Prices.before_today`).
    start: Position | None = None
    reference: Mark | None = None

    @property
    def unattributed(self) -> bool:
        return self.position.strategy == UNATTRIBUTED

    @property
    def currency(self) -> str:
        return self.position.currency

    @property
    def price(self) -> Decimal | None:
        return self.mark.price if self.mark is not None else None

    @property
    def market_value(self) -> Decimal | None:
        if self.position.quantity == 0:
            return ZERO
        return None if self.mark is None else self.position.quantity * self.mark.price

    @property
    def pnl_today(self) -> Decimal | None:
        """The change of this position's P&L since its market's day began: the P&L realised
        today plus the change of the unrealised P&L, i.e. realised_today + (price - average
        cost) x quantity now - (price before today - average cost then) x quantity then. For
        shares held all day that is (price - price before today) x quantity. None where a
        price it needs is not known."""
        start = self.start if self.start is not None else self.position
        now = self.unrealised
        if now is None:
            return None
        if start.quantity == 0:
            return self.realised_today + now
        if start.quantity < 0 or self.reference is None:
            return None
        return self.realised_today + now - (self.reference.price - start.avg_cost) * start.quantity

    @property
    def unrealised(self) -> Decimal | None:
        """(price - average cost) x quantity; None without a price, and for shares the book
        counts but the broker does not hold (they have no cost of their own)."""
        if self.position.quantity == 0:
            return ZERO
        if self.position.quantity < 0:
            return None
        return self.position.unrealised(self.price)


@dataclass
class Totals:
    """A currency's sums over the rows shown (unattributed rows included: the value then adds
    up to what the broker holds). ``priced`` is False when a row with shares had no price."""

    cost: Decimal = ZERO
    value: Decimal = ZERO
    unrealised: Decimal = ZERO
    realised: Decimal = ZERO
    realised_today: Decimal = ZERO
    pnl_today: Decimal = ZERO
    priced: bool = True
    today_known: bool = True  # False when a row's day P&L could not be told (no price)

    def add(self, row: BookRow) -> None:
        p = row.position
        if p.quantity > 0:
            self.cost += p.cost_value
        value, unrealised = row.market_value, row.unrealised
        if value is None:
            self.priced = False
        else:
            self.value += value
        if unrealised is not None:
            self.unrealised += unrealised
        self.realised += p.realised
        self.realised_today += row.realised_today
        today = row.pnl_today
        if today is not None:
            self.pnl_today += today
        elif p.quantity >= 0 and (row.start is None or row.start.quantity >= 0):
            # Unknown for want of a price. (Shares the book counts but the broker does not
            # hold have no P&L of their own, as they have no unrealised P&L: not missing.)
            self.today_known = False


@dataclass(frozen=True, slots=True)
class BookView:
    at: datetime
    rows: list[BookRow]
    checks: dict[str, HoldingsCheck] = field(default_factory=dict)

    @property
    def unattributed(self) -> list[BookRow]:
        return [r for r in self.rows if r.unattributed]

    def totals(self) -> dict[str, Totals]:
        sums: dict[str, Totals] = {}
        for row in self.rows:
            sums.setdefault(row.currency, Totals()).add(row)
        return dict(sorted(sums.items()))


class BookService:
    def __init__(
        self,
        *,
        fills: FillHistory,
        fees: FeeSchedule,
        prices: Prices,
        clock: Clock,
        accounts: Sequence[str],
        stale_after_s: float = 900.0,
        broker: Broker | None = None,
        synced: SyncedHoldings | None = None,
        local_day: LocalDay | None = None,
    ) -> None:
        self._fills = fills
        self._fees = fees
        self._prices = prices
        self._clock = clock
        self._accounts = list(accounts)
        self._stale_after_s = stale_after_s
        self._broker = broker
        self._synced = synced
        self._days = local_day or LocalDay.of_markets()

    @property
    def accounts(self) -> list[str]:
        return list(self._accounts)

    async def book(self, *, account: str | None = None, strategy: str | None = None) -> Book:
        """The book of the recorded fills, with each market's P&L realised today.
        DatabaseUnavailableError when the database is away."""
        now = self._clock.now()
        since = {m: self._days.day_start(m, now) for m in Market}
        fills = await self._fills.book_fills(account=account, strategy=strategy)
        return build(fills, self._fees, self._days, since=since)

    async def view(
        self,
        *,
        account: str | None = None,
        strategy: str | None = None,
        holdings: HoldingsFrom = HoldingsFrom.BROKER,
    ) -> BookView:
        """Every position of ``account`` (or of every configured account) and ``strategy``
        (or all), valued, with the unattributed rows of the accounts shown (unless a strategy
        is asked for). ``holdings``: where the broker's holdings are read; a broker that does
        not answer falls back to the last sync's copy."""
        now = self._clock.now()
        # The whole account's fills: what the broker holds is compared with every strategy's.
        book = await self.book(account=account)
        accounts = [account] if account is not None else self._known_accounts(book)
        unattributed: list[Position] = []
        checks: dict[str, HoldingsCheck] = {}
        if strategy in (None, UNATTRIBUTED) and holdings is not HoldingsFrom.NONE:
            for name in accounts:
                held, check = await self._holdings(name, holdings)
                checks[name] = check
                if held is not None:
                    unattributed += reconcile(book, held, [name])
        positions = [*book.rows(account=account, strategy=strategy), *unattributed]
        if strategy == UNATTRIBUTED:
            positions = unattributed
        marks = await self._prices.marks(
            [(p.market, p.exchange, p.ticker) for p in positions if p.quantity != 0]
        )
        starts = {p.key: book.at_start(p.key) if p.key in book.positions else p for p in positions}
        references = await self._prices.before_today(
            [
                (p.market, p.exchange, p.ticker)
                for p in positions
                if (start := starts[p.key]) is not None and start.quantity > 0
            ]
        )
        rows = [
            dataclasses.replace(
                self._row(
                    p, marks.get((p.market, p.ticker)), book.realised_since.get(p.key, ZERO), now
                ),
                start=starts[p.key],
                reference=references.get((p.market, p.ticker)),
            )
            for p in positions
        ]
        rows.sort(
            key=lambda r: (
                r.position.account,
                r.unattributed,
                r.position.strategy,
                r.position.market.value,
                r.position.ticker,
            )
        )
        return BookView(now, rows, checks)

    async def differences(
        self, account: str, holdings: list[Holding]
    ) -> tuple[list[Position], Book]:
        """The ``unattributed`` rows of ``account`` against ``holdings`` (just fetched from its
        broker; [] when they agree) and the account's book. DatabaseUnavailableError when the
        fills cannot be read."""
        book = await self.book(account=account)
        return reconcile(book, holdings, [account]), book

    def _known_accounts(self, book: Book) -> list[str]:
        seen = {p.account for p in book.positions.values()}
        return sorted(seen | set(self._accounts))

    def _row(self, position: Position, mark: Mark | None, today: Decimal, now: datetime) -> BookRow:
        stale = mark is not None and (
            mark.source is PriceSource.CATALOG or mark.age_s(now) > self._stale_after_s
        )
        return BookRow(position, mark if position.quantity != 0 else None, stale, today)

    async def _holdings(
        self, account: str, source: HoldingsFrom
    ) -> tuple[list[Holding] | None, HoldingsCheck]:
        error = None
        if source is HoldingsFrom.BROKER and self._broker is not None:
            try:
                held = await self._broker.for_account(account).holdings(account)
            except (RetryableError, RejectedError) as exc:
                error = str(exc)[:200]
                logger.warning("holdings not had from the broker account=%s: %s", account, error)
            else:
                return held, HoldingsCheck(HoldingsFrom.BROKER, self._clock.now())
        if self._synced is None:
            return None, HoldingsCheck(HoldingsFrom.NONE, error=error)
        try:
            held, at = await self._synced.synced_holdings(account)
        except DatabaseUnavailableError as exc:
            return None, HoldingsCheck(HoldingsFrom.NONE, error=error or str(exc)[:200])
        if at is None:
            # Nothing on record: synced empty, or never synced. Not taken as "holds nothing",
            # which would make every position of the book a difference.
            return None, HoldingsCheck(HoldingsFrom.NONE, error=error)
        return held, HoldingsCheck(HoldingsFrom.SYNCED, at, error)


def fill_marks(book: Book) -> list[tuple[Market, str, Mark]]:
    """The latest fill's price of each instrument of ``book``, as a price seen then."""
    latest: dict[tuple[Market, str], Position] = {}
    for p in book.positions.values():
        if p.last_price is None or p.last_fill_at is None:
            continue
        known = latest.get((p.market, p.ticker))
        if known is None or (known.last_fill_at or p.last_fill_at) < p.last_fill_at:
            latest[(p.market, p.ticker)] = p
    return [
        (market, ticker, Mark(p.last_price, p.last_fill_at, PriceSource.FILL))
        for (market, ticker), p in sorted(latest.items(), key=lambda kv: (kv[0][0].value, kv[0][1]))
        if p.last_price is not None and p.last_fill_at is not None
    ]
