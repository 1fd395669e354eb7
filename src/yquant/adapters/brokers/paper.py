"""Paper broker: a real venue simulation with its own ledger, peer of the KIS adapter.

It keeps cash per currency and positions per account in its own SQLite file (the "broker side"
of the world, separate from yQuant's database), knows orders by their client order id (so a
repeated submit is answered with the existing order, never placed twice), fills market orders at
the order's reference price or the last price it saw, rests limit orders until a later price
crosses them, and charges a configurable commission.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path

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
from yquant.ports import Holding, Quote

_MINOR_UNIT = {"KRW": Decimal(1), "USD": Decimal("0.01")}

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
    reserved TEXT NOT NULL DEFAULT '0', reason TEXT, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS orders_open ON orders (market, ticker, status);
CREATE TABLE IF NOT EXISTS fills (
    fill_id TEXT PRIMARY KEY, client_order_id TEXT NOT NULL, quantity TEXT NOT NULL,
    price TEXT NOT NULL, commission TEXT NOT NULL, filled_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS fills_order ON fills (client_order_id);
CREATE TABLE IF NOT EXISTS prices (
    market TEXT NOT NULL, ticker TEXT NOT NULL, price TEXT NOT NULL, seen_at TEXT NOT NULL,
    PRIMARY KEY (market, ticker));
"""

_OPEN = (OrderStatus.ACCEPTED.value, OrderStatus.PARTIALLY_FILLED.value)


class PaperBroker:
    def __init__(
        self,
        path: Path,
        *,
        commission_rate: Decimal,
        initial_cash: dict[str, Decimal],
    ) -> None:
        self._path = path
        self._rate = commission_rate
        self._initial_cash = dict(initial_cash)
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    # ---- lifecycle ---------------------------------------------------------------------------

    async def connect(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(_SCHEMA)
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # ---- the Broker port -------------------------------------------------------------------

    async def submit(self, order: Order) -> BrokerOrder:
        return await asyncio.to_thread(self._tx, self._submit, order)

    async def get_order(self, order: Order) -> BrokerOrder | None:
        return await asyncio.to_thread(self._tx, self._load, order.client_order_id)

    async def cancel(self, order: Order) -> BrokerOrder:
        return await asyncio.to_thread(self._tx, self._cancel, order)

    async def modify(
        self, order: Order, price: Decimal | None = None, quantity: Decimal | None = None
    ) -> BrokerOrder:
        """A resting order gets a new limit ``price`` and/or a new total ``quantity`` (not below
        what is filled). Refused (the order's state returned unchanged) when it is final, when
        the new quantity is below what is filled, or when a buy's new reservation does not fit
        the cash."""
        return await asyncio.to_thread(self._tx, self._modify, order, price, quantity)

    async def holdings(self, account: str) -> list[Holding]:
        rows = await asyncio.to_thread(
            self._query,
            "SELECT ticker, market, quantity, avg_price FROM positions WHERE account = ?",
            (account,),
        )
        return [
            Holding(account, t, Market(m), Decimal(q), Decimal(p))
            for t, m, q, p in rows
            if Decimal(q) != 0
        ]

    async def cash(self, account: str) -> dict[str, Decimal]:
        def read(db: sqlite3.Connection) -> dict[str, Decimal]:
            self._ensure_account(db, account)
            rows = db.execute(
                "SELECT currency, balance, reserved FROM cash WHERE account = ?", (account,)
            ).fetchall()
            # What new orders can spend: resting buys hold their part of the balance.
            return {c: Decimal(b) - Decimal(r) for c, b, r in rows}

        return await asyncio.to_thread(self._tx, read)

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Nothing to register: paper orders move only when asked (`get_order`)."""
        del listener

    def for_account(self, account: str) -> PaperBroker:
        """This broker: the paper ledger serves every paper account."""
        return self

    async def token_expires_at(self) -> datetime | None:
        return None  # the paper ledger needs no token

    async def quote(self, market: Market, exchange: str, ticker: str) -> Quote | None:
        """The last price this venue saw for the instrument (from orders' reference prices)."""
        row = await asyncio.to_thread(
            self._query,
            "SELECT price FROM prices WHERE market = ? AND ticker = ?",
            (market.value, ticker),
        )
        return Quote(price=Decimal(row[0][0])) if row else None

    async def observe_price(self, market: Market, ticker: str, price: Decimal) -> list[str]:
        """Record a market price; returns the client order ids that it filled."""

        def run(db: sqlite3.Connection) -> list[str]:
            return self._observe(db, market, ticker, price)

        return await asyncio.to_thread(self._tx, run)

    # ---- internals (each runs inside one IMMEDIATE transaction) ----------------------------------

    def _tx(self, fn, *args):  # type: ignore[no-untyped-def]
        assert self._db is not None, "PaperBroker.connect() was not called"
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                result = fn(db, *args)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

    def _query(self, sql: str, params: tuple[object, ...]) -> list[tuple[str, ...]]:
        assert self._db is not None
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _submit(self, db: sqlite3.Connection, order: Order) -> BrokerOrder:
        existing = self._load(db, order.client_order_id)
        if existing is not None:
            return existing
        self._ensure_account(db, order.account)
        now = _now()
        if order.reference_price is not None:
            # A new price first reaches the orders already resting on this ticker.
            self._observe(db, order.market, order.ticker, order.reference_price)
        price = self._price(db, order.market, order.ticker)
        # The next rowid: O(log n), unlike counting every order the venue ever took.
        last = db.execute("SELECT COALESCE(MAX(rowid), 0) FROM orders").fetchone()[0]
        broker_id = f"P{last + 1:010d}"
        currency = CURRENCY[order.market]
        reason: ReasonCode | None = None
        reserve = Decimal(0)

        if order.order_type is OrderType.MARKET and price is None:
            reason = ReasonCode.NO_PRICE
        elif order.side is Side.BUY:
            basis = order.limit_price if order.order_type is OrderType.LIMIT else price
            assert basis is not None
            reserve = self._with_commission(order.quantity * basis, currency)
            balance, reserved = self._cash_row(db, order.account, currency)
            if balance - reserved < reserve:
                reason = ReasonCode.INSUFFICIENT_CASH
        else:
            held, held_reserved = self._position_row(db, order.account, order.market, order.ticker)
            if held - held_reserved < order.quantity:
                reason = ReasonCode.INSUFFICIENT_POSITION
            reserve = order.quantity

        status = OrderStatus.REJECTED if reason else OrderStatus.ACCEPTED
        db.execute(
            "INSERT INTO orders (client_order_id, broker_order_id, account, ticker, market, side,"
            " order_type, quantity, limit_price, status, reserved, reason, created_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                order.client_order_id,
                broker_id,
                order.account,
                order.ticker,
                order.market.value,
                order.side.value,
                order.order_type.value,
                str(order.quantity),
                None if order.limit_price is None else str(order.limit_price),
                status.value,
                str(reserve if not reason else 0),
                reason,
                now.isoformat(),
            ),
        )
        if not reason:
            if order.side is Side.BUY:
                db.execute(
                    "UPDATE cash SET reserved = ? WHERE account = ? AND currency = ?",
                    (
                        str(self._cash_row(db, order.account, currency)[1] + reserve),
                        order.account,
                        currency,
                    ),
                )
            else:
                held, held_reserved = self._position_row(
                    db, order.account, order.market, order.ticker
                )
                db.execute(
                    "UPDATE positions SET reserved = ? WHERE account = ? AND market = ?"
                    " AND ticker = ?",
                    (str(held_reserved + reserve), order.account, order.market.value, order.ticker),
                )
            if price is not None:
                self._try_fill(db, order.client_order_id, price, now)
        result = self._load(db, order.client_order_id)
        assert result is not None
        return result

    def _observe(
        self, db: sqlite3.Connection, market: Market, ticker: str, price: Decimal
    ) -> list[str]:
        now = _now()
        self._set_price(db, market, ticker, price, now)
        open_ids = [
            r[0]
            for r in db.execute(
                "SELECT client_order_id FROM orders WHERE market = ? AND ticker = ?"
                " AND status IN (?, ?) ORDER BY broker_order_id",
                (market.value, ticker, *_OPEN),
            )
        ]
        return [cid for cid in open_ids if self._try_fill(db, cid, price, now)]

    def _try_fill(self, db: sqlite3.Connection, cid: str, price: Decimal, now: datetime) -> bool:
        row = db.execute(
            "SELECT account, ticker, market, side, order_type, quantity, limit_price,"
            " filled_quantity, reserved FROM orders WHERE client_order_id = ?",
            (cid,),
        ).fetchone()
        account, ticker, market_s, side_s, type_s, qty_s, limit_s, filled_s, reserved_s = row
        side, market = Side(side_s), Market(market_s)
        currency = CURRENCY[market]
        quantity = Decimal(qty_s) - Decimal(filled_s)
        fill_price = price
        if OrderType(type_s) is OrderType.LIMIT:
            limit = Decimal(limit_s)
            crosses = price <= limit if side is Side.BUY else price >= limit
            if not crosses:
                return False
        gross = quantity * fill_price
        commission = self._commission(gross, currency)
        balance, cash_reserved = self._cash_row(db, account, currency)
        held, held_reserved = self._position_row(db, account, market, ticker)
        avg = self._avg_price(db, account, market, ticker)
        if side is Side.BUY:
            new_balance = balance - gross - commission
            new_cash_reserved = cash_reserved - Decimal(reserved_s)
            new_held = held + quantity
            new_avg = (held * avg + gross) / new_held
            new_held_reserved = held_reserved
        else:
            new_balance = balance + gross - commission
            new_cash_reserved = cash_reserved
            new_held = held - quantity
            new_avg = avg if new_held else Decimal(0)
            new_held_reserved = held_reserved - Decimal(reserved_s)
        db.execute(
            "UPDATE cash SET balance = ?, reserved = ? WHERE account = ? AND currency = ?",
            (str(new_balance), str(max(new_cash_reserved, Decimal(0))), account, currency),
        )
        db.execute(
            "INSERT INTO positions (account, ticker, market, quantity, reserved, avg_price)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT (account, market, ticker) DO UPDATE SET"
            " quantity = excluded.quantity, reserved = excluded.reserved,"
            " avg_price = excluded.avg_price",
            (
                account,
                ticker,
                market.value,
                str(new_held),
                str(max(new_held_reserved, Decimal(0))),
                str(new_avg.quantize(Decimal("0.00000001"))),
            ),
        )
        seq = db.execute("SELECT COUNT(*) FROM fills WHERE client_order_id = ?", (cid,)).fetchone()
        db.execute(
            "INSERT INTO fills (fill_id, client_order_id, quantity, price, commission, filled_at)"
            " VALUES (?,?,?,?,?,?)",
            (
                f"{cid}:{seq[0] + 1}",
                cid,
                str(quantity),
                str(fill_price),
                str(commission),
                now.isoformat(),
            ),
        )
        total_filled = Decimal(filled_s) + quantity
        prev_avg = db.execute(
            "SELECT avg_fill_price FROM orders WHERE client_order_id = ?", (cid,)
        ).fetchone()[0]
        prev_value = Decimal(filled_s) * Decimal(prev_avg) if prev_avg else Decimal(0)
        db.execute(
            "UPDATE orders SET status = ?, filled_quantity = ?, avg_fill_price = ?, reserved = '0'"
            " WHERE client_order_id = ?",
            (
                OrderStatus.FILLED.value,
                str(total_filled),
                str((prev_value + gross) / total_filled),
                cid,
            ),
        )
        return True

    def _cancel(self, db: sqlite3.Connection, order: Order) -> BrokerOrder:
        current = self._load(db, order.client_order_id)
        if current is None or current.status.is_final:
            return current or BrokerOrder(
                order.client_order_id,
                OrderStatus.REJECTED,
                Decimal(0),
                None,
                reason=ReasonCode.NOT_FOUND,
            )
        reserved = Decimal(
            db.execute(
                "SELECT reserved FROM orders WHERE client_order_id = ?", (order.client_order_id,)
            ).fetchone()[0]
        )
        if order.side is Side.BUY:
            currency = CURRENCY[order.market]
            _balance, cash_reserved = self._cash_row(db, order.account, currency)
            db.execute(
                "UPDATE cash SET reserved = ? WHERE account = ? AND currency = ?",
                (str(max(cash_reserved - reserved, Decimal(0))), order.account, currency),
            )
        else:
            _held, held_reserved = self._position_row(db, order.account, order.market, order.ticker)
            db.execute(
                "UPDATE positions SET reserved = ? WHERE account = ? AND market = ? AND ticker = ?",
                (
                    str(max(held_reserved - reserved, Decimal(0))),
                    order.account,
                    order.market.value,
                    order.ticker,
                ),
            )
        db.execute(
            "UPDATE orders SET status = ?, reserved = '0' WHERE client_order_id = ?",
            (OrderStatus.CANCELLED.value, order.client_order_id),
        )
        result = self._load(db, order.client_order_id)
        assert result is not None
        return result

    def _modify(
        self,
        db: sqlite3.Connection,
        order: Order,
        price: Decimal | None,
        quantity: Decimal | None,
    ) -> BrokerOrder:
        cid = order.client_order_id
        current = self._load(db, cid)
        if current is None:
            return BrokerOrder(
                cid, OrderStatus.REJECTED, Decimal(0), None, reason=ReasonCode.NOT_FOUND
            )
        if current.status.is_final or (price is None and quantity is None):
            return current
        type_s, qty_s, limit_s, filled_s, reserved_s = db.execute(
            "SELECT order_type, quantity, limit_price, filled_quantity, reserved FROM orders"
            " WHERE client_order_id = ?",
            (cid,),
        ).fetchone()
        new_qty = Decimal(qty_s) if quantity is None else quantity
        if new_qty <= Decimal(filled_s) or new_qty > Decimal(qty_s):
            return current  # as at KIS: never above the original, never below what is filled
        new_limit = price if price is not None else (Decimal(limit_s) if limit_s else None)
        new_type = OrderType.LIMIT if new_limit is not None else OrderType(type_s)
        currency = CURRENCY[order.market]
        old_reserve = Decimal(reserved_s)
        left = new_qty - Decimal(filled_s)
        if order.side is Side.BUY:
            basis = (
                new_limit if new_limit is not None else self._price(db, order.market, order.ticker)
            )
            if basis is None:
                return current
            reserve = self._with_commission(left * basis, currency)
            balance, cash_reserved = self._cash_row(db, order.account, currency)
            if balance - (cash_reserved - old_reserve) < reserve:
                return current
            db.execute(
                "UPDATE cash SET reserved = ? WHERE account = ? AND currency = ?",
                (str(cash_reserved - old_reserve + reserve), order.account, currency),
            )
        else:
            reserve = left
            _held, held_reserved = self._position_row(db, order.account, order.market, order.ticker)
            db.execute(
                "UPDATE positions SET reserved = ? WHERE account = ? AND market = ? AND ticker = ?",
                (
                    str(held_reserved - old_reserve + reserve),
                    order.account,
                    order.market.value,
                    order.ticker,
                ),
            )
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
        last = self._price(db, order.market, order.ticker)
        if last is not None:
            self._try_fill(db, cid, last, _now())
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
                " WHERE client_order_id = ? ORDER BY filled_at, fill_id",
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

    def _set_price(
        self, db: sqlite3.Connection, market: Market, ticker: str, price: Decimal, now: datetime
    ) -> None:
        db.execute(
            "INSERT INTO prices (market, ticker, price, seen_at) VALUES (?,?,?,?)"
            " ON CONFLICT (market, ticker) DO UPDATE SET price = excluded.price,"
            " seen_at = excluded.seen_at",
            (market.value, ticker, str(price), now.isoformat()),
        )

    def _commission(self, gross: Decimal, currency: str) -> Decimal:
        unit = _MINOR_UNIT.get(currency, Decimal("0.01"))
        # KRW commissions are cut to the won; USD rounded to the cent.
        rounding = ROUND_DOWN if currency == "KRW" else ROUND_HALF_UP
        return (gross * self._rate).quantize(unit, rounding=rounding)

    def _with_commission(self, gross: Decimal, currency: str) -> Decimal:
        return gross + self._commission(gross, currency)


def _now() -> datetime:
    return datetime.now(UTC)
