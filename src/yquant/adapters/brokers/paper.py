"""Paper broker: a venue simulation with its own ledger, peer of the KIS adapter.

It keeps cash per currency and positions per account in its own SQLite file (the "broker side"
of the world, separate from yQuant's database) and knows orders by their client order id (a
repeated submit is answered with the existing order, never placed twice). Its rules (README,
"The paper venue", and docs/paper.md):

- Prices: the venue's current price of an instrument is the newest it knows of: the quote port's
  mark (`Prices`: a KIS quotation, the latest alert price, the catalog's base price), the
  reference price an order carries (as of the order's creation) or a price handed to
  `observe_price`. A mark taken from a fill is not used: on a paper account that is the venue's
  own fill, and its slippage would feed back into the next price.
- Fills: a market order fills at once at the current price moved ``slippage_bps`` against the
  trader (a buy higher, a sell lower), then onto the tick grid against the trader too (any
  slippage costs at least one tick); with no current price it is rejected (``no_price``). A
  limit order fills when the current price reaches it (a buy at or below its limit, a sell at
  or above) at that slipped price, never beyond the limit; until then it rests, checked on every
  new price the venue sees and by `run` every ``check_interval_s``, which asks the quote port for
  each instrument with working orders. With ``partial_fill_ratio`` below 1 a crossed limit fills
  at most that share of its quantity per check (whole shares, at least one), the rest working
  (``partially_filled``). Commission: ``commission_rate`` of each fill's amount, KRW cut to the
  won, USD rounded to the cent.
- Expiry: every order is a day order. On an account that follows the exchange sessions
  (``sessions = "exchange"``) it expires at the close of its session (placed outside one: at the
  close of the next); on an account that trades at any hour (``"always"``, the paper default) at
  the end of its market's local day (midnight in Seoul, in New York). An expired order releases
  what it reserved. Checked at every call and by `run`.
- Changes the venue makes by itself (fills from a new price or from the timer, expiries) are
  reported to the `on_change` listeners with the client order id, so the gateway asks at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar

from yquant.adapters.clock import SystemClock
from yquant.batching import Batcher, settle
from yquant.domain import market_rules
from yquant.domain.model import (
    CURRENCY,
    BrokerOrder,
    Fill,
    Market,
    Order,
    OrderStatus,
    OrderType,
    Side,
)
from yquant.domain.reasons import ReasonCode
from yquant.errors import RejectedError, RetryableError, SignalRejectedError
from yquant.ports import Clock, FxRate, Holding, Mark, Prices, PriceSource, Quote

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

Sessions = Literal["exchange", "always"]

_MINOR_UNIT = {"KRW": Decimal(1), "USD": Decimal("0.01")}
# The venue of an order whose exchange is missing (a ledger written before it was kept) or not
# one the calendars know: its market's main exchange.
_DEFAULT_EXCHANGE = {Market.KR: "KRX", Market.US: "NYSE"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cash (
    account TEXT NOT NULL, currency TEXT NOT NULL,
    balance TEXT NOT NULL, reserved TEXT NOT NULL DEFAULT '0',
    PRIMARY KEY (account, currency));
CREATE TABLE IF NOT EXISTS positions (
    account TEXT NOT NULL, ticker TEXT NOT NULL, market TEXT NOT NULL,
    quantity TEXT NOT NULL, reserved TEXT NOT NULL DEFAULT '0', avg_price TEXT NOT NULL,
    PRIMARY KEY (account, market, ticker));
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY, broker_order_id TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL, ticker TEXT NOT NULL, market TEXT NOT NULL, side TEXT NOT NULL,
    order_type TEXT NOT NULL, quantity TEXT NOT NULL, limit_price TEXT,
    status TEXT NOT NULL, filled_quantity TEXT NOT NULL DEFAULT '0', avg_fill_price TEXT,
    reserved TEXT NOT NULL DEFAULT '0', reason TEXT, created_at TEXT NOT NULL,
    exchange TEXT, expires_at TEXT);
CREATE INDEX IF NOT EXISTS orders_open ON orders (market, ticker, status);
CREATE TABLE IF NOT EXISTS fills (
    fill_id TEXT PRIMARY KEY, client_order_id TEXT NOT NULL, quantity TEXT NOT NULL,
    price TEXT NOT NULL, commission TEXT NOT NULL, filled_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS fills_order ON fills (client_order_id);
CREATE TABLE IF NOT EXISTS prices (
    market TEXT NOT NULL, ticker TEXT NOT NULL, price TEXT NOT NULL, seen_at TEXT NOT NULL,
    PRIMARY KEY (market, ticker));
"""
# Columns added since the first ledgers were written: an older file gets them at connect.
_ADDED_COLUMNS = (("orders", "exchange", "TEXT"), ("orders", "expires_at", "TEXT"))
_INDEX = "CREATE INDEX IF NOT EXISTS orders_expiry ON orders (status, expires_at)"

_OPEN = (OrderStatus.ACCEPTED.value, OrderStatus.PARTIALLY_FILLED.value)
# How long a submit waits for the quote port (a database away, a slow quotation): the venue's
# own prices and the order's reference price stand in after that.
_MARK_WAIT_S = 0.5


class PaperBroker:
    def __init__(
        self,
        path: Path,
        *,
        commission_rate: Decimal,
        initial_cash: dict[str, Decimal],
        slippage_bps: Decimal = Decimal(0),
        partial_fill_ratio: Decimal = Decimal(1),
        check_interval_s: float = 1.0,
        prices: Prices | None = None,
        clock: Clock | None = None,
        sessions: Mapping[str, Sessions] | None = None,
        calendar_overrides: Mapping[str, market_rules.CalendarOverrides] | None = None,
    ) -> None:
        """``sessions``: per account, whether its orders live until the exchange's close
        (``exchange``) or until the end of the market's local day (``always``, the default for
        an account not named)."""
        if slippage_bps < 0:
            raise ValueError("slippage_bps must not be negative")
        if not Decimal(0) < partial_fill_ratio <= 1:
            raise ValueError("partial_fill_ratio must be above 0 and at most 1")
        if check_interval_s <= 0:
            raise ValueError("check_interval_s must be positive")
        self._path = path
        self._rate = commission_rate
        self._initial_cash = dict(initial_cash)
        self._slippage = slippage_bps / Decimal(10_000)
        self._ratio = partial_fill_ratio
        self._interval = check_interval_s
        self._prices = prices
        self._clock: Clock = clock or SystemClock()
        self._sessions = dict(sessions or {})
        self._overrides = dict(calendar_overrides or {})
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._commits = _GroupCommit(self)
        self._listeners: list[Callable[[str], None]] = []

    def use_prices(self, prices: Prices | None) -> None:
        """Take current prices from ``prices`` (the quote port) from now on."""
        self._prices = prices

    # ---- lifecycle ---------------------------------------------------------------------------

    async def connect(self) -> None:
        if self._db is not None:
            return
        self._db = await asyncio.to_thread(self._open)
        # Working orders of a ledger written before orders expired get their expiry now.
        rows = await asyncio.to_thread(
            self._query,
            "SELECT client_order_id, account, market, COALESCE(exchange, ''), created_at"
            " FROM orders WHERE expires_at IS NULL AND status IN (?, ?)",
            _OPEN,
        )
        if rows:
            due = {
                cid: _stamp(
                    await asyncio.to_thread(
                        self._expiry, account, Market(m), exchange, datetime.fromisoformat(at)
                    )
                )
                for cid, account, m, exchange, at in rows
            }
            await self._call(None, self._set_expiries, due)

    def _open(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(_SCHEMA)
        # Under a write lock: the engine and the gateway open the same file as they start.
        db.execute("BEGIN IMMEDIATE")
        try:
            for table, column, kind in _ADDED_COLUMNS:
                if column not in {r[1] for r in db.execute(f"PRAGMA table_info({table})")}:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            db.execute(_INDEX)
        except BaseException:
            db.execute("ROLLBACK")
            db.close()
            raise
        db.execute("COMMIT")
        return db

    async def close(self) -> None:
        await self._commits.close(timeout_s=5.0)  # the calls under way are answered first
        if self._db is not None:
            self._db.close()
            self._db = None

    # ---- the Broker port -------------------------------------------------------------------

    async def submit(
        self, order: Order, *, queued: Callable[[], None] | None = None
    ) -> BrokerOrder:
        """``queued`` is called once the order is in the ledger's queue, whose calls run in
        the order they were queued: an order submitted after that cannot overtake it."""
        mark = await self._mark(order.market, order.exchange, order.ticker, wait_s=_MARK_WAIT_S)
        when = (order.account, order.market, order.exchange, self._clock.now())
        if self._sessions.get(order.account) == "exchange":
            # A calendar's first reading takes seconds: not on the event loop.
            expires_at = await asyncio.to_thread(self._expiry, *when)
        else:
            expires_at = self._expiry(*when)
        answer, changed = self._queue(self._submit, order, mark, expires_at)
        if queued is not None:
            queued()
        result: BrokerOrder = await self._answered(order.client_order_id, answer, changed)
        return result

    async def get_order(self, order: Order) -> BrokerOrder | None:
        return await self._call(order.client_order_id, self._get, order.client_order_id)

    async def cancel(self, order: Order) -> BrokerOrder:
        return await self._call(order.client_order_id, self._cancel, order.client_order_id)

    async def modify(
        self, order: Order, price: Decimal | None = None, quantity: Decimal | None = None
    ) -> BrokerOrder:
        """A resting order gets a new limit ``price`` and/or a new total ``quantity`` (not below
        what is filled). Refused (the order's state returned unchanged) when it is final, when
        the new quantity is below what is filled, or when a buy's new reservation does not fit
        the cash."""
        return await self._call(order.client_order_id, self._modify, order, price, quantity)

    async def holdings(self, account: str) -> list[Holding]:
        def read(db: sqlite3.Connection, changed: list[str]) -> list[Holding]:
            rows = db.execute(
                "SELECT ticker, market, quantity, avg_price FROM positions WHERE account = ?",
                (account,),
            ).fetchall()
            return [
                Holding(account, t, Market(m), Decimal(q), Decimal(p))
                for t, m, q, p in rows
                if Decimal(q) != 0
            ]

        return await self._call(None, read)

    async def cash(self, account: str) -> dict[str, Decimal]:
        def read(db: sqlite3.Connection, changed: list[str]) -> dict[str, Decimal]:
            self._ensure_account(db, account)
            rows = db.execute(
                "SELECT currency, balance, reserved FROM cash WHERE account = ?", (account,)
            ).fetchall()
            # What new orders can spend: working buys hold their part of the balance.
            return {c: Decimal(b) - Decimal(r) for c, b, r in rows}

        return await self._call(None, read)

    def on_change(self, listener: Callable[[str], None]) -> None:
        """``listener(client_order_id)`` is called when an order moves by the venue's own doing
        (a fill from a new price or from the timer, an expiry), never for the order a call was
        about (its caller has the answer)."""
        self._listeners.append(listener)

    def for_account(self, account: str) -> PaperBroker:
        """This broker: the paper ledger serves every paper account."""
        return self

    def halted(self) -> dict[str, str]:
        return {}  # the paper ledger has nothing to be misconfigured at

    async def token_expires_at(self) -> datetime | None:
        return None  # the paper ledger needs no token

    async def fx_rate(self, account: str) -> FxRate | None:
        return None  # the paper ledger converts nothing: the configured fx.usdkrw stands in

    async def quote(self, market: Market, exchange: str, ticker: str) -> Quote | None:
        """The last price this venue saw for the instrument."""
        row = await asyncio.to_thread(
            self._query,
            "SELECT price FROM prices WHERE market = ? AND ticker = ?",
            (market.value, ticker),
        )
        return Quote(price=Decimal(row[0][0])) if row else None

    # ---- the venue's own motion ----------------------------------------------------------------

    async def observe_price(
        self, market: Market, ticker: str, price: Decimal, at: datetime | None = None
    ) -> list[str]:
        """A market price seen at ``at`` (now by default); kept when no newer one is known, and
        then every working order on the instrument is checked against it. Returns the client
        order ids that it filled (in part or in whole)."""
        when = at or self._clock.now()

        def observe(db: sqlite3.Connection, changed: list[str]) -> list[str]:
            if not self._see(db, market, ticker, price, when):
                return []
            filled = self._check_resting(db, market, ticker, self._clock.now())
            changed.extend(filled)
            return filled

        return await self._call(None, observe)

    async def check(self) -> list[str]:
        """One pass of the timer: expire what is due, ask the quote port for the current price
        of every instrument with working orders, and check those orders against it. Returns the
        client order ids that moved."""
        working = await asyncio.to_thread(
            self._query,
            "SELECT market, ticker, MAX(COALESCE(exchange, '')) FROM orders"
            " WHERE status IN (?, ?) GROUP BY market, ticker",
            _OPEN,
        )
        marks: dict[tuple[Market, str], Mark] = {}
        for market_s, ticker, exchange in working:
            market = Market(market_s)
            mark = await self._mark(market, exchange or _DEFAULT_EXCHANGE[market], ticker)
            if mark is not None:
                marks[(market, ticker)] = mark
        return await self._call(None, self._check, marks)

    async def run(self, stop: asyncio.Event) -> None:
        """The venue's timer: `check` every ``check_interval_s`` until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.check()
            except RetryableError as exc:
                logger.warning("paper venue check skipped: %s", exc)
            except Exception:
                logger.exception("paper venue check failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)

    async def _mark(
        self, market: Market, exchange: str, ticker: str, wait_s: float | None = None
    ) -> Mark | None:
        """The quote port's current price, if it answers within ``wait_s``."""
        if self._prices is None:
            return None
        try:
            async with asyncio.timeout(wait_s):
                mark = await self._prices.mark(market, exchange, ticker)
        except TimeoutError:
            logger.warning("no current price for %s:%s within %g s", exchange, ticker, wait_s)
            return None
        except (RetryableError, RejectedError) as exc:
            logger.warning("no current price for %s:%s: %s", exchange, ticker, exc)
            return None
        if mark is None or mark.source is PriceSource.FILL:
            return None
        return mark

    def _expiry(self, account: str, market: Market, exchange: str, placed_at: datetime) -> datetime:
        """When a day order placed at ``placed_at`` stops working (see the module's text)."""
        venue = _venue(exchange, market)
        local_day = placed_at.astimezone(venue.tz).date()
        end_of_day = datetime.combine(local_day + timedelta(days=1), time(0), venue.tz)
        if self._sessions.get(account, "always") != "exchange":
            return end_of_day.astimezone(UTC)
        calendar = market_rules.calendar_for(venue, self._overrides)
        state = calendar.state(placed_at)
        if state.closes_at is not None:
            return state.closes_at
        if state.next_open_at is not None:
            session = calendar.session(state.next_open_at.astimezone(venue.tz).date())
            if session is not None:
                return session.close_at
        return end_of_day.astimezone(UTC)  # past the calendar's reach

    # ---- transactions --------------------------------------------------------------------------

    async def _call(
        self,
        own: str | None,
        fn: Callable[Concatenate[sqlite3.Connection, list[str], P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``fn`` in one transaction after the expiry sweep; then the listeners hear of every
        order that moved on its own (``own``, the order the call is about, excepted)."""
        answer, changed = self._queue(fn, *args, **kwargs)
        result: T = await self._answered(own, answer, changed)
        return result

    def _queue(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, list[str], P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> tuple[asyncio.Future[object], list[str]]:
        """``fn`` queued for the next transaction: calls run in the order they were queued."""
        changed: list[str] = []
        answer: asyncio.Future[object] = asyncio.get_running_loop().create_future()

        def work(db: sqlite3.Connection) -> object:
            return fn(db, changed, *args, **kwargs)

        self._commits.put((work, changed, answer))
        return answer, changed

    async def _answered(
        self, own: str | None, answer: asyncio.Future[object], changed: list[str]
    ) -> Any:
        result = await answer
        self._notify(cid for cid in changed if cid != own)
        return result

    def _notify(self, cids: Iterable[str]) -> None:
        for cid in dict.fromkeys(cids):
            for listener in self._listeners:
                listener(cid)

    def _tx_many(self, batch: list[_Work]) -> list[tuple[bool, object]]:
        """The calls of ``batch`` in one transaction (one fsync), each in a savepoint of its
        own: one that raises is undone alone. (ok, result or exception) per call."""
        assert self._db is not None, "PaperBroker.connect() was not called"
        out: list[tuple[bool, object]] = []
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                batch[0][1].extend(self._expire_due(db, self._clock.now()))
                for work, changed, _ in batch:
                    mark = len(changed)
                    db.execute("SAVEPOINT call")
                    try:
                        out.append((True, work(db)))
                    except Exception as exc:  # noqa: BLE001 - the caller's, raised there
                        db.execute("ROLLBACK TO call")
                        del changed[mark:]
                        out.append((False, exc))
                    db.execute("RELEASE call")
            except BaseException:
                db.execute("ROLLBACK")
                for _, changed, _ in batch:
                    changed.clear()
                raise
            db.execute("COMMIT")
        return out

    def _query(self, sql: str, params: tuple[object, ...]) -> list[tuple[str, ...]]:
        assert self._db is not None, "PaperBroker.connect() was not called"
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # ---- internals (each runs inside one IMMEDIATE transaction) ----------------------------------

    def _get(self, db: sqlite3.Connection, changed: list[str], cid: str) -> BrokerOrder | None:
        return self._load(db, cid)

    def _submit(
        self,
        db: sqlite3.Connection,
        changed: list[str],
        order: Order,
        mark: Mark | None,
        expires_at: datetime,
    ) -> BrokerOrder:
        cid = order.client_order_id
        existing = self._load(db, cid)
        if existing is not None:
            return existing
        self._ensure_account(db, order.account)
        now = self._clock.now()
        # New prices first reach the orders already working on this instrument.
        seen = False
        if order.reference_price is not None:
            seen = self._see(
                db, order.market, order.ticker, order.reference_price, order.created_at
            )
        if mark is not None:
            seen = self._see(db, order.market, order.ticker, mark.price, mark.at) or seen
        if seen:
            changed.extend(self._check_resting(db, order.market, order.ticker, now))
        current = self._price(db, order.market, order.ticker)
        reason, reserve = self._admit(db, order, current)
        self._insert(db, order, reason, reserve, now, expires_at)
        if reason is None:
            if order.side is Side.BUY:
                self._add_cash_reserved(db, order.account, order.currency, reserve)
            else:
                self._add_position_reserved(db, order.account, order.market, order.ticker, reserve)
            if current is not None:
                self._try_fill(db, cid, current, now)
        result = self._load(db, cid)
        assert result is not None
        return result

    def _admit(
        self, db: sqlite3.Connection, order: Order, current: Decimal | None
    ) -> tuple[ReasonCode | None, Decimal]:
        """Why ``order`` is refused (None: it is taken), and what it reserves if taken: the
        cash of a buy (at its limit, or at the price a market buy fills at, with commission),
        the shares of a sell."""
        if order.quantity <= 0:
            return ReasonCode.BAD_QUANTITY, Decimal(0)
        if order.order_type is OrderType.LIMIT and (
            order.limit_price is None or order.limit_price <= 0
        ):
            return ReasonCode.BAD_PRICE, Decimal(0)
        if order.order_type is OrderType.MARKET and current is None:
            return ReasonCode.NO_PRICE, Decimal(0)
        if order.side is Side.BUY:
            if order.order_type is OrderType.LIMIT:
                basis = order.limit_price
            else:
                assert current is not None
                basis = self._fill_price(order.market, Side.BUY, None, current)
            assert basis is not None
            reserve = self._with_commission(order.quantity * basis, order.currency)
            balance, reserved = self._cash_row(db, order.account, order.currency)
            if balance - reserved < reserve:
                return ReasonCode.INSUFFICIENT_CASH, Decimal(0)
            return None, reserve
        held, held_reserved = self._position_row(db, order.account, order.market, order.ticker)
        if held - held_reserved < order.quantity:
            return ReasonCode.INSUFFICIENT_POSITION, Decimal(0)
        return None, order.quantity

    def _insert(
        self,
        db: sqlite3.Connection,
        order: Order,
        reason: ReasonCode | None,
        reserve: Decimal,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        # The next rowid: O(log n), unlike counting every order the venue ever took.
        last = db.execute("SELECT COALESCE(MAX(rowid), 0) FROM orders").fetchone()[0]
        status = OrderStatus.REJECTED if reason else OrderStatus.ACCEPTED
        db.execute(
            "INSERT INTO orders (client_order_id, broker_order_id, account, ticker, market, side,"
            " order_type, quantity, limit_price, status, reserved, reason, created_at, exchange,"
            " expires_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                order.client_order_id,
                f"P{last + 1:010d}",
                order.account,
                order.ticker,
                order.market.value,
                order.side.value,
                order.order_type.value,
                str(order.quantity),
                None if order.limit_price is None else str(order.limit_price),
                status.value,
                str(reserve),
                reason,
                now.isoformat(),
                order.exchange,
                _stamp(expires_at),
            ),
        )

    def _check(
        self, db: sqlite3.Connection, changed: list[str], marks: dict[tuple[Market, str], Mark]
    ) -> list[str]:
        now = self._clock.now()
        instruments = db.execute(
            "SELECT DISTINCT market, ticker FROM orders WHERE status IN (?, ?)", _OPEN
        ).fetchall()
        for market_s, ticker in instruments:
            market = Market(market_s)
            mark = marks.get((market, ticker))
            if mark is not None:
                self._see(db, market, ticker, mark.price, mark.at)
            changed.extend(self._check_resting(db, market, ticker, now))
        return list(dict.fromkeys(changed))

    def _check_resting(
        self, db: sqlite3.Connection, market: Market, ticker: str, now: datetime
    ) -> list[str]:
        """Every working order on the instrument checked against its current price, oldest
        first; returns those that filled (in part or in whole)."""
        current = self._price(db, market, ticker)
        if current is None:
            return []
        working = [
            r[0]
            for r in db.execute(
                "SELECT client_order_id FROM orders WHERE market = ? AND ticker = ?"
                " AND status IN (?, ?) ORDER BY broker_order_id",
                (market.value, ticker, *_OPEN),
            )
        ]
        return [cid for cid in working if self._try_fill(db, cid, current, now)]

    def _try_fill(self, db: sqlite3.Connection, cid: str, current: Decimal, now: datetime) -> bool:
        """One check of one working order at the current price: a fill (of the whole rest, or
        of one slice of a limit when partial fills are on) if the price reaches it."""
        row = db.execute(
            "SELECT account, ticker, market, side, order_type, quantity, limit_price,"
            " filled_quantity, reserved, avg_fill_price FROM orders WHERE client_order_id = ?",
            (cid,),
        ).fetchone()
        account, ticker, market_s, side_s, type_s, qty_s, limit_s, filled_s, reserved_s, avg_s = row
        side, market = Side(side_s), Market(market_s)
        quantity, filled = Decimal(qty_s), Decimal(filled_s)
        limit = Decimal(limit_s) if limit_s else None
        remaining = quantity - filled
        if remaining <= 0:
            return False
        if limit is not None and not (current <= limit if side is Side.BUY else current >= limit):
            return False
        take = remaining if OrderType(type_s) is OrderType.MARKET else self._slice(quantity)
        take = min(take, remaining)
        left = remaining - take
        price = self._fill_price(market, side, limit, current)
        currency = CURRENCY[market]
        gross = take * price
        commission = self._commission(gross, currency)
        # What the order still holds afterwards: a buy's rest at its limit, a sell's shares.
        if side is Side.SELL:
            keep = left
        elif left > 0 and limit is not None:
            keep = self._with_commission(left * limit, currency)
        else:
            keep = Decimal(0)
        self._book(db, account, market, ticker, side, take, gross, commission)
        release = Decimal(reserved_s) - keep
        if side is Side.BUY:
            self._add_cash_reserved(db, account, currency, -release)
        else:
            self._add_position_reserved(db, account, market, ticker, -release)
        seq = db.execute("SELECT COUNT(*) FROM fills WHERE client_order_id = ?", (cid,)).fetchone()
        db.execute(
            "INSERT INTO fills (fill_id, client_order_id, quantity, price, commission, filled_at)"
            " VALUES (?,?,?,?,?,?)",
            (f"{cid}:{seq[0] + 1}", cid, str(take), str(price), str(commission), now.isoformat()),
        )
        total = filled + take
        before = filled * Decimal(avg_s) if avg_s else Decimal(0)
        db.execute(
            "UPDATE orders SET status = ?, filled_quantity = ?, avg_fill_price = ?, reserved = ?"
            " WHERE client_order_id = ?",
            (
                (OrderStatus.PARTIALLY_FILLED if left > 0 else OrderStatus.FILLED).value,
                str(total),
                str((before + gross) / total),
                str(keep),
                cid,
            ),
        )
        return True

    def _book(
        self,
        db: sqlite3.Connection,
        account: str,
        market: Market,
        ticker: str,
        side: Side,
        quantity: Decimal,
        gross: Decimal,
        commission: Decimal,
    ) -> None:
        """A fill's cash and shares (the reservations are the caller's)."""
        currency = CURRENCY[market]
        balance, _reserved = self._cash_row(db, account, currency)
        held, held_reserved = self._position_row(db, account, market, ticker)
        avg = self._avg_price(db, account, market, ticker)
        if side is Side.BUY:
            balance -= gross + commission
            new_held = held + quantity
            new_avg = (held * avg + gross) / new_held
        else:
            balance += gross - commission
            new_held = held - quantity
            new_avg = avg if new_held else Decimal(0)
        db.execute(
            "UPDATE cash SET balance = ? WHERE account = ? AND currency = ?",
            (str(balance), account, currency),
        )
        db.execute(
            "INSERT INTO positions (account, ticker, market, quantity, reserved, avg_price)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT (account, market, ticker) DO UPDATE SET"
            " quantity = excluded.quantity, avg_price = excluded.avg_price",
            (
                account,
                ticker,
                market.value,
                str(new_held),
                str(held_reserved),
                str(new_avg.quantize(Decimal("0.00000001"))),
            ),
        )

    def _slice(self, quantity: Decimal) -> Decimal:
        """How much of a crossed limit of ``quantity`` fills in one check."""
        if self._ratio >= 1:
            return quantity
        step = (quantity * self._ratio).to_integral_value(rounding=ROUND_FLOOR)
        return max(step, Decimal(1))

    def _fill_price(
        self, market: Market, side: Side, limit: Decimal | None, current: Decimal
    ) -> Decimal:
        """The price an order fills at when the current price is ``current``: slipped against
        the trader, never beyond its limit."""
        price = self._slipped(market, side, current)
        if limit is None:
            return price
        return min(price, limit) if side is Side.BUY else max(price, limit)

    def _slipped(self, market: Market, side: Side, current: Decimal) -> Decimal:
        if self._slippage == 0:
            return current
        moved = current * (1 + self._slippage if side is Side.BUY else 1 - self._slippage)
        # round_to_tick moves a buy down and a sell up (the safe direction for a limit the
        # trader gives); slippage goes the other way, so each side takes the other's rounding.
        against = Side.SELL if side is Side.BUY else Side.BUY
        try:
            return market_rules.round_to_tick(market.value, moved, against)
        except (SignalRejectedError, ValueError):
            return current  # below the smallest tick: nowhere lower to go

    def _cancel(self, db: sqlite3.Connection, changed: list[str], cid: str) -> BrokerOrder:
        current = self._load(db, cid)
        if current is None:
            return BrokerOrder.rejected(cid, ReasonCode.NOT_FOUND)
        if current.status.is_final:
            return current
        self._close(db, cid, OrderStatus.CANCELLED)
        result = self._load(db, cid)
        assert result is not None
        return result

    def _expire_due(self, db: sqlite3.Connection, now: datetime) -> list[str]:
        due = [
            r[0]
            for r in db.execute(
                "SELECT client_order_id FROM orders WHERE status IN (?, ?) AND expires_at <= ?"
                " ORDER BY broker_order_id",
                (*_OPEN, _stamp(now)),
            )
        ]
        for cid in due:
            self._close(db, cid, OrderStatus.EXPIRED)
        if due:
            logger.info("paper orders expired: %s", ", ".join(due))
        return due

    def _close(self, db: sqlite3.Connection, cid: str, status: OrderStatus) -> None:
        """A working order ends unfilled (in what is left): what it reserved is released."""
        account, ticker, market_s, side_s, reserved_s = db.execute(
            "SELECT account, ticker, market, side, reserved FROM orders WHERE client_order_id = ?",
            (cid,),
        ).fetchone()
        market, reserved = Market(market_s), Decimal(reserved_s)
        if Side(side_s) is Side.BUY:
            self._add_cash_reserved(db, account, CURRENCY[market], -reserved)
        else:
            self._add_position_reserved(db, account, market, ticker, -reserved)
        db.execute(
            "UPDATE orders SET status = ?, reserved = '0' WHERE client_order_id = ?",
            (status.value, cid),
        )

    def _set_expiries(
        self, db: sqlite3.Connection, changed: list[str], due: dict[str, str]
    ) -> None:
        for cid, stamp in due.items():
            db.execute(
                "UPDATE orders SET expires_at = ? WHERE client_order_id = ? AND expires_at IS NULL",
                (stamp, cid),
            )
        changed.extend(self._expire_due(db, self._clock.now()))

    def _modify(
        self,
        db: sqlite3.Connection,
        changed: list[str],
        order: Order,
        price: Decimal | None,
        quantity: Decimal | None,
    ) -> BrokerOrder:
        cid = order.client_order_id
        current = self._load(db, cid)
        if current is None:
            return BrokerOrder.rejected(cid, ReasonCode.NOT_FOUND)
        if current.status.is_final or (price is None and quantity is None):
            return current
        account, ticker, market_s, side_s, type_s, qty_s, limit_s, filled_s, reserved_s = (
            db.execute(
                "SELECT account, ticker, market, side, order_type, quantity, limit_price,"
                " filled_quantity, reserved FROM orders WHERE client_order_id = ?",
                (cid,),
            ).fetchone()
        )
        market, side = Market(market_s), Side(side_s)
        new_qty = Decimal(qty_s) if quantity is None else quantity
        if new_qty <= Decimal(filled_s) or new_qty > Decimal(qty_s):
            return current  # as at KIS: never above the original, never below what is filled
        new_limit = price if price is not None else (Decimal(limit_s) if limit_s else None)
        new_type = OrderType.LIMIT if new_limit is not None else OrderType(type_s)
        currency = CURRENCY[market]
        old_reserve = Decimal(reserved_s)
        left = new_qty - Decimal(filled_s)
        last = self._price(db, market, ticker)
        if side is Side.BUY:
            basis = new_limit if new_limit is not None else last
            if basis is None:
                return current
            reserve = self._with_commission(left * basis, currency)
            balance, cash_reserved = self._cash_row(db, account, currency)
            if balance - (cash_reserved - old_reserve) < reserve:
                return current
            self._add_cash_reserved(db, account, currency, reserve - old_reserve)
        else:
            reserve = left
            self._add_position_reserved(db, account, market, ticker, reserve - old_reserve)
        db.execute(
            "UPDATE orders SET order_type = ?, quantity = ?, limit_price = ?, reserved = ?"
            " WHERE client_order_id = ?",
            (
                new_type.value,
                str(new_qty),
                None if new_limit is None else str(new_limit),
                str(reserve),
                cid,
            ),
        )
        if last is not None:
            self._try_fill(db, cid, last, self._clock.now())
        result = self._load(db, cid)
        assert result is not None
        return result

    def _load(self, db: sqlite3.Connection, cid: str) -> BrokerOrder | None:
        row = db.execute(
            "SELECT broker_order_id, account, ticker, market, side, status, filled_quantity,"
            " avg_fill_price, reason FROM orders WHERE client_order_id = ?",
            (cid,),
        ).fetchone()
        if row is None:
            return None
        broker_id, account, ticker, market_s, side_s, status, filled, avg, reason = row
        currency = CURRENCY[Market(market_s)]
        fills = tuple(
            Fill(
                fill_id=fid,
                client_order_id=cid,
                account=account,
                ticker=ticker,
                side=Side(side_s),
                quantity=Decimal(q),
                price=Decimal(p),
                commission=Decimal(c),
                currency=currency,
                filled_at=datetime.fromisoformat(at),
            )
            for fid, q, p, c, at in db.execute(
                "SELECT fill_id, quantity, price, commission, filled_at FROM fills"
                " WHERE client_order_id = ? ORDER BY rowid",
                (cid,),
            )
        )
        return BrokerOrder(
            client_order_id=cid,
            status=OrderStatus(status),
            filled_quantity=Decimal(filled),
            avg_fill_price=Decimal(avg) if avg else None,
            broker_order_id=broker_id,
            reason=reason,
            fills=fills,
        )

    def _ensure_account(self, db: sqlite3.Connection, account: str) -> None:
        for currency, amount in self._initial_cash.items():
            db.execute(
                "INSERT OR IGNORE INTO cash (account, currency, balance) VALUES (?,?,?)",
                (account, currency, str(amount)),
            )

    def _cash_row(
        self, db: sqlite3.Connection, account: str, currency: str
    ) -> tuple[Decimal, Decimal]:
        row = db.execute(
            "SELECT balance, reserved FROM cash WHERE account = ? AND currency = ?",
            (account, currency),
        ).fetchone()
        return (Decimal(row[0]), Decimal(row[1])) if row else (Decimal(0), Decimal(0))

    def _position_row(
        self, db: sqlite3.Connection, account: str, market: Market, ticker: str
    ) -> tuple[Decimal, Decimal]:
        row = db.execute(
            "SELECT quantity, reserved FROM positions WHERE account = ? AND market = ?"
            " AND ticker = ?",
            (account, market.value, ticker),
        ).fetchone()
        return (Decimal(row[0]), Decimal(row[1])) if row else (Decimal(0), Decimal(0))

    def _add_cash_reserved(
        self, db: sqlite3.Connection, account: str, currency: str, delta: Decimal
    ) -> None:
        _balance, reserved = self._cash_row(db, account, currency)
        db.execute(
            "UPDATE cash SET reserved = ? WHERE account = ? AND currency = ?",
            (str(max(reserved + delta, Decimal(0))), account, currency),
        )

    def _add_position_reserved(
        self, db: sqlite3.Connection, account: str, market: Market, ticker: str, delta: Decimal
    ) -> None:
        _held, reserved = self._position_row(db, account, market, ticker)
        db.execute(
            "UPDATE positions SET reserved = ? WHERE account = ? AND market = ? AND ticker = ?",
            (str(max(reserved + delta, Decimal(0))), account, market.value, ticker),
        )

    def _avg_price(
        self, db: sqlite3.Connection, account: str, market: Market, ticker: str
    ) -> Decimal:
        row = db.execute(
            "SELECT avg_price FROM positions WHERE account = ? AND market = ? AND ticker = ?",
            (account, market.value, ticker),
        ).fetchone()
        return Decimal(row[0]) if row else Decimal(0)

    def _price(self, db: sqlite3.Connection, market: Market, ticker: str) -> Decimal | None:
        row = db.execute(
            "SELECT price FROM prices WHERE market = ? AND ticker = ?", (market.value, ticker)
        ).fetchone()
        return Decimal(row[0]) if row else None

    def _see(
        self, db: sqlite3.Connection, market: Market, ticker: str, price: Decimal, at: datetime
    ) -> bool:
        """Keep ``price`` (seen at ``at``) as the current price unless a newer one is known;
        True when kept."""
        row = db.execute(
            "SELECT seen_at FROM prices WHERE market = ? AND ticker = ?", (market.value, ticker)
        ).fetchone()
        if row is not None and datetime.fromisoformat(row[0]) > at:
            return False
        db.execute(
            "INSERT INTO prices (market, ticker, price, seen_at) VALUES (?,?,?,?)"
            " ON CONFLICT (market, ticker) DO UPDATE SET price = excluded.price,"
            " seen_at = excluded.seen_at",
            (market.value, ticker, str(price), _stamp(at)),
        )
        return True

    def _commission(self, gross: Decimal, currency: str) -> Decimal:
        unit = _MINOR_UNIT.get(currency, Decimal("0.01"))
        # KRW commissions are cut to the won; USD rounded to the cent.
        rounding = ROUND_DOWN if currency == "KRW" else ROUND_HALF_UP
        return (gross * self._rate).quantize(unit, rounding=rounding)

    def _with_commission(self, gross: Decimal, currency: str) -> Decimal:
        return gross + self._commission(gross, currency)


def _venue(exchange: str, market: Market) -> market_rules.Venue:
    try:
        return market_rules.venue_for(exchange or _DEFAULT_EXCHANGE[market])
    except SignalRejectedError:
        return market_rules.venue_for(_DEFAULT_EXCHANGE[market])


def _stamp(at: datetime) -> str:
    """A time as the ledger stores the times it compares: UTC, to the microsecond."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


_Work = tuple[
    Callable[[sqlite3.Connection], object], list[str], "asyncio.Future[object]"
]  # a call's transaction work, the orders it moved, its answer


class _GroupCommit(Batcher[_Work]):
    """The paper ledger's calls that come while a transaction is being committed share the
    next one: a burst of orders costs one fsync per batch, not one per order (at 5 ms an fsync
    on a loaded machine, one per order held the gateway to about 200 orders/s)."""

    def __init__(self, broker: PaperBroker) -> None:
        super().__init__(256, "paper-ledger")
        self._broker = broker

    async def handle(self, batch: list[_Work]) -> None:
        try:
            results = await asyncio.to_thread(self._broker._tx_many, batch)  # noqa: SLF001
        except Exception as exc:  # noqa: BLE001 - every caller's, raised there
            settle((answer for _, _, answer in batch), exc)
            return
        for (_, _, answer), (ok, value) in zip(batch, results, strict=True):
            if answer.done():
                continue
            if ok:
                answer.set_result(value)
            else:
                assert isinstance(value, BaseException)
                answer.set_exception(value)
