"""The simulated venue behind the KIS simulator: accounts, prices, orders, fills.

Domestic (KRX, KRW) and US (USD) stocks. Market orders fill at the current price; limit orders
fill when the price reaches them (at the better current price). Fills are immediate, or in
``partial_steps`` slices (each released by `step`, or every ``fill_interval_s`` seconds). A buy
reserves cash (market buys at the upper-limit price, as KIS does), a sell reserves shares; a
fill books cash and position at once. Prices of tickers never set are derived from the ticker
(stable, on a valid tick), so any well-formed code can be traded in a demo.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal
from zoneinfo import ZoneInfo

from yquant.domain.reasons import ReasonCode
from yquant.errors import RejectedError

KST = ZoneInfo("Asia/Seoul")
NEW_YORK = ZoneInfo("America/New_York")
US_LISTINGS = {
    "AAPL": "NASD",
    "MSFT": "NASD",
    "NVDA": "NASD",
    "TSLA": "NASD",
    "AMZN": "NASD",
    "GOOGL": "NASD",
    "META": "NASD",
    "IBM": "NYSE",
    "KO": "NYSE",
    "JPM": "NYSE",
    "BRK.B": "NYSE",
    "SPY": "AMEX",
    "GLD": "AMEX",
    "SOXL": "AMEX",
}


# Prices a demo starts from (the banner's sample alert buys 005930 at 71,000).
SEED_PRICES = {
    ("KR", "005930"): Decimal(71_000),
    ("KR", "000660"): Decimal(150_000),
    ("KR", "035420"): Decimal(200_000),
    ("US", "AAPL"): Decimal("190.00"),
    ("US", "MSFT"): Decimal("415.10"),
    ("US", "NVDA"): Decimal("120.50"),
}


class RefusedError(RejectedError):
    """A business refusal of the simulated exchange: becomes rt_cd "1" with ``code`` and
    ``message``, KIS's own code and text (what the real exchange would send).

    A RejectedError (a final refusal of one request, the simulator goes on), never a
    HaltError: nothing about it stops a process. Its reason code is BROKER_REJECTED, the
    generic broker refusal; the KIS code stays in ``code``, as the client reads it from the
    wire and maps it itself."""

    def __init__(self, code: str, message: str, http_status: int = 200) -> None:
        super().__init__(ReasonCode.BROKER_REJECTED, message, message=f"{code} {message}")
        self.code = code
        self.message = message
        self.http_status = http_status


@dataclass
class Position:
    quantity: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    reserved: Decimal = Decimal(0)
    sold_today: bool = False
    exchange: str = ""


@dataclass
class Account:
    cano: str
    product: str
    cash: dict[str, Decimal]
    reserved: dict[str, Decimal] = field(
        default_factory=lambda: {"KRW": Decimal(0), "USD": Decimal(0)}
    )
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)


@dataclass
class SimOrder:
    odno: str
    branch: str
    account: tuple[str, str]
    market: str  # KR | US
    exchange: str  # KRX | NASD | NYSE | AMEX
    ticker: str
    side: str  # buy | sell
    quantity: Decimal
    limit_price: Decimal | None  # None: market order
    ordered_at: datetime
    reserved: Decimal = Decimal(0)
    filled: Decimal = Decimal(0)
    amount: Decimal = Decimal(0)
    cancelled: Decimal = Decimal(0)
    is_cancel: bool = False
    is_modify: bool = False  # a working order that a modify (정정) made from ``original``
    original: str = ""
    steps_done: int = 0

    @property
    def remaining(self) -> Decimal:
        return Decimal(0) if self.is_cancel else self.quantity - self.filled - self.cancelled

    @property
    def currency(self) -> str:
        return "KRW" if self.market == "KR" else "USD"


def krx_tick(price: Decimal) -> Decimal:
    for below, tick in (
        (2_000, 1),
        (5_000, 5),
        (20_000, 10),
        (50_000, 50),
        (200_000, 100),
        (500_000, 500),
    ):
        if price < below:
            return Decimal(tick)
    return Decimal(1_000)


class Exchange:
    def __init__(self, *, commission_rate: Decimal = Decimal(0)) -> None:
        self.lock = threading.RLock()
        self.accounts: dict[tuple[str, str], Account] = {}
        self.prices: dict[tuple[str, str], Decimal] = dict(SEED_PRICES)
        self.orders: list[SimOrder] = []
        self.market_open = {"KR": True, "US": True}
        self.partial_steps = 1
        self.fill_interval_s: float | None = None  # None: partial slices only on `step`
        self.commission_rate = commission_rate
        self._seq = itertools.count(1)
        # (kind, order, quantity, price) on accepted | filled | cancelled | modified, under the
        # lock: the websocket's execution notices.
        self.listeners: list[Callable[[str, SimOrder, Decimal, Decimal], None]] = []

    def _emit(self, kind: str, order: SimOrder, quantity: Decimal, price: Decimal) -> None:
        for listener in self.listeners:
            listener(kind, order, quantity, price)

    # ---- setup ---------------------------------------------------------------------------

    def add_account(self, cano: str, product: str, cash_krw: Decimal, cash_usd: Decimal) -> Account:
        with self.lock:
            account = Account(cano, product, {"KRW": cash_krw, "USD": cash_usd})
            self.accounts[(cano, product)] = account
            return account

    def set_position(
        self, key: tuple[str, str], market: str, ticker: str, quantity: Decimal, avg: Decimal
    ) -> None:
        with self.lock:
            exchange = "KRX" if market == "KR" else US_LISTINGS.get(ticker, "NASD")
            self.accounts[key].positions[(market, ticker)] = Position(
                quantity, avg, exchange=exchange
            )

    def price(self, market: str, ticker: str) -> Decimal:
        with self.lock:
            known = self.prices.get((market, ticker))
            if known is not None:
                return known
            seed = int(hashlib.sha256(f"{market}:{ticker}".encode()).hexdigest()[:8], 16)
            if market == "KR":
                raw = Decimal(5_000 + seed % 200_000)
                return (raw / krx_tick(raw)).to_integral_value(ROUND_FLOOR) * krx_tick(raw)
            return (Decimal(10) + Decimal(seed % 50_000) / 100).quantize(Decimal("0.01"))

    def set_price(self, market: str, ticker: str, price: Decimal) -> None:
        with self.lock:
            self.prices[(market, ticker)] = price
            for order in self.open_orders(market, ticker):
                self._try_fill(order)

    # ---- orders --------------------------------------------------------------------------

    def next_odno(self) -> str:
        return f"{next(self._seq):010d}"

    def open_orders(self, market: str | None = None, ticker: str | None = None) -> list[SimOrder]:
        return [
            o
            for o in self.orders
            if o.remaining > 0
            and (market is None or o.market == market)
            and (ticker is None or o.ticker == ticker)
        ]

    def place(
        self,
        key: tuple[str, str],
        *,
        market: str,
        exchange: str,
        ticker: str,
        side: str,
        quantity: Decimal,
        limit_price: Decimal | None,
        branch: str,
        closed: RefusedError,
    ) -> SimOrder:
        with self.lock:
            if not self.market_open[market]:
                raise closed
            account = self.accounts[key]
            currency = "KRW" if market == "KR" else "USD"
            now = datetime.now(UTC)
            price = self.price(market, ticker)
            if side == "buy":
                basis = limit_price if limit_price is not None else self.upper_limit(market, price)
                need = quantity * basis * (1 + self.commission_rate)
                if account.cash[currency] - account.reserved[currency] < need:
                    raise RefusedError("APBK0952", "주문가능금액을 초과 했습니다")
                account.reserved[currency] += need
                reserved = need
            else:
                held = account.positions.get((market, ticker))
                if held is None or held.quantity - held.reserved < quantity:
                    # The simulator's own code: KIS's is not documented for this refusal.
                    raise RefusedError("SIM00001", "주문가능수량을 초과 했습니다")
                held.reserved += quantity
                reserved = quantity
            order = SimOrder(
                odno=self.next_odno(),
                branch=branch,
                account=key,
                market=market,
                exchange=exchange,
                ticker=ticker,
                side=side,
                quantity=quantity,
                limit_price=limit_price,
                ordered_at=now,
                reserved=reserved,
            )
            self.orders.append(order)
            self._emit("accepted", order, quantity, limit_price or Decimal(0))
            self._try_fill(order)
            return order

    def _working(self, key: tuple[str, str], odno: str) -> SimOrder:
        """The original order a modify or cancel names; it must still have quantity left."""
        target = next(
            (
                o
                for o in self.orders
                if not o.is_cancel and o.account == key and o.odno.lstrip("0") == odno.lstrip("0")
            ),
            None,
        )
        if target is None:
            raise RefusedError("SIM00002", "원주문번호가 존재하지 않습니다")
        if target.remaining <= 0:
            raise RefusedError("SIM00003", "정정취소가능수량이 없습니다")
        return target

    def _portion(self, target: SimOrder, quantity: Decimal | None) -> Decimal:
        left = target.remaining
        if quantity is None:
            return left
        if quantity <= 0 or quantity != quantity.to_integral_value() or quantity > left:
            raise RefusedError("SIM00003", "정정취소가능수량이 없습니다")
        return quantity

    def cancel(
        self, key: tuple[str, str], odno: str, branch: str, quantity: Decimal | None = None
    ) -> SimOrder:
        """Cancel ``quantity`` (None: all) of what is left of a working order (취소, code 02)."""
        with self.lock:
            self.release_due()
            target = self._working(key, odno)
            part = self._portion(target, quantity)
            target.cancelled += part
            self._release(target, part)
            row = SimOrder(
                odno=self.next_odno(),
                branch=branch,
                account=key,
                market=target.market,
                exchange=target.exchange,
                ticker=target.ticker,
                side=target.side,
                quantity=part,
                limit_price=target.limit_price,
                ordered_at=datetime.now(UTC),
                is_cancel=True,
                original=target.odno,
            )
            self.orders.append(row)
            self._emit("cancelled", row, part, Decimal(0))
            return row

    def modify(
        self,
        key: tuple[str, str],
        odno: str,
        branch: str,
        quantity: Decimal | None,
        limit_price: Decimal | None,
    ) -> SimOrder:
        """Modify (정정, code 01) ``quantity`` (None: all) of what is left of a working order to
        a new price or type: that part leaves the original and becomes a new working order under
        a new number whose ``original`` is the old one; what is filled stays filled."""
        with self.lock:
            self.release_due()
            target = self._working(key, odno)
            part = self._portion(target, quantity)
            account = self.accounts[key]
            need = Decimal(0)
            if target.side == "buy":
                price = self.price(target.market, target.ticker)
                basis = (
                    limit_price
                    if limit_price is not None
                    else self.upper_limit(target.market, price)
                )
                need = part * basis * (1 + self.commission_rate)
                freed = target.reserved * part / target.remaining
                spare = account.cash[target.currency] - account.reserved[target.currency]
                if spare + freed < need:
                    raise RefusedError("APBK0952", "주문가능금액을 초과 했습니다")
            target.cancelled += part
            self._release(target, part)
            row = SimOrder(
                odno=self.next_odno(),
                branch=branch,
                account=key,
                market=target.market,
                exchange=target.exchange,
                ticker=target.ticker,
                side=target.side,
                quantity=part,
                limit_price=limit_price,
                ordered_at=datetime.now(UTC),
                original=target.odno,
                is_modify=True,
            )
            if target.side == "buy":
                account.reserved[target.currency] += need
                row.reserved = need
            else:
                account.positions[(target.market, target.ticker)].reserved += part
                row.reserved = part
            self.orders.append(row)
            self._emit("modified", row, part, limit_price or Decimal(0))
            self._try_fill(row)
            return row

    def step(self) -> int:
        """Release one partial slice of every open order that can fill; returns fills made."""
        with self.lock:
            return sum(1 for o in list(self.open_orders()) if self._try_fill(o, force_step=True))

    def release_due(self) -> None:
        """Time-driven partial fills (``fill_interval_s``): called before every inquiry."""
        if self.fill_interval_s is None:
            return
        with self.lock:
            now = time.time()
            for order in self.open_orders():
                due = int((now - order.ordered_at.timestamp()) / self.fill_interval_s) + 1
                while order.steps_done < min(due, self.partial_steps) and order.remaining > 0:
                    if not self._try_fill(order, force_step=True):
                        break

    # ---- internals -----------------------------------------------------------------------

    def upper_limit(self, market: str, price: Decimal) -> Decimal:
        """The price a market buy is reserved (and its buying power counted) at."""
        if market == "KR":
            raw = price * Decimal("1.3")
            return (raw / krx_tick(raw)).to_integral_value(ROUND_FLOOR) * krx_tick(raw)
        return price

    def _try_fill(self, order: SimOrder, force_step: bool = False) -> bool:
        if order.remaining <= 0 or not self.market_open[order.market]:
            return False
        price = self.price(order.market, order.ticker)
        if order.limit_price is not None:
            crosses = (
                price <= order.limit_price if order.side == "buy" else price >= order.limit_price
            )
            if not crosses:
                return False
        if self.partial_steps > 1 and order.steps_done > 0 and not force_step:
            return False  # later slices come with `step` or with time
        slices_left = max(self.partial_steps - order.steps_done, 1)
        quantity = (
            order.remaining
            if slices_left == 1
            else max((order.remaining / slices_left).to_integral_value(ROUND_FLOOR), Decimal(1))
        )
        self._book(order, quantity, price)
        order.steps_done += 1
        return True

    def _book(self, order: SimOrder, quantity: Decimal, price: Decimal) -> None:
        account = self.accounts[order.account]
        gross = quantity * price
        fee = (gross * self.commission_rate).quantize(Decimal("0.01"))
        key = (order.market, order.ticker)
        position = account.positions.setdefault(key, Position(exchange=order.exchange))
        if order.side == "buy":
            share = order.reserved * quantity / order.remaining
            order.reserved -= share
            account.reserved[order.currency] -= share
            account.cash[order.currency] -= gross + fee
            total = position.quantity + quantity
            position.avg_price = (position.quantity * position.avg_price + gross) / total
            position.quantity = total
        else:
            order.reserved -= quantity
            position.reserved -= quantity
            position.quantity -= quantity
            position.sold_today = True
            account.cash[order.currency] += gross - fee
        order.filled += quantity
        order.amount += gross
        self._emit("filled", order, quantity, price)

    def _release(self, order: SimOrder, quantity: Decimal) -> None:
        """Free what ``quantity`` of ``order`` held; call after moving it out of ``remaining``."""
        account = self.accounts[order.account]
        if order.side == "buy":
            left = order.remaining
            share = order.reserved if left <= 0 else order.reserved * quantity / (left + quantity)
            account.reserved[order.currency] -= share
            order.reserved -= share
        else:
            account.positions[(order.market, order.ticker)].reserved -= quantity
            order.reserved -= quantity
