"""Keeping ``positions`` and ``cash_balances`` in step with what each broker reports.

Every account is synced every ``interval_s`` on the worker that holds the active role (worker
``local`` with no deployment row counts as active; when the database cannot say, the last known
role is kept), and any account is synced shortly after a fill on it, on whichever worker saw the
fill. Requests that arrive close together are served by one sync. The broker is the source of
truth: what it no longer reports (a sold-out position, a balance gone to zero) is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from yquant.errors import RejectedError, RetryableError
from yquant.ports import AccountBook, Broker, Clock
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
    ) -> None:
        self._broker = broker
        self._book = book
        self._role = role
        self._accounts = accounts
        self._interval_s = interval_s
        self._delay_s = after_fill_delay_s
        self._clock = clock
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self.synced = 0  # completed syncs, for health and tests

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
        self.synced += 1
        logger.info(
            "account synced account=%s positions=%d currencies=%s",
            account,
            len(holdings),
            ",".join(sorted(k for k, v in cash.items() if v)),
        )

    async def _sync_safely(self, account: str) -> None:
        try:
            await self.sync(account)
        except (RetryableError, RejectedError) as exc:
            logger.warning("account sync skipped account=%s: %s", account, exc)
        except Exception:
            logger.exception("account sync failed account=%s", account)

    async def _wait(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
