"""`yquant replay`: the recorded alerts of a period run again through the engine's decision with
other settings, on a private paper venue and a private database, and what that would have
traded compared with what was traded.

Everything written goes to the private parts `bootstrap.build_replay` makes in a temporary
directory (database, journal, paper ledger, kill-switch snapshot): the real database is only
read (the recorded alerts, the catalog, the live fills), the real brokers are never built and
Valkey is never used. Each alert is decided at the time it arrived, as the engine decided it
(`Decider.decide`, the same code), with the replay's settings: their sizing, risk limits,
routes and fees. An order it makes is placed on the private paper venue at once (a market order
fills at the alert's price moved by ``paper.slippage_bps``; a limit fills when a later alert's
price of the instrument reaches it, and is reported with its status when placed), and its
fills go to the private book, which the next decisions read (an exit
sells what the replay bought). An alert the settings queue for the next session is reported as
queued, not traded.

The P&L of both sides is the book's (net of the fees of each side's settings) over the period,
both starting flat: the replay's from its own fills, the live one from the fills of the orders
the strategy's live orders made in the period; open positions are valued at the last alert
price of the period.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from yquant.domain import alerts
from yquant.domain.book import BookFill, FeeSchedule, LocalDay, build
from yquant.domain.decision import Verdict
from yquant.domain.model import (
    CURRENCY,
    Alert,
    BrokerOrder,
    Market,
    Order,
    OrderStatus,
    SignalStatus,
)
from yquant.domain.reasons import ReasonCode
from yquant.domain.writes import AdvanceOrder, InsertFill, InsertOrder
from yquant.errors import RejectedError, SignalRejectedError
from yquant.ports import Broker, FillHistory, Recorder
from yquant.services.decisions import Decider

logger = logging.getLogger(__name__)

# Refused before any engine saw them (the request, the body): not alerts to decide again.
NOT_ALERTS = frozenset(
    {
        ReasonCode.BAD_SECRET,
        ReasonCode.SOURCE_NOT_ALLOWED,
        ReasonCode.NOT_FOUND,
        ReasonCode.METHOD_NOT_ALLOWED,
        ReasonCode.UNSUPPORTED_MEDIA_TYPE,
        ReasonCode.BODY_TOO_LARGE,
        ReasonCode.THROTTLED,
        ReasonCode.CLIENT_DISCONNECTED,
        ReasonCode.NOT_RECORDED,
        ReasonCode.MALFORMED_JSON,
        ReasonCode.NOT_AN_OBJECT,
        ReasonCode.MISSING_FIELD,
        ReasonCode.BAD_FIELD,
        ReasonCode.BAD_ACTION,
        ReasonCode.BAD_QUANTITY,
        ReasonCode.BAD_PRICE,
        ReasonCode.UNKNOWN_EXCHANGE,
        ReasonCode.UNRESOLVED_PLACEHOLDER,
        ReasonCode.STALE,
        ReasonCode.CURRENCY_MISMATCH,
        ReasonCode.DUPLICATE,
        ReasonCode.NOT_REBUILDABLE,
    }
)


class RecordedAlerts(Protocol):
    async def recorded_alerts(
        self, since: datetime, until: datetime, strategy: str | None = None
    ) -> list[dict[str, Any]]: ...


class PrivateVenue(Broker, Protocol):
    """The replay's paper venue: a broker that is also told the prices the alerts carried."""

    async def observe_price(
        self, market: Market, ticker: str, price: Decimal, at: datetime | None = None
    ) -> list[str]: ...


class ReplayClock(Protocol):
    def set(self, at: datetime) -> None: ...

    def now(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class ReplayedOrder:
    account: str
    side: str
    quantity: Decimal
    status: str
    filled_quantity: Decimal
    fill_price: Decimal | None


@dataclass(frozen=True, slots=True)
class ReplayedAlert:
    """One recorded alert and what the replay made of it."""

    signal_key: str
    strategy: str
    ticker: str
    action: str
    received_at: datetime
    recorded_status: str  # what the live engine decided (accepted, ordered, rejected)
    verdict: str  # order | queued | rejected | skipped
    reason: str | None = None
    orders: tuple[ReplayedOrder, ...] = ()


@dataclass(frozen=True, slots=True)
class StrategyPnl:
    strategy: str
    currency: str
    replay: Decimal
    live: Decimal

    @property
    def difference(self) -> Decimal:
        return self.replay - self.live


@dataclass(frozen=True, slots=True)
class ReplayResult:
    alerts: tuple[ReplayedAlert, ...]
    pnl: tuple[StrategyPnl, ...] = field(default_factory=tuple)

    def count(self, verdict: str) -> int:
        return sum(1 for a in self.alerts if a.verdict == verdict)


class Replay:
    def __init__(
        self,
        *,
        recorded: RecordedAlerts,
        live_fills: FillHistory,
        decider: Decider,
        venue: PrivateVenue,
        recorder: Recorder,
        book_fills: FillHistory,
        clock: ReplayClock,
        fees: FeeSchedule,
        live_fees: FeeSchedule,
    ) -> None:
        self._recorded = recorded
        self._live_fills = live_fills
        self._decider = decider
        self._venue = venue
        self._recorder = recorder
        self._book_fills = book_fills
        self._clock = clock
        self._fees = fees
        self._live_fees = live_fees
        self._working: dict[str, Order] = {}  # placed, not final: a later price may fill them

    async def run(
        self, since: datetime, until: datetime, strategy: str | None = None
    ) -> ReplayResult:
        rows = await self._recorded.recorded_alerts(since, until, strategy)
        out: list[ReplayedAlert] = []
        marks: dict[tuple[Market, str], Decimal] = {}
        for row in rows:
            replayed = await self._one(row, marks)
            if replayed is not None:
                out.append(replayed)
        strategies = {a.strategy for a in out}
        pnl = await self._pnl(since, until, strategies, marks)
        return ReplayResult(tuple(out), pnl)

    async def _one(
        self, row: Mapping[str, Any], marks: dict[tuple[Market, str], Decimal]
    ) -> ReplayedAlert | None:
        if row["status"] == SignalStatus.REJECTED.value and row.get("reason") in NOT_ALERTS:
            return None
        alert = alert_of(row)
        if alert is None:
            return None
        now = alert.received_at
        self._clock.set(now)
        if alert.price is not None:
            marks[(alert.market, alert.ticker)] = alert.price
            filled = await self._venue.observe_price(alert.market, alert.ticker, alert.price, now)
            await self._follow(filled)
        decision = await self._decider.decide(alert, now)
        base = ReplayedAlert(
            signal_key=alert.key,
            strategy=alert.strategy,
            ticker=f"{alert.exchange}:{alert.ticker}",
            action=alert.action.value,
            received_at=now,
            recorded_status=row["status"],
            verdict=Verdict.REJECTED.value,
        )
        if decision.orders:
            placed = tuple([await self._place(order) for order in decision.orders])
            return dataclasses.replace(base, verdict=Verdict.ORDER.value, orders=placed)
        _status, reason, detail = decision.summary()
        verdict = Verdict.QUEUED.value if decision.queued else Verdict.REJECTED.value
        return dataclasses.replace(base, verdict=verdict, reason=reason or detail or None)

    async def _place(self, order: Order) -> ReplayedOrder:
        await self._recorder.write(InsertOrder(order))
        try:
            report = await self._venue.submit(order)
        except RejectedError as exc:
            report = BrokerOrder.rejected(order.client_order_id, exc.reason)
        final = await self._record(order, report)
        return ReplayedOrder(
            account=order.account,
            side=order.side.value,
            quantity=order.quantity,
            status=OrderStatus(final.status).value,
            filled_quantity=final.filled_quantity,
            fill_price=final.avg_fill_price,
        )

    async def _record(self, order: Order, report: BrokerOrder) -> Order:
        """The venue's report of ``order`` into the private book (a fill recorded before is
        kept once: fills are keyed by their id); a working order is followed."""
        for fill in report.fills:
            await self._recorder.write(InsertFill(fill))
        now = order.apply(report).evolve(updated_at=self._clock.now())
        await self._recorder.write(AdvanceOrder(now))
        if now.status.is_final:
            self._working.pop(now.client_order_id, None)
        else:
            self._working[now.client_order_id] = now
        return now

    async def _follow(self, changed: Iterable[str]) -> None:
        """The working orders a price just filled (a resting limit reached): their fills."""
        for cid in changed:
            order = self._working.get(cid)
            if order is None:
                continue
            report = await self._venue.get_order(order)
            if report is not None:
                await self._record(order, report)

    async def _pnl(
        self,
        since: datetime,
        until: datetime,
        strategies: Iterable[str],
        marks: Mapping[tuple[Market, str], Decimal],
    ) -> tuple[StrategyPnl, ...]:
        out: list[StrategyPnl] = []
        for strategy in sorted(strategies):
            mine = await self._book_fills.book_fills(strategy=strategy)
            live = [
                f
                for f in await self._live_fills.book_fills(strategy=strategy)
                if since <= f.filled_at < until
            ]
            replay_by = _pnl(mine, self._fees, marks)
            live_by = _pnl(live, self._live_fees, marks)
            out.extend(
                StrategyPnl(
                    strategy,
                    currency,
                    replay_by.get(currency, Decimal(0)),
                    live_by.get(currency, Decimal(0)),
                )
                for currency in sorted({*replay_by, *live_by})
            )
        return tuple(out)


def _pnl(
    fills: list[BookFill], fees: FeeSchedule, marks: Mapping[tuple[Market, str], Decimal]
) -> dict[str, Decimal]:
    """Realised plus unrealised P&L per currency of ``fills`` replayed from flat."""
    book = build(fills, fees, LocalDay.of_markets())
    out: dict[str, Decimal] = {}
    for position in book.rows():
        mark = marks.get((position.market, position.ticker), position.last_price)
        unrealised = position.unrealised(mark) or Decimal(0)
        currency = CURRENCY[position.market]
        out[currency] = out.get(currency, Decimal(0)) + position.realised + unrealised
    return out


def alert_of(row: Mapping[str, Any]) -> Alert | None:
    """The alert a recorded signal row holds, under its recorded key (None: not an alert)."""
    try:
        fields = alerts.decode_body((row["payload"] or "{}").encode("utf-8"))
        alert = alerts.parse_alert(fields, row["received_at"])
    except SignalRejectedError:
        return None
    return dataclasses.replace(alert, key=row["signal_key"])
