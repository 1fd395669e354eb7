"""The `Broker` port over several accounts: each call goes to the account's own broker.

Paper accounts share one paper ledger; each KIS account has its own `KisBroker` (its own app
key, token and rate budget). An order for an account that is not configured is refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal

from yquant.domain.model import BrokerOrder, Market, Order
from yquant.domain.reasons import ReasonCode
from yquant.errors import OrderRejectedError
from yquant.ports import Broker, FxRate, Holding, Quote


class AccountBrokers:
    def __init__(
        self,
        brokers: dict[str, Broker],
        *,
        on_close: Sequence[Callable[[], Awaitable[None]]] | None = None,
        loops: Sequence[Callable[[asyncio.Event], Awaitable[None]]] | None = None,
    ) -> None:
        """``loops``: what a venue runs by itself until stopped (the paper venue's timer),
        run by `run` in the gateway."""
        self._brokers = brokers
        self._on_close = list(on_close or [])
        self._loops = list(loops or [])

    @property
    def accounts(self) -> list[str]:
        return list(self._brokers)

    def for_account(self, account: str) -> Broker:
        try:
            return self._brokers[account]
        except KeyError:
            raise OrderRejectedError(
                ReasonCode.UNKNOWN_ACCOUNT, f"account {account!r} is not configured"
            ) from None

    def halted(self) -> dict[str, str]:
        return {a: why for b in self._distinct() for a, why in b.halted().items()}

    def _distinct(self) -> list[Broker]:
        seen: dict[int, Broker] = {}
        for broker in self._brokers.values():
            seen.setdefault(id(broker), broker)
        return list(seen.values())

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Forwarded to every broker (those that report changes as they happen call it)."""
        for broker in self._distinct():
            broker.on_change(listener)

    async def run(self, stop: asyncio.Event) -> None:
        """The venues' own loops until ``stop`` (with none, just waits for it)."""
        await asyncio.gather(stop.wait(), *(loop(stop) for loop in self._loops))

    async def connect(self) -> None:
        for broker in self._distinct():
            await broker.connect()

    async def close(self) -> None:
        for broker in self._distinct():
            await broker.close()
        for closer in self._on_close:
            await closer()

    async def submit(
        self, order: Order, *, queued: Callable[[], None] | None = None
    ) -> BrokerOrder:
        return await self.for_account(order.account).submit(order, queued=queued)

    async def get_order(self, order: Order) -> BrokerOrder | None:
        return await self.for_account(order.account).get_order(order)

    async def cancel(self, order: Order) -> BrokerOrder:
        return await self.for_account(order.account).cancel(order)

    async def modify(
        self, order: Order, price: Decimal | None = None, quantity: Decimal | None = None
    ) -> BrokerOrder:
        return await self.for_account(order.account).modify(order, price, quantity)

    async def holdings(self, account: str) -> list[Holding]:
        return await self.for_account(account).holdings(account)

    async def cash(self, account: str) -> dict[str, Decimal]:
        return await self.for_account(account).cash(account)

    async def quote(self, market: Market, exchange: str, ticker: str) -> Quote | None:
        """The first quote one of the brokers gives (for an account's own broker, ask
        `for_account(account).quote`)."""
        for broker in self._distinct():
            answer = await broker.quote(market, exchange, ticker)
            if answer is not None:
                return answer
        return None

    async def fx_rate(self, account: str) -> FxRate | None:
        return await self.for_account(account).fx_rate(account)

    async def token_expires_at(self) -> datetime | None:
        """The earliest expiry among the brokers' stored tokens; None when none holds one."""
        expiries = [e for b in self._distinct() if (e := await b.token_expires_at()) is not None]
        return min(expiries, default=None)
