"""Keeping ``positions`` and ``cash_balances`` in step with what each broker reports.

Every account is synced every ``interval_s`` on the worker that holds the active role (worker
``local`` with no deployment row counts as active; when the database cannot say, the last known
role is kept), and any account is synced shortly after a fill on it, on whichever worker saw the
fill. The broker is the source of truth: what it no longer reports (a sold-out position, a
balance gone to zero) is removed.

With the book (``ledger``), a sync also checks the strategies' positions against the holdings
just fetched: a difference (shares bought outside yQuant, a corporate action, a fill not
recorded yet) is logged as a warning when it appears or changes, counted in the
``yquant_book_unattributed`` gauge, and kept (``unattributed``); the book shows it as an
``unattributed`` row, never as a strategy's. The latest fill price of each instrument the
account traded is recorded as a price seen (one write, skipped while the database is away).
With ``fx``, the USD/KRW rate the broker gave with the balances (KIS) is recorded too.

Settling. The gateway tells the sync (`in_flight`) while it sends an order to an account's
broker until the answer is recorded, and while it records new fills it has learnt of (a
followed order's, a cancel's answer), and (`request`) when it has recorded new fills. While
either is under way the broker's holdings and the recorded fills may disagree for a moment, so:

- a book check is trusted only when neither was under way on the account at any moment between
  fetching the holdings and reading the book (none under way before the fetch; none under way
  and no fill recorded meanwhile after the read); otherwise its result is set aside (no
  warning, ``unattributed`` and the gauge unchanged) and the account is checked again once
  quiet;
- a sync asked for after a fill waits until the account is quiet (nothing under way and no fill
  recorded for ``after_fill_delay_s``), which serves a whole burst of fills with one sync and
  one book check; it waits ``settle_max_s`` at most, and a sync run then while the account is
  still busy (or the periodic one) brings positions and cash up to date without checking the
  book, which is checked once the account is quiet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from decimal import Decimal

from yquant.domain.book import Holding, Position, ticker_key
from yquant.domain.notices import NoticeKind, notice
from yquant.errors import (
    BrokerTokenError,
    BrokerUnavailableError,
    DatabaseUnavailableError,
    RejectedError,
    RetryableError,
)
from yquant.ports import NO_METRICS, NO_NOTICES, AccountBook, Broker, Clock, Metrics, Notices
from yquant.services.book import BookService, fill_marks
from yquant.services.fx import FxService
from yquant.services.prices import PriceService
from yquant.services.worker_state import ActiveRole

logger = logging.getLogger(__name__)


@dataclass
class _Settling:
    """One account's sends and recordings under way (`AccountSync.in_flight`) and its fills
    recorded (`AccountSync.request`)."""

    in_flight: int = 0
    recorded: int = 0  # times new fills were recorded, ever
    recorded_at: float = float("-inf")  # monotonic time of the latest

    def quiet(self, now: float, delay_s: float) -> bool:
        return self.in_flight == 0 and now - self.recorded_at >= delay_s


class AccountSync:
    def __init__(
        self,
        *,
        broker: Broker,
        book: AccountBook,
        role: ActiveRole,
        accounts: list[str],
        interval_s: float = 60.0,
        after_fill_delay_s: float = 1.0,
        settle_max_s: float = 10.0,
        clock: Clock,
        ledger: BookService | None = None,
        prices: PriceService | None = None,
        fx: FxService | None = None,
        metrics: Metrics = NO_METRICS,
        notices: Notices = NO_NOTICES,
    ) -> None:
        self._notices = notices
        self._failing: set[str] = set()  # accounts whose broker failed the latest sync
        self._broker = broker
        self._book = book
        self._role = role
        self._accounts = accounts
        self._interval_s = interval_s
        self._delay_s = after_fill_delay_s
        self._settle_max_s = settle_max_s
        self._clock = clock
        self._ledger = ledger
        self._prices = prices
        self._fx = fx
        self._metrics = metrics
        # Accounts asked for after a fill, with the monotonic time of the first request since
        # their latest sync.
        self._dirty: dict[str, float] = {}
        self._owed: set[str] = set()  # accounts whose latest book check was put off
        self._settling: dict[str, _Settling] = {}
        self._wake = asyncio.Event()
        self.synced = 0  # completed syncs, for health and tests
        # Per account, what the latest check found the broker and the book disagree on.
        self.unattributed: dict[str, list[Position]] = {}

    def request(self, account: str) -> None:
        """New fills of ``account`` are recorded: sync it once it is quiet."""
        now = self._clock.monotonic()
        settling = self._state(account)
        settling.recorded += 1
        settling.recorded_at = now
        if account not in self._dirty:
            self._dirty[account] = now
            self._wake.set()

    @contextlib.contextmanager
    def in_flight(self, account: str) -> Iterator[None]:
        """Around a send to ``account``'s broker and the recording of its answer, and around
        the recording of new fills: no book check overlapping it is trusted."""
        settling = self._state(account)
        settling.in_flight += 1
        try:
            yield
        finally:
            settling.in_flight -= 1

    async def is_active(self) -> bool:
        return await self._role.is_active()

    async def run(self, stop: asyncio.Event) -> None:
        next_full = 0.0
        while not stop.is_set():
            self._wake.clear()
            everyone: Collection[str] = ()
            if self._clock.monotonic() >= next_full:
                next_full = self._clock.monotonic() + self._interval_s
                if await self.is_active():
                    everyone = self._accounts
            for account, check in sorted(self._due(everyone).items()):
                if stop.is_set():
                    break
                self._dirty.pop(account, None)
                self._owed.discard(account)
                await self._sync_safely(account, check=check)
            timeout = max(self._next_due(next_full) - self._clock.monotonic(), 0.05)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait(stop), timeout=timeout)

    def _due(self, everyone: Collection[str]) -> dict[str, bool]:
        """The accounts to sync now, each with whether its book is checked: every account of
        the periodic sync, and those asked for or owed a check once they are quiet (an account
        asked for ``settle_max_s`` ago, sooner); the book only of a quiet account."""
        now = self._clock.monotonic()
        due: dict[str, bool] = {}
        for account in {*everyone, *self._dirty, *self._owed}:
            quiet = self._state(account).quiet(now, self._delay_s)
            waited = now - self._dirty.get(account, now) >= self._settle_max_s
            if quiet or waited or account in everyone:
                due[account] = quiet
        return due

    def _next_due(self, next_full: float) -> float:
        """When an account asked for or owed a check may be due (busy: looked at again after
        ``after_fill_delay_s``), or the periodic sync is."""
        now = self._clock.monotonic()
        at = next_full
        for account in {*self._dirty, *self._owed}:
            settling = self._state(account)
            busy = now if settling.in_flight else settling.recorded_at
            at = min(at, busy + self._delay_s)
            if account in self._dirty:
                at = min(at, self._dirty[account] + self._settle_max_s)
        return at

    def _state(self, account: str) -> _Settling:
        settling = self._settling.get(account)
        if settling is None:
            settling = self._settling[account] = _Settling()
        return settling

    async def sync(self, account: str, *, check: bool = True) -> None:
        """Bring ``account``'s positions and cash to what its broker reports now, and check
        its book against them (with ``check``, and when no call to its broker is under way)."""
        settling = self._state(account)
        # What was recorded before the holdings were fetched: the check is trusted only if
        # nothing was under way or recorded until the book has been read.
        recorded = settling.recorded if check and settling.in_flight == 0 else None
        holdings = await self._broker.holdings(account)
        cash = await self._broker.cash(account)
        now = self._clock.now()
        await self._book.replace_positions(account, holdings, now)
        await self._book.replace_cash(account, cash, now)
        if self._fx is not None:
            await self._fx.observe(await self._broker.fx_rate(account))
        if recorded is not None:
            await self._check(account, holdings, recorded)
        elif self._ledger is not None:
            self._owed.add(account)
        self.synced += 1
        logger.info(
            "account synced account=%s positions=%d currencies=%s",
            account,
            len(holdings),
            ",".join(sorted(k for k, v in cash.items() if v)),
        )

    async def _check(self, account: str, holdings: list[Holding], recorded: int) -> None:
        """Compare the book of ``account`` with the holdings just fetched; ``recorded``: the
        account's count of recorded fills before they were fetched."""
        if self._ledger is None:
            return
        try:
            rows, book = await self._ledger.differences(account, holdings)
        except DatabaseUnavailableError as exc:
            logger.warning("book not checked account=%s: database unavailable (%s)", account, exc)
            return
        if self._prices is not None:
            await self._prices.observe_many(fill_marks(book))
        settling = self._state(account)
        if settling.in_flight or settling.recorded != recorded:
            # A fill may be at the broker and not recorded yet, or recorded after the holdings
            # were fetched: not a difference to report.
            logger.debug("book check put off account=%s: orders under way", account)
            self._owed.add(account)
            return
        before = {(r.market, r.ticker): r.quantity for r in self.unattributed.get(account, [])}
        self.unattributed[account] = rows
        self._metrics.book_unattributed(account, len(rows))
        held: dict[tuple[object, str], Decimal] = {}
        for h in holdings:
            key = (h.market, ticker_key(h.ticker))
            held[key] = held.get(key, Decimal(0)) + h.quantity
        for row in rows:
            if before.get((row.market, row.ticker)) == row.quantity:
                continue  # reported when it appeared; the gauge keeps counting it
            broker = held.get((row.market, ticker_key(row.ticker)), Decimal(0))
            logger.warning(
                "book differs from the broker account=%s market=%s ticker=%s broker=%s "
                "strategies=%s unattributed=%s",
                account,
                row.market.value,
                row.ticker,
                _plain(broker),
                _plain(broker - row.quantity),
                _plain(row.quantity),
            )
        for market, ticker in before.keys() - {(r.market, r.ticker) for r in rows}:
            logger.info(
                "book agrees with the broker again account=%s market=%s ticker=%s",
                account,
                market.value,
                ticker,
            )

    async def _sync_safely(self, account: str, *, check: bool = True) -> None:
        try:
            await self.sync(account, check=check)
        except BrokerUnavailableError as exc:
            logger.warning("account sync skipped account=%s: %s", account, exc)
            await self._unreachable(account, exc)
            return
        except (RetryableError, RejectedError) as exc:
            logger.warning("account sync skipped account=%s: %s", account, exc)
            return
        except Exception:
            logger.exception("account sync failed account=%s", account)
            return
        self._failing.discard(account)

    async def _unreachable(self, account: str, exc: BrokerUnavailableError) -> None:
        """Tell the operator once per run of failed syncs (not every interval)."""
        if account in self._failing:
            return
        self._failing.add(account)
        now = self._clock.now()
        kind = (
            NoticeKind.BROKER_TOKEN_FAILED
            if isinstance(exc, BrokerTokenError)
            else NoticeKind.ACCOUNT_UNREACHABLE
        )
        await self._notices.notify(
            notice(kind, f"{account}:{now.isoformat()}", now, account=account, error=str(exc))
        )

    async def _wait(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()


def _plain(quantity: Decimal) -> str:
    return f"{quantity.normalize():f}"
