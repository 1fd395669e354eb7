"""An account's cash, holdings and equity for sizing: the engine's own view of each account,
read from its broker when it is older than a bound, and moved by the orders decided since.

The broker is the source of truth for what an account can spend and what it holds. Asking it at
every decision cost about 8 KIS calls per alert (issue 21: ~8.8 s per decision on a paper key at
1 call/s, so a burst of alerts expired ``stale_signal``). The engine therefore keeps one view per
account: cash per currency and holdings as the broker reported them, read again only when the
view is older than ``engine.account_view_s``, or after a failed read once
``engine.account_retry_s`` has passed. Between reads, every order this process decided since the
read is applied to the view: a buy spends its cash at its reference price and adds its shares,
as if it filled (a resting buy holds its cash at the broker too); a sell takes the shares it
sold: all of them once it is no longer working, what it filled while it works (the decision
itself sets the working sells' remaining shares apart), and frees no cash until the next read.
A burst never spends the same cash twice, nor sells the same shares twice. In steady state a
decision costs no broker call; the order is the only one.

Each account is its own lane: a read that does not answer within ``engine.account_timeout_s``
(an unreachable broker) refuses that account's orders with ``account_unavailable``, and a
broker that refuses the account's settings (a wrong key, secret or account number at KIS) with
``broker_config_error`` carrying the broker's words; for ``engine.account_retry_s`` after such a
failure the account's orders are refused at once, without asking. The other accounts of the
same signal are decided as usual.

Equity in a currency = cash in it + the value of the positions of markets trading in it, each at
its average cost, except the instrument being decided, valued at the alert's price. The broker
port reports no market prices for other holdings, so their unrealised gains and losses are not
in the figure. Sizing and the position limit use it. (The daily loss limit reads the book, not
these figures: `yquant.domain.daily`.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from yquant.domain.model import CURRENCY, Instrument, Market, Order, Side
from yquant.domain.positions import WorkingOrder
from yquant.domain.reasons import ReasonCode
from yquant.errors import BrokerUnavailableError, ConfigurationError, SignalRejectedError
from yquant.ports import Broker, Holding

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AccountFigures:
    currency: str
    cash: Decimal
    equity: Decimal
    held: Decimal  # shares of the instrument
    open_positions: int  # instruments with shares held, any market


class OrdersMade(Protocol):
    """What the views need of the orders decided in this process (`RecentOrders`): a running
    sequence number and the orders made after a given one (None when some were forgotten)."""

    @property
    def sequence(self) -> int: ...

    def made_since(self, account: str, sequence: int) -> Iterable[Order] | None: ...


@dataclass(slots=True)
class _View:
    read_at: float  # monotonic time the read started: the figures are at least this old
    sequence: int  # the last order made before the read
    cash: dict[str, Decimal]
    holdings: dict[tuple[Market, str], tuple[Decimal, Decimal]]  # quantity, average price
    sells: list[Order] = field(default_factory=list)  # decided since the read, not folded in


@dataclass(slots=True)
class _Lane:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    view: _View | None = None
    failed_at: float | None = None
    failure: SignalRejectedError | None = None


class AccountViews:
    def __init__(
        self,
        broker: Broker,
        made: OrdersMade,
        *,
        view_s: float = 30.0,
        timeout_s: float = 5.0,
        retry_s: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._broker = broker
        self._made = made
        self._view_s = view_s
        self._timeout_s = timeout_s
        self._retry_s = retry_s
        self._monotonic = monotonic
        self._lanes: dict[str, _Lane] = {}
        self.reads = 0  # broker reads made (each is a cash and a holdings call), for tests

    def forget(self, account: str | None = None) -> None:
        """Read ``account`` (every account: None) from its broker at its next decision."""
        for name, lane in self._lanes.items():
            if account is None or name == account:
                lane.view = None

    async def figures(
        self,
        account: str,
        instrument: Instrument,
        price: Decimal | None,
        working: Iterable[WorkingOrder] | None = None,
    ) -> AccountFigures:
        """The account's figures for a decision on ``instrument`` at ``price``, given the
        account's ``working`` orders in it where the decision reads them (None: not read; a
        sell decided since the read then counts as filled); a SignalRejectedError
        (``account_unavailable``, ``broker_config_error``) when its broker cannot give them."""
        view = await self._view(account)
        made = self._made.made_since(account, view.sequence)
        assert made is not None  # `_view` reads again when orders were forgotten
        # Buys folded into the view once: a burst is not applied again at every decision.
        for order in made:
            if order.side is Side.BUY:
                _bought(order, view.cash, view.holdings)
            else:
                view.sells.append(order)
        view.sequence = self._made.sequence
        cash, holdings = view.cash, dict(view.holdings)
        remaining = None if working is None else {w.client_order_id: w.remaining for w in working}
        for order in view.sells:
            # What a working sell has not filled is set apart by the decision itself.
            left = remaining.get(order.client_order_id) if remaining is not None else None
            _sold(order, order.quantity - (left or Decimal(0)), holdings)
        currency = CURRENCY[instrument.market]
        this = (instrument.market, instrument.ticker)
        value = Decimal(0)
        for (market, ticker), (quantity, avg_price) in holdings.items():
            if quantity <= 0 or CURRENCY[market] != currency:
                continue
            mark = price if (market, ticker) == this and price is not None else avg_price
            value += quantity * mark
        held = max(holdings.get(this, (Decimal(0), Decimal(0)))[0], Decimal(0))
        available = cash.get(currency, Decimal(0))
        return AccountFigures(
            currency=currency,
            cash=available,
            equity=available + value,
            held=held,
            open_positions=sum(1 for quantity, _ in holdings.values() if quantity > 0),
        )

    async def _view(self, account: str) -> _View:
        lane = self._lanes.setdefault(account, _Lane())
        async with lane.lock:  # one read at a time per account; the others use its result
            now = self._monotonic()
            failure, failed_at = lane.failure, lane.failed_at
            if failure is not None and failed_at is not None and now - failed_at < self._retry_s:
                raise failure
            view = lane.view
            if (
                view is not None
                and now - view.read_at < self._view_s
                and self._made.made_since(account, view.sequence) is not None
            ):
                return view
            lane.view = await self._read(account, lane, now)
            return lane.view

    async def _read(self, account: str, lane: _Lane, now: float) -> _View:
        sequence = self._made.sequence
        self.reads += 1
        try:
            async with asyncio.timeout(self._timeout_s):
                # Cash first: an order placed meanwhile spends cash before its shares show.
                cash = await self._broker.cash(account)
                holdings = await self._broker.holdings(account)
        except TimeoutError:
            failure = SignalRejectedError(
                ReasonCode.ACCOUNT_UNAVAILABLE,
                f"its broker gave no figures within {self._timeout_s:g} s",
            )
        except BrokerUnavailableError as exc:
            failure = SignalRejectedError(ReasonCode.ACCOUNT_UNAVAILABLE, str(exc)[:300])
        except ConfigurationError as exc:
            failure = SignalRejectedError(ReasonCode.BROKER_CONFIG_ERROR, str(exc)[:300])
        else:
            lane.failure = lane.failed_at = None
            return _View(now, sequence, dict(cash), _by_instrument(holdings))
        logger.warning(
            "account %s refused for %g s: %s %s",
            account,
            self._retry_s,
            failure.reason,
            failure.detail,
        )
        lane.view, lane.failure, lane.failed_at = None, failure, self._monotonic()
        raise failure


def _by_instrument(holdings: list[Holding]) -> dict[tuple[Market, str], tuple[Decimal, Decimal]]:
    out: dict[tuple[Market, str], tuple[Decimal, Decimal]] = {}
    for h in holdings:
        if h.quantity <= 0:
            continue
        known, cost = out.get((h.market, h.ticker), (Decimal(0), Decimal(0)))
        total = known + h.quantity
        out[(h.market, h.ticker)] = (total, (known * cost + h.quantity * h.avg_price) / total)
    return out


def _bought(
    order: Order,
    cash: dict[str, Decimal],
    holdings: dict[tuple[Market, str], tuple[Decimal, Decimal]],
) -> None:
    """A buy as if it filled at its price: it spends cash and adds shares."""
    key = (order.market, order.ticker)
    quantity, cost = holdings.get(key, (Decimal(0), Decimal(0)))
    price = order.limit_price if order.limit_price is not None else order.reference_price
    if price is not None:
        cash[order.currency] = cash.get(order.currency, Decimal(0)) - order.quantity * price
    total = quantity + order.quantity
    paid = price if price is not None else cost
    holdings[key] = (total, (quantity * cost + order.quantity * paid) / total)


def _sold(
    order: Order, shares: Decimal, holdings: dict[tuple[Market, str], tuple[Decimal, Decimal]]
) -> None:
    """``shares`` of a sell gone from the holdings (its proceeds count at the next read)."""
    key = (order.market, order.ticker)
    quantity, cost = holdings.get(key, (Decimal(0), Decimal(0)))
    holdings[key] = (quantity - shares, cost)
