"""The narrow interfaces the services depend on; adapters implement them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

# BrokerOrder (the broker's report on one order) is a domain value: Order.apply takes it.
from yquant.domain.model import BrokerOrder, Instrument, Market, Order


@dataclass(frozen=True, slots=True)
class Quote:
    """A broker's current price for one instrument, with its tick and daily limits if known."""

    price: Decimal
    tick: Decimal | None = None
    upper_limit: Decimal | None = None
    lower_limit: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Holding:
    account: str
    ticker: str
    market: Market
    quantity: Decimal
    avg_price: Decimal


class Broker(Protocol):
    """A venue that takes orders. The paper broker and the KIS adapter are peers."""

    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def submit(self, order: Order) -> BrokerOrder:
        """Place ``order``. Raises BrokerUnavailableError when nothing was sent."""
        ...

    async def get_order(self, order: Order) -> BrokerOrder | None:
        """The broker's view of ``order``, or None when the broker has no trace of it."""
        ...

    async def cancel(self, order: Order) -> BrokerOrder: ...

    async def holdings(self, account: str) -> list[Holding]: ...

    async def cash(self, account: str) -> dict[str, Decimal]:
        """Cash per currency that new orders can spend (what resting buys hold excluded)."""
        ...


class Instruments(Protocol):
    """The stock catalog as the engine sees it (in memory on the worker)."""

    def resolve(self, market: Market, exchange: str, ticker: str) -> Instrument:
        """Exactly one catalog entry, or SignalRejectedError (unknown_ticker, ambiguous_ticker,
        not_tradable, halted). Never a guess."""
        ...
