"""Liquidation: sell what a filter of the book holds, as one operation with one id.

`Liquidator.plan` reads the book (`BookService`: each strategy's own positions, never the
``unattributed`` shares) for the filter (`LiquidationFilter`: account, strategy, market,
ticker), prices every position (`Prices`: a quote, the last price seen, the catalog's base
price; else the position's latest fill) and lists exactly what would be sold, the estimated
proceeds per currency, the working orders that would be cancelled first (every working order
the filter matches, so that none fills behind the liquidation), the kill switch and the market
session of each position, and why the liquidation would be refused as it stands. Nothing is
recorded or sent.

`Liquidator.execute` carries a plan out once confirmed: it plans again and refuses when the
book changed since the plan shown (review it again), when the kill switch of an account is
``halted`` (``reduce_only`` allows it: every order is a sell), when this worker is not the
active one or no gateway is running, or
when a market is closed (unless ``at_open``: then each sell waits in the queue of the next open
and is decided again then). Otherwise it records the liquidation (who, when, the filter), has
the gateway cancel the working orders (``yq:cancels``) and waits for their answers, then sells
each position through the engine's own decision (`ManualOrders.place`, as `yquant sell` does:
catalog, session, risk limits, kill switch, book), a market sell of exactly the position's
quantity (capped by what the broker holds) under the position's strategy, so that the fills
close that strategy's position in the book. A market sell on KIS US goes out as a limit at the
account's band below the last price (the KIS adapter's rule: KIS takes no US market order).
Each sell's signal key names the liquidation (``liq-<id>-<n>``), its order carries
``orders.liquidation_id`` and the signal log shows the source ``liquidation:<id>``.

Every liquidation recorded (carried out, partly, or refused) is told to the notifier as
``liquidation_done`` (`liquidation_notice`, id ``liquidation_done:<id>``): its status, the
positions sold and not sold, the orders cancelled, with the filter's account and strategy (or
the one account / strategy it touched) for the channels' routing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from yquant.domain import market_rules
from yquant.domain.liquidation import (
    LiquidationFilter,
    LiquidationStatus,
    new_id,
    signal_key,
    source,
)
from yquant.domain.model import CURRENCY, Market, Order, Side, client_order_id
from yquant.domain.notices import Level, Notice, NoticeKind, notice
from yquant.domain.reasons import ReasonCode
from yquant.domain.risk import KillState
from yquant.errors import DatabaseUnavailableError, SignalRejectedError
from yquant.ports import (
    NO_NOTICES,
    Bus,
    Clock,
    Instruments,
    KillSwitch,
    LiquidationRecord,
    LiquidationRecords,
    Mark,
    Notices,
    PriceSource,
    Recorder,
)
from yquant.services import routing
from yquant.services.book import BookService, HoldingsFrom
from yquant.services.cancels import CancelOutcome, OrderCancels
from yquant.services.decisions import Decider
from yquant.services.manual import ManualOrders, ManualRequest, gateway_alive, wait_for_outcome
from yquant.services.worker_state import ActiveRole
from yquant.settings import Settings

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

__all__ = [
    "LiquidationFilter",
    "LiquidationPlan",
    "LiquidationResult",
    "LiquidationStatus",
    "Liquidator",
    "PlanItem",
    "SellOutcome",
]


@dataclass(frozen=True, slots=True)
class PlanItem:
    """One position the liquidation sells: all of it, at market."""

    account: str
    strategy: str
    market: Market
    exchange: str
    ticker: str
    quantity: Decimal
    avg_cost: Decimal
    price: Decimal | None  # the current price (None: none known)
    price_source: str | None  # quote, last seen, catalog
    price_at: datetime | None
    kill_switch: KillState
    market_open: bool  # or the account trades at any hour (paper)
    next_open_at: datetime | None  # when the market is closed: its next open
    blocked: ReasonCode | None = None  # why this position cannot be sold now
    blocked_detail: str = ""

    @property
    def currency(self) -> str:
        return CURRENCY[self.market]

    @property
    def estimated_proceeds(self) -> Decimal | None:
        """Quantity x the current price, before commission and taxes; None without a price."""
        return None if self.price is None else self.quantity * self.price

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.account, self.strategy, self.market.value, self.ticker)

    def as_dict(self) -> dict[str, Any]:
        proceeds = self.estimated_proceeds
        return {
            "account": self.account,
            "strategy": self.strategy,
            "market": self.market.value,
            "exchange": self.exchange,
            "ticker": self.ticker,
            "quantity": _text(self.quantity),
            "avg_cost": _text(self.avg_cost),
            "price": None if self.price is None else _text(self.price),
            "price_source": self.price_source,
            "price_at": None if self.price_at is None else self.price_at.isoformat(),
            "currency": self.currency,
            "estimated_proceeds": None if proceeds is None else _text(proceeds),
            "kill_switch": self.kill_switch.value,
            "market_open": self.market_open,
            "next_open_at": None if self.next_open_at is None else self.next_open_at.isoformat(),
            "blocked": None if self.blocked is None else self.blocked.value,
            "blocked_detail": self.blocked_detail,
        }


@dataclass(frozen=True, slots=True)
class LiquidationPlan:
    """What a liquidation would do now: the sells, the cancels before them, and its refusal
    (``refusal`` None: it can go ahead)."""

    filter: LiquidationFilter
    at: datetime
    at_open: bool
    items: tuple[PlanItem, ...]
    cancels: tuple[Order, ...]  # the working orders cancelled first
    refusal: ReasonCode | None = None
    refusal_detail: str = ""

    @property
    def proceeds(self) -> dict[str, Decimal]:
        """Estimated proceeds per currency (the positions with a price)."""
        sums: dict[str, Decimal] = {}
        for item in self.items:
            value = item.estimated_proceeds
            if value is not None:
                sums[item.currency] = sums.get(item.currency, Decimal(0)) + value
        return dict(sorted(sums.items()))

    @property
    def unpriced(self) -> int:
        """Positions without a price (not in `proceeds`)."""
        return sum(1 for i in self.items if i.price is None)

    @property
    def ready(self) -> bool:
        return self.refusal is None

    def fingerprint(self) -> str:
        """The positions and quantities it sells, as text: a form carries it from the plan
        shown to the confirmation (`same_sells`)."""
        return ";".join(sorted(f"{'|'.join(i.key)}|{i.quantity.normalize():f}" for i in self.items))

    def same_sells(self, other: LiquidationPlan | str) -> bool:
        """Whether ``other`` (a plan, or its `fingerprint`) sells the same positions in the
        same quantities."""
        theirs = other if isinstance(other, str) else other.fingerprint()
        return self.fingerprint() == theirs

    def as_dict(self) -> dict[str, Any]:
        return {
            "filter": self.filter.as_dict(),
            "at": self.at.isoformat(),
            "at_open": self.at_open,
            "items": [i.as_dict() for i in self.items],
            "cancels": [_order_dict(o) for o in self.cancels],
            "proceeds": {c: _text(v) for c, v in self.proceeds.items()},
            "unpriced": self.unpriced,
            "refusal": None if self.refusal is None else self.refusal.value,
            "refusal_detail": self.refusal_detail,
        }


@dataclass(frozen=True, slots=True)
class SellOutcome:
    """What became of one position's sell."""

    item: PlanItem
    signal_key: str
    status: str  # the order's last known status; "queued" (for the open); "rejected"
    reason: ReasonCode | str | None = None
    detail: str = ""
    client_order_id: str | None = None
    quantity: Decimal | None = None  # the order's quantity
    filled_quantity: Decimal = Decimal(0)
    avg_fill_price: Decimal | None = None

    @property
    def made(self) -> bool:
        """An order was made (or queued for the open)."""
        return self.status != "rejected"

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.item.account,
            "strategy": self.item.strategy,
            "market": self.item.market.value,
            "ticker": self.item.ticker,
            "signal_key": self.signal_key,
            "status": self.status,
            "reason": None if self.reason is None else str(self.reason),
            "detail": self.detail,
            "client_order_id": self.client_order_id,
            "quantity": None if self.quantity is None else _text(self.quantity),
            "filled_quantity": _text(self.filled_quantity),
            "avg_fill_price": None if self.avg_fill_price is None else _text(self.avg_fill_price),
        }


@dataclass(frozen=True, slots=True)
class LiquidationResult:
    """A liquidation carried out (or refused): its id, the plan it followed, the cancels'
    and the sells' outcomes. ``id`` is None when nothing was recorded (no confirmation)."""

    id: str | None
    plan: LiquidationPlan
    status: LiquidationStatus
    reason: ReasonCode | None = None
    detail: str = ""
    cancels: tuple[CancelOutcome, ...] = ()
    sells: tuple[SellOutcome, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.value,
            "reason": None if self.reason is None else self.reason.value,
            "detail": self.detail,
            "plan": self.plan.as_dict(),
            "cancels": [_cancel_dict(c) for c in self.cancels],
            "sells": [s.as_dict() for s in self.sells],
        }


class Liquidator:
    """Plans and carries out liquidations over the book, the cancels and the engine."""

    def __init__(
        self,
        *,
        settings: Settings,
        book: BookService,
        cancels: OrderCancels,
        manual: ManualOrders,
        decider: Decider,
        kill_switch: KillSwitch,
        records: LiquidationRecords,
        instruments: Instruments,
        recorder: Recorder,
        bus: Bus,
        clock: Clock,
        role: ActiveRole | None = None,
        cancel_wait_s: float | None = None,
        order_wait_s: float | None = None,
        notices: Notices = NO_NOTICES,
    ) -> None:
        self._settings = settings
        self._notices = notices
        self._book = book
        self._cancels = cancels
        self._manual = manual
        self._decider = decider
        self._kill = kill_switch
        self._records = records
        self._instruments = instruments
        self._recorder = recorder
        self._bus = bus
        self._clock = clock
        self._role = role
        section = settings.liquidation
        self._cancel_wait_s = section.cancel_wait_s if cancel_wait_s is None else cancel_wait_s
        self._order_wait_s = section.order_wait_s if order_wait_s is None else order_wait_s

    # ---- planning -------------------------------------------------------------------------

    async def plan(self, filter: LiquidationFilter, *, at_open: bool = False) -> LiquidationPlan:
        """What a liquidation of ``filter`` would sell and cancel now; nothing recorded or
        sent. DatabaseUnavailableError when the book cannot be read."""
        now = self._clock.now()
        if filter.account is not None and filter.account not in self._settings.accounts:
            known = ", ".join(sorted(self._settings.accounts))
            return LiquidationPlan(
                filter,
                now,
                at_open,
                (),
                (),
                ReasonCode.UNKNOWN_ACCOUNT,
                f"{filter.account}: not configured (known: {known})",
            )
        view = await self._book.view(
            account=filter.account, strategy=filter.strategy, holdings=HoldingsFrom.NONE
        )
        states = await self._kill.refresh()
        items = []
        for row in view.rows:
            position = row.position
            if not filter.matches(position):
                continue
            mark = row.mark
            if mark is None and position.last_price is not None and position.last_fill_at:
                # No price seen since (the account sync records the fills' prices later).
                mark = Mark(position.last_price, position.last_fill_at, PriceSource.FILL)
            items.append(
                self._item(
                    position.account,
                    position.strategy,
                    position.market,
                    position.exchange,
                    position.ticker,
                    position.quantity,
                    position.avg_cost,
                    None if mark is None else mark.price,
                    None if mark is None else _source_name(mark.source),
                    None if mark is None else mark.at,
                    states,
                    now,
                )
            )
        cancels = await self._working(filter, {i.account for i in items})
        plan = LiquidationPlan(filter, now, at_open, tuple(items), tuple(cancels))
        refusal, detail = self._refusal(plan)
        return replace(plan, refusal=refusal, refusal_detail=detail)

    def _item(
        self,
        account: str,
        strategy: str,
        market: Market,
        exchange: str,
        ticker: str,
        quantity: Decimal,
        avg_cost: Decimal,
        price: Decimal | None,
        price_source: str | None,
        price_at: datetime | None,
        states: dict[str, KillState],
        now: datetime,
    ) -> PlanItem:
        exchange = exchange or self._exchange_of(market, ticker)
        kill = self._kill.state_for(account, states)
        blocked: ReasonCode | None = None
        detail = ""
        opened, next_open = True, None
        if account not in self._settings.accounts:
            blocked, detail = ReasonCode.UNKNOWN_ACCOUNT, f"{account}: not configured"
        elif kill is KillState.HALTED:
            blocked, detail = ReasonCode.HALTED, f"the kill switch of {account} is halted"
        try:
            venue = market_rules.venue_for(exchange)
        except SignalRejectedError as exc:
            blocked, detail = blocked or exc.reason, detail or exc.detail
        else:
            if blocked is None and routing.follows_sessions(self._settings, account):
                state = self._decider.calendar(venue).state(now)
                opened, next_open = state.is_open, state.next_open_at
                if not opened:
                    opens = state.local(next_open) or "unknown"
                    blocked, detail = ReasonCode.MARKET_CLOSED, f"{venue.exchange} opens {opens}"
        return PlanItem(
            account=account,
            strategy=strategy,
            market=market,
            exchange=exchange,
            ticker=ticker,
            quantity=quantity,
            avg_cost=avg_cost,
            price=price,
            price_source=price_source,
            price_at=price_at,
            kill_switch=kill,
            market_open=opened,
            next_open_at=next_open,
            blocked=blocked,
            blocked_detail=detail,
        )

    def _exchange_of(self, market: Market, ticker: str) -> str:
        """The exchange of a position whose fills named none: the catalog's listing."""
        for listed in self._instruments.find(ticker):
            if listed.market == market.value:
                return listed.exchange
        return "KRX" if market is Market.KR else "NASDAQ"

    async def _working(self, filter: LiquidationFilter, accounts: set[str]) -> list[Order]:
        """The working orders the filter matches (an order of an account that is not
        configured has no gateway to cancel it: left out)."""
        found = await self._cancels.working(
            account=filter.account, strategy=filter.strategy, ticker=filter.ticker
        )
        return [
            o
            for o in found
            if (filter.market is None or o.market is filter.market)
            and o.account in self._settings.accounts
            and not o.status.is_final
        ]

    @staticmethod
    def _refusal(plan: LiquidationPlan) -> tuple[ReasonCode | None, str]:
        if not plan.items and not plan.cancels:
            return ReasonCode.NO_POSITION, f"nothing to liquidate ({plan.filter.describe()})"
        for item in plan.items:
            if item.blocked is ReasonCode.MARKET_CLOSED and plan.at_open:
                continue  # queued for the open
            if item.blocked is not None:
                where = f"{item.account} {item.strategy} {item.ticker}"
                return item.blocked, f"{where}: {item.blocked_detail}"
        return None, ""

    # ---- carrying out ---------------------------------------------------------------------

    async def execute(
        self,
        target: LiquidationPlan | LiquidationFilter,
        *,
        requested_by: str,
        source: str,
        confirm: bool,
        at_open: bool | None = None,
        shown: str | None = None,
    ) -> LiquidationResult:
        """Carry out ``target``: a plan that was shown (refused if the book changed since),
        or a filter (planned now, for a caller that already has its confirmation: a
        schedule). ``confirm`` must be True; ``requested_by`` (a user, ``schedule``) and
        ``source`` (``cli``, ``dashboard``, ``schedule:<name>``) are recorded with it.
        ``at_open``: a closed market's sells wait for its next open (default: the plan's).
        ``shown``: the `LiquidationPlan.fingerprint` of the plan the user confirmed, where
        only that came back (a web form): refused, as for a plan, if the book changed."""
        expected: LiquidationPlan | str | None = shown
        if isinstance(target, LiquidationPlan):
            expected = target if shown is None else shown
            wanted, opens = target.filter, target.at_open if at_open is None else at_open
        else:
            wanted, opens = target, bool(at_open)
        plan = await self.plan(wanted, at_open=opens)
        if not confirm:
            return LiquidationResult(
                None,
                plan,
                LiquidationStatus.REFUSED,
                ReasonCode.CONFIRMATION_REQUIRED,
                "a liquidation needs a confirmation: nothing was done",
            )
        now = self._clock.now()
        liquidation_id = new_id(now)
        reason, detail = plan.refusal, plan.refusal_detail
        if reason is None and expected is not None and not plan.same_sells(expected):
            reason = ReasonCode.PLAN_CHANGED
            detail = "the book changed since the plan was shown: review the plan again"
        if reason is None and self._role is not None and not await self._role.is_active():
            # Only the active worker's gateway sends: a standby's orders would wait.
            reason, detail = ReasonCode.NOT_ACTIVE, "this worker is standby"
        if reason is None and not await gateway_alive(self._bus, self._clock):
            reason, detail = ReasonCode.GATEWAY_NOT_RUNNING, "no gateway heartbeat"
        record = LiquidationRecord(
            id=liquidation_id,
            requested_by=requested_by,
            source=source,
            requested_at=now,
            filters=wanted.as_dict(),
            at_open=opens,
            status=(LiquidationStatus.PLANNED if reason is None else LiquidationStatus.REFUSED),
            reason=None if reason is None else reason.value,
            detail={"plan": plan.as_dict(), "detail": detail},
            updated_at=now,
        )
        await self._records.add(record)
        if reason is not None:
            logger.info(
                "liquidation refused id=%s by=%s filter=%s reason=%s",
                liquidation_id,
                requested_by,
                wanted.describe(),
                reason,
            )
            refused = LiquidationResult(
                liquidation_id, plan, LiquidationStatus.REFUSED, reason, detail
            )
            await self._tell(refused, requested_by, source)
            return refused
        logger.info(
            "liquidation started id=%s by=%s source=%s filter=%s sells=%d cancels=%d",
            liquidation_id,
            requested_by,
            source,
            wanted.describe(),
            len(plan.items),
            len(plan.cancels),
        )
        cancelled = await self._cancels.cancel(
            list(plan.cancels), wait_s=self._cancel_wait_s, reason=ReasonCode.CANCELLED_BY_OPERATOR
        )
        sells = await self._sell(liquidation_id, plan)
        result = _result(liquidation_id, plan, tuple(cancelled), sells)
        await self._records.finish(
            liquidation_id,
            status=result.status.value,
            reason=None if result.reason is None else result.reason.value,
            detail=result.as_dict(),
            now=self._clock.now(),
        )
        logger.info(
            "liquidation finished id=%s status=%s sells=%d made=%d",
            liquidation_id,
            result.status,
            len(sells),
            sum(1 for s in sells if s.made),
        )
        await self._tell(result, requested_by, source)
        return result

    async def _tell(self, result: LiquidationResult, requested_by: str, source: str) -> None:
        told = liquidation_notice(result, requested_by, source, self._clock.now())
        if told is not None:
            await self._notices.notify(told)  # never waits for a channel, never raises

    async def _sell(self, liquidation_id: str, plan: LiquidationPlan) -> tuple[SellOutcome, ...]:
        """Each position's sell, made one after the other, then followed together until each
        is final (or rests, or ``order_wait_s`` passes)."""
        made = []
        for n, item in enumerate(plan.items, start=1):
            key = signal_key(liquidation_id, n)
            request = ManualRequest(
                account=item.account,
                side=Side.SELL,
                market=item.market,
                exchange=item.exchange,
                ticker=item.ticker,
                quantity=item.quantity,
                limit_price=None,
                price=item.price,
                source=source(liquidation_id),
                strategy=item.strategy,
                key=key,
            )
            outcome = await self._manual.place(
                request, wait_s=0, allow_resize=True, keep_queued=plan.at_open
            )
            sent = outcome.status not in ("rejected", "queued")
            made.append(
                SellOutcome(
                    item,
                    key,
                    outcome.status,
                    outcome.reason,
                    outcome.detail,
                    # Deterministic: the order the engine made of this signal for the account.
                    client_order_id(key, item.account) if sent else None,
                    outcome.sent,
                )
            )
        rows = await asyncio.gather(*(self._follow(s) for s in made))
        return tuple(rows)

    async def _follow(self, sell: SellOutcome) -> SellOutcome:
        if sell.client_order_id is None:
            return sell
        row = await wait_for_outcome(
            self._recorder, self._clock, sell.client_order_id, self._order_wait_s
        )
        if row is None:
            return sell
        return replace(
            sell,
            status=str(row["status"]),
            reason=row.get("reason") or sell.reason,
            filled_quantity=Decimal(str(row.get("filled_quantity") or 0)),
            avg_fill_price=(
                None if row.get("avg_fill_price") is None else Decimal(str(row["avg_fill_price"]))
            ),
        )

    # ---- reading --------------------------------------------------------------------------

    async def history(self, limit: int = 20) -> list[LiquidationRecord]:
        """The latest liquidations, newest first."""
        return await self._records.recent(limit)

    async def show(self, liquidation_id: str) -> tuple[LiquidationRecord, list[Order]] | None:
        """One liquidation and its orders as recorded now."""
        record = await self._records.get(liquidation_id.strip())
        if record is None:
            return None
        orders = []
        for cid in await self._records.order_ids(record.id):
            try:
                stored = await self._recorder.stored_order(cid)
            except DatabaseUnavailableError:
                stored = None
            if stored is not None:
                orders.append(stored)
        return record, orders


def _result(
    liquidation_id: str,
    plan: LiquidationPlan,
    cancels: tuple[CancelOutcome, ...],
    sells: Sequence[SellOutcome],
) -> LiquidationResult:
    made = [s for s in sells if s.made]
    if sells and len(made) == len(sells):
        status, reason, detail = LiquidationStatus.DONE, None, ""
    elif made:
        first = next(s for s in sells if not s.made)
        status, reason = LiquidationStatus.PARTIAL, _code(first.reason)
        detail = f"{len(sells) - len(made)} of {len(sells)} sells refused"
    elif sells:
        status, reason = LiquidationStatus.REFUSED, _code(sells[0].reason)
        detail = "every sell was refused"
    else:
        status, reason, detail = LiquidationStatus.DONE, None, "working orders cancelled only"
    return LiquidationResult(liquidation_id, plan, status, reason, detail, cancels, tuple(sells))


def liquidation_notice(
    result: LiquidationResult, requested_by: str, source: str, at: datetime
) -> Notice | None:
    """What the notifier is told of a recorded liquidation (None: nothing was recorded, no
    confirmation). Its account and strategy are the filter's, else the one account (strategy)
    its sells and cancels touched: a channel routed to one strategy gets the liquidations of
    that strategy's positions. A refused liquidation is an error, the others a warning."""
    if result.id is None:
        return None
    plan = result.plan
    wanted = plan.filter
    touched = [(i.account, i.strategy, i.market) for i in plan.items]
    touched += [(o.account, o.strategy, o.market) for o in plan.cancels]
    sold = [s for s in result.sells if s.made]
    unsold = [s for s in result.sells if not s.made]
    cancelled = [c.client_order_id or c.ref for c in result.cancels if c.done]
    pending = [c.client_order_id or c.ref for c in result.cancels if not c.done]
    market = wanted.market or _only(m for _, _, m in touched)
    return notice(
        NoticeKind.LIQUIDATION_DONE,
        result.id,
        at,
        level=Level.ERROR if result.status is LiquidationStatus.REFUSED else None,
        account=wanted.account or _only(a for a, _, _ in touched),
        strategy=wanted.strategy or _only(s for _, s, _ in touched),
        liquidation=result.id,
        status=result.status.value,
        reason=None if result.reason is None else result.reason.value,
        detail=result.detail or None,
        scope=wanted.describe(),
        market=None if market is None else market.value,
        ticker=wanted.ticker,
        sold=", ".join(_sold(s) for s in sold) or None,
        not_sold=", ".join(_sold(s) for s in unsold) or None,
        orders=", ".join(s.client_order_id for s in sold if s.client_order_id) or None,
        cancelled=", ".join(cancelled) or None,
        not_cancelled=", ".join(pending) or None,
        actor=requested_by,
        source=source,
    )


def _only(values: Iterable[_T]) -> _T | None:
    """The one value of ``values``, or None for none or several."""
    distinct = set(values)
    return next(iter(distinct)) if len(distinct) == 1 else None


def _sold(sell: SellOutcome) -> str:
    """``<strategy> <ticker> ×<quantity>`` of one sell (its order's quantity, else the
    position's)."""
    quantity = sell.quantity if sell.quantity is not None else sell.item.quantity
    return f"{sell.item.strategy} {sell.item.ticker} ×{_text(quantity)}"


def _code(value: ReasonCode | str | None) -> ReasonCode | None:
    if value is None or isinstance(value, ReasonCode):
        return value
    try:
        return ReasonCode(value)
    except ValueError:
        return ReasonCode.REJECTED


def _source_name(value: PriceSource) -> str:
    return value.value


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral_value() else str(value)


def _order_dict(order: Order) -> dict[str, Any]:
    return {
        "client_order_id": order.client_order_id,
        "account": order.account,
        "strategy": order.strategy,
        "market": order.market.value,
        "ticker": order.ticker,
        "side": order.side.value,
        "order_type": order.order_type.value,
        "quantity": _text(order.quantity),
        "filled_quantity": _text(order.filled_quantity),
        "limit_price": None if order.limit_price is None else _text(order.limit_price),
        "status": order.status.value,
    }


def _cancel_dict(outcome: CancelOutcome) -> dict[str, Any]:
    return {
        "client_order_id": outcome.client_order_id,
        "status": None if outcome.status is None else outcome.status.value,
        "done": outcome.done,
        "pending": outcome.pending,
        "reason": None if outcome.reason is None else str(outcome.reason),
        "filled_quantity": _text(outcome.filled_quantity),
    }
