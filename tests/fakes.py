"""Hand-written fakes of the services' ports, in memory: with them a service test needs neither
SQLite nor Valkey (the integration tests run the same services on the real adapters).

`FakeRecorder` is the system of record: the read ports (`FakeEngineState`, `FakeOrderQueue`,
`FakeAccountBook`) look at what was written to it, as the SQL adapters read the database the
recorder writes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from yquant.adapters import messages
from yquant.adapters.db.rows import order_from_row, to_row
from yquant.domain.book import BookFill
from yquant.domain.events import CancelAnswered, LiveEvent
from yquant.domain.model import (
    CURRENCY,
    FINAL_STATUSES,
    BrokerOrder,
    Fill,
    Instrument,
    Market,
    Order,
    OrderStatus,
    Side,
    can_transition,
)
from yquant.domain.notices import Notice
from yquant.domain.positions import WorkingOrder
from yquant.domain.reasons import ReasonCode
from yquant.domain.risk import KillState, strictest
from yquant.domain.writes import Write
from yquant.errors import (
    BrokerUnavailableError,
    BusUnavailableError,
    DatabaseUnavailableError,
    OrderRejectedError,
    SignalRejectedError,
)
from yquant.ports import (
    EXPIRED,
    QUEUED,
    RELEASING,
    Activity,
    Entry,
    FxRate,
    Handler,
    Holding,
    Mark,
    Message,
    PriceSource,
    Quote,
    Written,
)


class FakeInstruments:
    """The `Instruments` port over a dict of (market, ticker) -> Instrument."""

    def __init__(self, *instruments: Instrument) -> None:
        self.by_key = {(i.market, i.ticker): i for i in instruments}

    def find(self, ticker: str) -> list[Instrument]:
        return [i for i in self.by_key.values() if i.ticker == ticker]

    def resolve(self, market: Market, exchange: str, ticker: str) -> Instrument:
        found = self.by_key.get((market, ticker))
        if found is None:
            raise SignalRejectedError(ReasonCode.UNKNOWN_TICKER, f"{exchange}:{ticker}")
        if not found.tradable:
            raise SignalRejectedError(ReasonCode.NOT_TRADABLE, ticker)
        if found.halted:
            raise SignalRejectedError(ReasonCode.HALTED, ticker)
        return found


class FixedClock:
    """The `Clock` port standing at one instant until the test moves it."""

    def __init__(self, now: datetime) -> None:
        assert now.tzinfo is not None
        self.current = now

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        """Deadlines and intervals run on real time (moving `current` does not touch them)."""
        return time.monotonic()

    def set(self, now: datetime) -> None:
        self.current = now

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


ManualClock = FixedClock


def stock(
    ticker: str, exchange: str, market: Market, security_type: str | None = "stock"
) -> Instrument:
    return Instrument(
        market=market,
        exchange=exchange,
        ticker=ticker,
        currency=CURRENCY[market],
        security_type=security_type,
    )


SAMSUNG = stock("005930", "KOSPI", Market.KR)
KODEX = stock("069500", "KOSPI", Market.KR, "etf")
APPLE = stock("AAPL", "NASDAQ", Market.US)
IBM = stock("IBM", "NYSE", Market.US)


# ---- the system of record ------------------------------------------------------------------

# op -> (table, key column, whether a repeat may move the row forward)
_OPS = {
    "signal.insert": ("signals", "signal_key", False),
    "signal.advance": ("signals", "signal_key", True),
    "order.insert": ("orders", "client_order_id", False),
    "order.advance": ("orders", "client_order_id", True),
    "fill.insert": ("fills", "fill_id", False),
    "queue.insert": ("queued_orders", "client_order_id", False),
    "account.upsert": ("accounts", "name", True),
    "price.record": ("last_prices", "ticker", True),
}


class FakeRecorder:
    """The `Recorder` port over dicts, holding each write as the row the SQL recorder makes of
    it (`to_row`). An insert of a key already there is UNCHANGED; an advance moves a row only
    forward (orders as the domain's transitions allow, signals by ``status_rank``), as the SQL
    store does. With ``database_up`` False every write
    is JOURNALED (kept in ``journal``) and reads raise DatabaseUnavailableError."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, dict[str, Any]]] = {t: {} for t, _, _ in _OPS.values()}
        self.writes: list[tuple[str, dict[str, Any]]] = []
        self.journal: list[tuple[str, dict[str, Any]]] = []
        self.order_events: list[dict[str, Any]] = []  # each step an orders row moved to
        self.rehearsed: list[tuple[str, dict[str, Any]]] = []  # run and undone: never applied
        self.database_up = True
        self._ids = itertools.count(1)

    async def rehearse(self, writes: list[Write]) -> None:
        self.rehearsed.extend(to_row(w) for w in writes)

    async def write(self, write: Write) -> Written:
        op, row = to_row(write)
        self.writes.append((op, row))
        if not self.database_up:
            self.journal.append((op, row))
            return Written.JOURNALED
        return self.apply(op, row)

    def apply(self, op: str, row: dict[str, Any]) -> Written:
        table, key, advances = _OPS[op]
        rows = self.tables[table]
        old = rows.get(str(row[key]))
        if old is None:
            new = dict(row)
            if table == "queued_orders":
                new["id"] = next(self._ids)
                new.setdefault("claim_token", None)
                new.setdefault("claimed_at", None)
            rows[str(row[key])] = new
            self._event(table, new)
            return Written.STORED
        if not advances or not self._moves(table, old, row):
            return Written.UNCHANGED
        if all(old.get(k) == v for k, v in row.items()):
            return Written.UNCHANGED
        old.update(row)
        self._event(table, old)
        return Written.STORED

    def _event(self, table: str, row: dict[str, Any]) -> None:
        """The step an orders row moved to, once, as the SQL store's order_events."""
        if table != "orders":
            return
        step = (row["client_order_id"], row["status"], row["filled_quantity"])
        seen = {
            (e["client_order_id"], e["status"], e["filled_quantity"]) for e in self.order_events
        }
        if step not in seen:
            self.order_events.append(
                {
                    "client_order_id": row["client_order_id"],
                    "status": row["status"],
                    "filled_quantity": row["filled_quantity"],
                    "at": row["updated_at"],
                }
            )

    @staticmethod
    def _moves(table: str, old: dict[str, Any], row: dict[str, Any]) -> bool:
        """Whether an advance moves the stored row: orders by the domain's transition table
        (as the SQL upsert), signals by rank."""
        if table != "orders":
            return bool(row.get("status_rank", 0) >= old.get("status_rank", 0))
        current, new = OrderStatus(old["status"]), OrderStatus(row["status"])
        if current is new:
            return bool(row["filled_quantity"] >= old["filled_quantity"])
        return can_transition(current, new)

    def reachable(self) -> None:
        if not self.database_up:
            raise DatabaseUnavailableError("fake database is away")

    async def order(self, client_order_id: str) -> dict[str, Any] | None:
        self.reachable()
        row = self.tables["orders"].get(client_order_id)
        return None if row is None else dict(row)

    async def stored_order(self, client_order_id: str) -> Order | None:
        row = await self.order(client_order_id)
        return None if row is None else order_from_row(row)

    async def signals_waiting(self, worker: str, before: datetime) -> list[dict[str, Any]]:
        self.reachable()
        return [
            dict(r)
            for r in self.tables["signals"].values()
            if r["worker"] == worker and r["status"] == "accepted" and r["received_at"] < before
        ]

    def waiting(self) -> int:
        return len(self.journal)

    def signal(self, key: str) -> dict[str, Any]:
        return self.tables["signals"][key]

    def orders(self) -> list[dict[str, Any]]:
        return list(self.tables["orders"].values())


class FakeEngineState:
    """The `EngineState` port over a `FakeRecorder`'s tables."""

    def __init__(self, recorder: FakeRecorder) -> None:
        self._recorder = recorder

    async def activity(self, *, account: str, ticker: str, since: datetime) -> Activity:
        self._recorder.reachable()
        mine = [o for o in self._recorder.orders() if o["account"] == account]
        working = [
            WorkingOrder(
                o["client_order_id"],
                o["strategy"],
                Side(o["side"]),
                Decimal(o["quantity"]) - Decimal(o["filled_quantity"]),
                o["created_at"],
            )
            for o in mine
            if o["ticker"] == ticker and OrderStatus(o["status"]) not in FINAL_STATUSES
        ]
        return Activity(
            orders_last_minute=sum(1 for o in mine if o["created_at"] >= since),
            working=tuple(working),
        )

    async def orders(self, client_order_ids: list[str]) -> dict[str, Order]:
        self._recorder.reachable()
        table = self._recorder.tables["orders"]
        return {c: order_from_row(table[c]) for c in client_order_ids if c in table}

    async def signal(self, signal_key: str) -> dict[str, Any] | None:
        self._recorder.reachable()
        row = self._recorder.tables["signals"].get(signal_key)
        return None if row is None else dict(row)

    async def signals(self, signal_keys: list[str]) -> dict[str, dict[str, Any]]:
        self._recorder.reachable()
        table = self._recorder.tables["signals"]
        return {k: dict(table[k]) for k in signal_keys if k in table}

    async def orders_for_signal(self, signal_key: str) -> list[dict[str, Any]]:
        self._recorder.reachable()
        return [dict(o) for o in self._recorder.orders() if o["signal_key"] == signal_key]


class FakeFillHistory:
    """The `FillHistory` port over a `FakeRecorder`'s fills and orders (the strategy of each
    fill is its order's)."""

    def __init__(self, recorder: FakeRecorder) -> None:
        self._recorder = recorder

    async def book_fills(
        self,
        *,
        account: str | None = None,
        strategy: str | None = None,
        market: Market | None = None,
        ticker: str | None = None,
    ) -> list[BookFill]:
        self._recorder.reachable()
        orders = self._recorder.tables["orders"]
        out = []
        for f in self._recorder.tables["fills"].values():
            o = orders.get(f["client_order_id"])
            if o is None:
                continue
            fill = BookFill(
                fill_id=f["fill_id"],
                client_order_id=f["client_order_id"],
                account=f["account"],
                strategy=o["strategy"],
                market=Market(o["market"]),
                ticker=f["ticker"],
                side=Side(f["side"]),
                quantity=Decimal(f["quantity"]),
                price=Decimal(f["price"]),
                commission=Decimal(f["commission"]),
                filled_at=f["filled_at"],
                exchange=o["exchange"],
            )
            if (
                (account is None or fill.account == account)
                and (strategy is None or fill.strategy == strategy)
                and (market is None or fill.market is market)
                and (ticker is None or fill.ticker == ticker)
            ):
                out.append(fill)
        return sorted(out, key=lambda x: (x.filled_at, x.fill_id))


class FakeOrderQueue:
    """The `OrderQueue` port over a `FakeRecorder`'s queued orders (written by ``queue.insert``),
    with the same compare-and-set claims as the SQL queue."""

    def __init__(self, recorder: FakeRecorder) -> None:
        self._recorder = recorder

    @property
    def _rows(self) -> list[dict[str, Any]]:
        self._recorder.reachable()
        return list(self._recorder.tables["queued_orders"].values())

    def _row(self, row_id: int) -> dict[str, Any]:
        [row] = [r for r in self._rows if r["id"] == row_id]
        return row

    async def due(self, now: datetime, lease_s: float, limit: int = 100) -> list[dict[str, Any]]:
        stale = now - timedelta(seconds=lease_s)
        due = [
            dict(r)
            for r in self._rows
            if (r["state"] == QUEUED and r["release_after"] <= now)
            or (r["state"] == RELEASING and r["claimed_at"] < stale)
        ]
        due = sorted(due, key=lambda r: (r["queued_at"], r["id"]))[:limit]
        # As the SQL queue hands them out: the alert decoded, to be decided again.
        return [{**r, "alert": messages.alert_from_message(json.loads(r["alert"]))} for r in due]

    async def claim(
        self, row: dict[str, Any], token: str, epoch: int, now: datetime, lease_s: float
    ) -> bool:
        stored = self._row(row["id"])
        if row["state"] == QUEUED:
            ok = stored["state"] == QUEUED
        else:
            ok = (
                stored["state"] == RELEASING
                and stored["claim_token"] == row["claim_token"]
                and stored["claimed_at"] < now - timedelta(seconds=lease_s)
            )
        if ok:
            stored.update(
                state=RELEASING, claim_token=token, claimed_at=now, epoch=epoch, updated_at=now
            )
        return ok

    async def finish(
        self, row_id: int, token: str, state: str, reason: str | None, detail: str, now: datetime
    ) -> bool:
        stored = self._row(row_id)
        if stored["state"] != RELEASING or stored["claim_token"] != token:
            return False
        stored.update(state=state, reason=reason, detail=detail[:300] or None, updated_at=now)
        return True

    async def reschedule(
        self, row_id: int, release_after: datetime, expires_at: datetime, now: datetime
    ) -> bool:
        stored = self._row(row_id)
        if stored["state"] != QUEUED:
            return False
        stored.update(release_after=release_after, expires_at=expires_at, updated_at=now)
        return True

    async def requeue(
        self, row_id: int, token: str, release_after: datetime, expires_at: datetime, now: datetime
    ) -> bool:
        stored = self._row(row_id)
        if stored["state"] != RELEASING or stored["claim_token"] != token:
            return False
        stored.update(
            state=QUEUED,
            reason=None,
            claim_token=None,
            claimed_at=None,
            release_after=release_after,
            expires_at=expires_at,
            updated_at=now,
        )
        return True

    async def expire(self, row_id: int, reason: str, detail: str, now: datetime) -> bool:
        stored = self._row(row_id)
        if stored["state"] != QUEUED:
            return False
        stored.update(state=EXPIRED, reason=reason, detail=detail[:300], updated_at=now)
        return True

    async def for_signal(self, signal_key: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self._rows if r["signal_key"] == signal_key]

    async def existing(self, client_order_ids: list[str]) -> dict[str, dict[str, Any]]:
        return {
            r["client_order_id"]: dict(r)
            for r in self._rows
            if r["client_order_id"] in client_order_ids
        }


class FakeAccountBook:
    """The `AccountBook` port: what the account sync wrote, and the recorder's open orders."""

    def __init__(self, recorder: FakeRecorder) -> None:
        self._recorder = recorder
        self.positions: dict[str, list[Holding]] = {}
        self.cash: dict[str, dict[str, Decimal]] = {}

    async def replace_positions(self, account: str, holdings: list[Holding], now: datetime) -> None:
        self.positions[account] = list(holdings)

    async def replace_cash(self, account: str, cash: dict[str, Decimal], now: datetime) -> None:
        self.cash[account] = {k: v for k, v in cash.items() if v}

    async def orders_in_flight(self) -> list[tuple[Order, str | None]]:
        self._recorder.reachable()
        signals = self._recorder.tables["signals"]
        return [
            (order_from_row(o), signals.get(o["signal_key"], {}).get("worker"))
            for o in self._recorder.orders()
            if OrderStatus(o["status"]) not in FINAL_STATUSES
            and o["status"] != OrderStatus.NEW.value
        ]

    async def filled_as_of(self, client_order_id: str, at: datetime) -> Decimal:
        self._recorder.reachable()
        steps = [
            e["filled_quantity"]
            for e in self._recorder.order_events
            if e["client_order_id"] == client_order_id and e["at"] <= at
        ]
        return max(steps, default=Decimal(0))


class FakeKillSwitch:
    """The `KillSwitch` port over a dict a test sets (scope -> state)."""

    def __init__(self, **states: KillState) -> None:
        self.states: dict[str, KillState] = dict(states)
        self.refreshed = 0

    async def refresh(self) -> dict[str, KillState]:
        self.refreshed += 1
        return dict(self.states)

    def known(self) -> dict[str, KillState]:
        return dict(self.states)

    def state_for(self, account: str, states: dict[str, KillState] | None = None) -> KillState:
        states = self.known() if states is None else states
        return strictest(states.get("global"), states.get(account))


class FakeRoles:
    """The `DeploymentRoles` port: the recorded active worker, or None (no deployment row)."""

    def __init__(self, active: tuple[str, int] | None = None) -> None:
        self.current = active

    async def active(self) -> tuple[str, int] | None:
        return self.current


# ---- the bus ---------------------------------------------------------------------------------


class FakeBus:
    """The `Bus` port in memory, holding each message and event in its wire encoding (as the
    Valkey bus writes it). With ``up`` False every call but `announce` raises
    BusUnavailableError."""

    def __init__(self) -> None:
        self.streams: dict[str, list[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self.beats: dict[str, dict[str, Any]] = {}
        self.claims: dict[str, str] = {}
        self.kept: dict[str, str] = {}
        self.answers: dict[str, CancelAnswered] = {}
        self.up = True

    def reachable(self) -> None:
        if not self.up:
            raise BusUnavailableError("fake bus is away")

    def messages(self, stream: str) -> list[dict[str, Any]]:
        return list(self.streams.get(stream, []))

    async def send(self, message: Message) -> None:
        await self.send_many([message])

    async def send_many(self, batch: Sequence[Message], *, event: LiveEvent | None = None) -> None:
        self.reachable()
        for message in batch:
            stream = messages.stream_of(message)
            self.streams.setdefault(stream, []).append(messages.encode(message))
        if event is not None and batch:
            self.events.append(messages.encode_event(event))

    async def announce(self, event: LiveEvent) -> None:
        if self.up:
            self.events.append(messages.encode_event(event))

    async def heartbeats(self, roles: list[str]) -> dict[str, dict[str, Any] | None]:
        self.reachable()
        return {r: self.beats.get(r) for r in roles}

    async def claim_send(self, key: str, owner: str, ttl_s: int) -> bool:
        self.reachable()
        if key in self.claims:
            return False
        self.claims[key] = owner
        return True

    async def remember(self, key: str, value: str, ttl_s: int) -> str:
        self.reachable()
        return self.kept.setdefault(key, value)

    async def answer(self, answer: CancelAnswered, ttl_s: int) -> None:
        self.reachable()
        self.answers.setdefault(answer.request_id, answer)

    async def answered(self, request_id: str) -> CancelAnswered | None:
        self.reachable()
        return self.answers.get(request_id)

    async def claimed(self, key: str) -> str | None:
        self.reachable()
        return self.claims.get(key)

    async def consume(
        self, stream: str, group: str, consumer: str, handler: Handler, stop: asyncio.Event
    ) -> None:
        """Every entry once, in order, until ``stop``."""
        done = 0
        while not stop.is_set():
            entries = self.streams.get(stream, [])
            while done < len(entries):
                data = entries[done]
                entry = Entry(stream, f"0-{done + 1}", data, False, messages.decode(stream, data))
                await handler(entry)
                done += 1
            await asyncio.sleep(0.005)


# ---- a broker ----------------------------------------------------------------------------------


class FakeBroker:
    """The `Broker` port for one or more accounts: market orders fill at once at their reference
    price, limit orders rest (``accepted``) until `fill` fills them. ``unavailable`` submits
    raise BrokerUnavailableError (nothing sent) that many times. A cancel (each recorded in
    ``cancelled``) ends a working order, unless ``cancel_mode`` says otherwise: ``refuse``
    (OrderRejectedError), ``unavailable`` (BrokerUnavailableError, nothing sent) or ``silent``
    (no answer: the order as it was, still working)."""

    def __init__(self, cash: dict[str, Decimal] | None = None) -> None:
        self.cash_by_currency = dict(cash or {"KRW": Decimal(100_000_000), "USD": Decimal(100_000)})
        self.holdings_by_account: dict[str, list[Holding]] = {}
        self.placed: dict[str, BrokerOrder] = {}
        self.submitted: list[Order] = []
        self.modified: list[tuple[str, Decimal | None, Decimal | None]] = []
        self.unavailable = 0
        # True, or the error to raise (a BrokerTokenError, say)
        self.holdings_unavailable: bool | BaseException = False
        self.cancelled: list[str] = []
        self.cancel_mode = "cancel"
        self.rate: FxRate | None = None  # what fx_rate answers

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def on_change(self, listener: Callable[[str], None]) -> None:
        del listener  # fills are known at once: nothing to report later

    def for_account(self, account: str) -> FakeBroker:
        return self

    def halted(self) -> dict[str, str]:
        return {}

    async def quote(self, market: Market, exchange: str, ticker: str) -> Quote | None:
        return None

    async def token_expires_at(self) -> datetime | None:
        return None

    async def fx_rate(self, account: str) -> FxRate | None:
        return self.rate

    async def submit(
        self, order: Order, *, queued: Callable[[], None] | None = None
    ) -> BrokerOrder:
        if self.unavailable:
            self.unavailable -= 1
            raise BrokerUnavailableError("fake broker is away")
        self.submitted.append(order)
        if order.order_type.value == "limit":
            known = BrokerOrder(
                order.client_order_id,
                OrderStatus.ACCEPTED,
                Decimal(0),
                None,
                f"b-{len(self.submitted)}",
            )
        else:
            price = order.reference_price or order.limit_price or Decimal(1)
            fill = Fill(
                fill_id=f"f-{order.client_order_id}",
                client_order_id=order.client_order_id,
                account=order.account,
                ticker=order.ticker,
                side=order.side,
                quantity=order.quantity,
                price=price,
                commission=Decimal(0),
                currency=order.currency,
                filled_at=order.created_at,
            )
            known = BrokerOrder(
                order.client_order_id,
                OrderStatus.FILLED,
                order.quantity,
                price,
                f"b-{len(self.submitted)}",
                fills=(fill,),
            )
        self.placed[order.client_order_id] = known
        return known

    async def get_order(self, order: Order) -> BrokerOrder | None:
        return self.placed.get(order.client_order_id)

    def fill(self, client_order_id: str, quantity: Decimal, price: Decimal, at: datetime) -> None:
        """A resting order fills ``quantity`` at the venue (the gateway learns it by asking)."""
        placed = self.placed[client_order_id]
        filled = placed.filled_quantity + quantity
        order = next(o for o in self.submitted if o.client_order_id == client_order_id)
        fill = Fill(
            fill_id=f"f-{client_order_id}-{filled}",
            client_order_id=client_order_id,
            account=order.account,
            ticker=order.ticker,
            side=order.side,
            quantity=quantity,
            price=price,
            commission=Decimal(0),
            currency=order.currency,
            filled_at=at,
        )
        status = OrderStatus.FILLED if filled >= order.quantity else OrderStatus.PARTIALLY_FILLED
        self.placed[client_order_id] = BrokerOrder(
            client_order_id,
            status,
            filled,
            price,
            placed.broker_order_id,
            None,
            (*placed.fills, fill),
        )

    async def cancel(self, order: Order) -> BrokerOrder:
        """A working order ends cancelled; a final one is returned as it ended."""
        self.cancelled.append(order.client_order_id)
        placed = self.placed.get(order.client_order_id)
        if placed is not None and placed.status.is_final:
            return placed
        if self.cancel_mode == "refuse":
            raise OrderRejectedError(ReasonCode.MARKET_CLOSED, "fake broker refuses cancels")
        if self.cancel_mode == "unavailable":
            raise BrokerUnavailableError("fake broker is away")
        if self.cancel_mode == "silent" and placed is not None:
            return placed
        filled = placed.filled_quantity if placed else Decimal(0)
        known = BrokerOrder(
            order.client_order_id,
            OrderStatus.CANCELLED,
            filled,
            placed.avg_fill_price if placed else None,
            placed.broker_order_id if placed else None,
            None,
            placed.fills if placed else (),
        )
        self.placed[order.client_order_id] = known
        return known

    async def modify(
        self, order: Order, price: Decimal | None = None, quantity: Decimal | None = None
    ) -> BrokerOrder:
        """A resting order keeps resting (the fake never fills a limit); a final one is as was."""
        self.modified.append((order.client_order_id, price, quantity))
        return self.placed.get(order.client_order_id) or BrokerOrder(
            order.client_order_id, OrderStatus.REJECTED, Decimal(0), None, reason="not_found"
        )

    async def holdings(self, account: str) -> list[Holding]:
        if isinstance(self.holdings_unavailable, BaseException):
            raise self.holdings_unavailable
        if self.holdings_unavailable:
            raise BrokerUnavailableError("fake broker is away")
        return list(self.holdings_by_account.get(account, []))

    async def cash(self, account: str) -> dict[str, Decimal]:
        return dict(self.cash_by_currency)


class RecordingMetrics:
    """The `Metrics` port, remembering every call: (method, arguments) in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def named(self, method: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self.calls if name == method]

    def alert_received(self) -> None:
        self.calls.append(("alert_received", ()))

    def alert_accepted(self) -> None:
        self.calls.append(("alert_accepted", ()))

    def alert_rejected(self, reason: str) -> None:
        self.calls.append(("alert_rejected", (reason,)))

    def decision_seconds(self, seconds: float, outcome: str) -> None:
        self.calls.append(("decision_seconds", (seconds, outcome)))

    def send_seconds(self, seconds: float) -> None:
        self.calls.append(("send_seconds", (seconds,)))

    def broker_call(self, broker: str, operation: str) -> None:
        self.calls.append(("broker_call", (broker, operation)))

    def broker_error(self, broker: str, code: str) -> None:
        self.calls.append(("broker_error", (broker, code)))

    def book_unattributed(self, account: str, instruments: int) -> None:
        self.calls.append(("book_unattributed", (account, instruments)))


# ---- prices --------------------------------------------------------------------------------


class FakePrices:
    """The `Prices` port (the quote port) over a dict the test sets: each instrument's mark."""

    def __init__(self) -> None:
        self.marks: dict[tuple[Market, str], Mark] = {}
        self.asked: list[tuple[Market, str, str]] = []
        self.observed: list[tuple[Market, str, Decimal, datetime, PriceSource]] = []
        self.error: Exception | None = None  # raised by `mark` while set
        self.hang = False  # `mark` never answers while set (a database that does not reply)
        self.warmed = 0  # times `warm_up` was called

    async def warm_up(self) -> None:
        self.warmed += 1

    def set(
        self,
        market: Market,
        ticker: str,
        price: str,
        at: datetime,
        source: PriceSource = PriceSource.QUOTE,
    ) -> None:
        self.marks[(market, ticker)] = Mark(Decimal(price), at, source)

    async def mark(self, market: Market, exchange: str, ticker: str) -> Mark | None:
        self.asked.append((market, exchange, ticker))
        if self.error is not None:
            raise self.error
        if self.hang:
            await asyncio.Event().wait()
        return self.marks.get((market, ticker))

    async def observe(
        self, market: Market, ticker: str, price: Decimal, at: datetime, source: PriceSource
    ) -> None:
        self.observed.append((market, ticker, price, at, source))
        known = self.marks.get((market, ticker))
        if known is None or known.at <= at:
            self.marks[(market, ticker)] = Mark(price, at, source)


class RecordingNotices:
    """The `Notices` port keeping what producers handed over."""

    def __init__(self) -> None:
        self.told: list[Notice] = []

    async def notify(self, notice: Notice) -> None:
        self.told.append(notice)
