"""Keeping ``positions`` and ``cash_balances`` in step with what each broker reports.

Every account is synced every ``interval_s`` on the worker that holds the active role (worker
``local`` with no deployment row counts as active; when the database cannot say, the last known
role is kept), and any account is synced shortly after a fill on it, on whichever worker saw the
fill. Requests that arrive close together are served by one sync. The broker is the source of
truth: what it no longer reports (a sold-out position, a balance gone to zero) is removed.

With the book (``ledger``), every sync also checks the strategies' positions against the
holdings just fetched: a difference (shares bought outside yQuant, a corporate action, a fill
not recorded yet) is logged as a warning when it appears or changes, counted in the
``yquant_book_unattributed`` gauge, and kept (``unattributed``); the book shows it as an
``unattributed`` row, never as a strategy's. The latest fill price of each instrument the
account traded is recorded as a price seen (one write, skipped while the database is away).
With ``fx``, the USD/KRW rate the broker gave with the balances (KIS) is recorded too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
        self._clock = clock
        self._ledger = ledger
        self._prices = prices
        self._fx = fx
        self._metrics = metrics
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self.synced = 0  # completed syncs, for health and tests
        # Per account, what the latest check found the broker and the book disagree on.
        self.unattributed: dict[str, list[Position]] = {}

    def request(self, account: str) -> None:
        """Sync ``account`` soon (after a fill)."""
        self._dirty.add(account)
        self._wake.set()

    async def is_active(self) -> bool:
        return await self._role.is_active()

    async def run(self, stop: asyncio.Event) -> None:
        next_full = 0.0
        while not stop.is_set():
            due = set(self._dirty)
            self._dirty.clear()
            if self._clock.monotonic() >= next_full:
                next_full = self._clock.monotonic() + self._interval_s
                if await self.is_active():
                    due |= set(self._accounts)
            for account in sorted(due):
                if stop.is_set():
                    break
                await self._sync_safely(account)
            self._wake.clear()
            if self._dirty:
                continue
            timeout = max(next_full - self._clock.monotonic(), 0.05)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait(stop), timeout=timeout)
            if self._dirty and not stop.is_set():
                # Let a burst of fills settle into one sync.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._delay_s)

    async def sync(self, account: str) -> None:
        """Bring ``account``'s positions and cash to what its broker reports now."""
        holdings = await self._broker.holdings(account)
        cash = await self._broker.cash(account)
        now = self._clock.now()
        await self._book.replace_positions(account, holdings, now)
        await self._book.replace_cash(account, cash, now)
        if self._fx is not None:
            await self._fx.observe(await self._broker.fx_rate(account))
        await self._check(account, holdings)
        self.synced += 1
        logger.info(
            "account synced account=%s positions=%d currencies=%s",
            account,
            len(holdings),
            ",".join(sorted(k for k, v in cash.items() if v)),
        )

    async def _check(self, account: str, holdings: list[Holding]) -> None:
        """Compare the book of ``account`` with the holdings just fetched."""
        if self._ledger is None:
            return
        try:
            rows, book = await self._ledger.differences(account, holdings)
        except DatabaseUnavailableError as exc:
            logger.warning("book not checked account=%s: database unavailable (%s)", account, exc)
            return
        if self._prices is not None:
            await self._prices.observe_many(fill_marks(book))
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

    async def _sync_safely(self, account: str) -> None:
        try:
            await self.sync(account)
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
