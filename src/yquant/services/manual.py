"""An operator's order (`yquant buy|sell`): the same checks and lifecycle as an alert.

The order is built as an alert of the strategy ``manual`` and decided by the engine's own
`Decider.decide` for the one named account (catalog, market session, sizing, risk limits, kill
switch: everything an alert meets), recorded, and published on ``yq:orders`` like the engine's
orders, so the gateway sends and follows it the same way. The signal log records it with its
outcome. The caller waits for the order to reach a final state (or to rest, for a limit).

The quantity is never changed silently: where the cash, the holdings or a limit would make the
order smaller than asked, it is refused with that reason (``capped_by_holdings``,
``capped_by_cash``, ``trimmed_to_...``) unless the operator allows the resize, and then the
outcome says what was sent instead of what was asked. An operator's order acts on the account's
holdings (``position_scope`` ``account``) and never cancel-replaces a working order.

Why not through ``yq:signals``: the engine routes a signal to the accounts its strategy names,
and an operator names one account; deciding here with ``accounts=[account]`` keeps every check
without a second routing rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from yquant.domain.book import MANUAL
from yquant.domain.model import Action, Alert, Market, OrderStatus, OrderType, Side, SignalStatus
from yquant.domain.reasons import ReasonCode
from yquant.domain.roles import HEARTBEAT_STALE_S
from yquant.domain.writes import InsertSignal, QueueOrder
from yquant.errors import DatabaseUnavailableError, SignalRejectedError
from yquant.ports import Broker, Bus, Clock, Instruments, Recorder
from yquant.services.decisions import Decider, Decision, OrderDesk

logger = logging.getLogger(__name__)

STRATEGY = MANUAL
KR_EXCHANGES = ("KRX", "KOSPI", "KOSDAQ", "KONEX")
US_EXCHANGES = ("NASDAQ", "NYSE", "AMEX")


@dataclass(frozen=True, slots=True)
class ManualRequest:
    """One operator order as asked: ``account`` and the instrument, side and quantity, a
    ``limit_price`` (None: a market order), the reference ``price`` sizing and checks use (a
    quote, the last price seen; the limit where none), and where it came from (``cli``,
    ``dashboard``)."""

    account: str
    side: Side
    market: Market
    exchange: str
    ticker: str
    quantity: Decimal
    limit_price: Decimal | None = None
    price: Decimal | None = None
    source: str = "cli"
    # The order's strategy (an operator's: ``manual``) and signal key (None: a new one; a
    # liquidation's sells: `yquant.domain.liquidation.signal_key`, which the engine decides
    # with the liquidation's rules; the source is then the comment).
    strategy: str = STRATEGY
    key: str | None = None


@dataclass(frozen=True, slots=True)
class ManualOutcome:
    signal_key: str
    status: str  # the order's last known status, or "rejected" when no order was made
    reason: ReasonCode | None = None
    detail: str = ""
    order: dict[str, Any] | None = None
    asked: Decimal | None = None  # the quantity the operator gave
    sent: Decimal | None = None  # the order's quantity, when an order was made
    resized_by: tuple[ReasonCode, ...] = ()  # why ``sent`` is less than ``asked``

    @property
    def resized(self) -> bool:
        return self.sent is not None and self.asked is not None and self.sent != self.asked


def parse_ticker(text: str, instruments: Instruments) -> tuple[Market, str, str]:
    """(market, exchange, ticker) from ``EXCHANGE:TICKER`` or a plain ticker the catalog knows."""
    exchange, _, ticker = text.strip().upper().rpartition(":")
    if exchange:
        if exchange in KR_EXCHANGES:
            return Market.KR, exchange, ticker
        if exchange in US_EXCHANGES:
            return Market.US, exchange, ticker
        raise SignalRejectedError(
            ReasonCode.UNKNOWN_EXCHANGE, f"{exchange!r}: use KRX or NASDAQ/NYSE/AMEX"
        )
    found = [x for x in instruments.find(ticker) if x.market in ("KR", "US")]
    if len(found) == 1:
        return Market(found[0].market), found[0].exchange, found[0].ticker
    if not found and ticker.isdigit() and len(ticker) == 6:
        return Market.KR, "KRX", ticker
    names = ", ".join(f"{x.exchange}:{x.ticker}" for x in found) or "nothing"
    raise SignalRejectedError(
        ReasonCode.UNKNOWN_TICKER, f"{ticker}: matches {names}; give EXCHANGE:TICKER"
    )


async def reference_price(
    broker: Broker, account: str, market: Market, exchange: str, ticker: str
) -> Decimal | None:
    """The account's broker's current price, where it can quote (KIS)."""
    answer = await broker.for_account(account).quote(market, exchange, ticker)
    return None if answer is None else answer.price


async def gateway_alive(bus: Bus, clock: Clock) -> bool:
    beats = await bus.heartbeats(["gateway"])
    beat = beats.get("gateway")
    return beat is not None and clock.now().timestamp() - float(beat["at"]) < HEARTBEAT_STALE_S


class ManualOrders:
    """Operator orders, decided and recorded like the engine's own."""

    def __init__(
        self,
        *,
        decider: Decider,
        desk: OrderDesk,
        recorder: Recorder,
        bus: Bus,
        clock: Clock,
        worker: str,
    ) -> None:
        self._decider = decider
        self._desk = desk
        self._recorder = recorder
        self._bus = bus
        self._clock = clock
        self._worker = worker

    def _alert(self, request: ManualRequest) -> Alert:
        return Alert(
            key=request.key or f"manual-{uuid.uuid4().hex[:24]}",
            strategy=request.strategy,
            ticker=request.ticker,
            exchange=request.exchange,
            market=request.market,
            action=Action.BUY if request.side is Side.BUY else Action.SELL,
            received_at=self._clock.now(),
            price=request.price if request.price is not None else request.limit_price,
            quantity=request.quantity,
            order_type=OrderType.LIMIT if request.limit_price is not None else OrderType.MARKET,
            limit_price=request.limit_price,
            comment=(
                f"operator order (yquant {request.source})"
                if request.key is None
                else request.source
            ),
        )

    async def preview(self, request: ManualRequest) -> Decision:
        """What `place` would decide now, with every check, and nothing recorded or sent."""
        alert = self._alert(request)
        return await self._decider.decide(alert, alert.received_at, accounts=[request.account])

    async def place(
        self,
        request: ManualRequest,
        *,
        wait_s: float,
        allow_resize: bool = False,
        keep_queued: bool = False,
    ) -> ManualOutcome:
        """Decide, record and send one order, and wait up to ``wait_s`` for its outcome.

        ``keep_queued``: a closed market queues the order for the next open (status
        ``queued``) instead of refusing it."""
        alert = self._alert(request)
        account, quantity, source = request.account, request.quantity, request.source
        now = alert.received_at
        if not await gateway_alive(self._bus, self._clock):
            return ManualOutcome(
                alert.key, "rejected", ReasonCode.GATEWAY_NOT_RUNNING, "no gateway heartbeat"
            )
        decision = await self._decider.decide(alert, now, accounts=[account])
        status, reason, detail = decision.summary()
        orders = decision.orders
        notes = tuple(n for o in decision.outcomes for n in o.notes)
        sent = orders[0].quantity if orders else None
        if decision.queued and keep_queued and decision.state is not None and decision.instrument:
            outcome = decision.queued[0]
            release_after, expires_at = self._decider.queue_times(decision.state)
            await self._record(alert, status, reason, detail, source, account, quantity)
            await self._recorder.write(
                QueueOrder(
                    alert,
                    outcome.account,
                    decision.instrument,
                    outcome.detail,
                    release_after=release_after,
                    expires_at=expires_at,
                    queued_at=now,
                )
            )
            return ManualOutcome(alert.key, "queued", ReasonCode.QUEUED, outcome.detail)
        if decision.queued:
            # An operator order is not kept for the next session: nothing was sent.
            orders, reason = [], reason or ReasonCode.MARKET_CLOSED
            status = SignalStatus.REJECTED
            detail = detail or "the market is closed; the order was not kept for the next session"
        elif sent is not None and sent != quantity and not allow_resize:
            # Never a different quantity than asked without the operator's say.
            orders, status = [], SignalStatus.REJECTED
            reason = notes[0] if notes else ReasonCode.REJECTED
            detail = (
                f"{_qty(quantity)} asked, {_qty(sent)} possible ({', '.join(notes)});"
                " nothing was sent (--allow-resize sends the smaller order)"
            )
        await self._record(alert, status, reason, detail, source, account, quantity)
        if not orders:
            return ManualOutcome(alert.key, "rejected", reason, detail, None, quantity, sent, notes)
        recorded = await self._desk.send(orders, self._clock.now(), approval=False)
        await self._desk.publish(recorded)
        order = recorded[0]
        logger.info(
            "manual order sent cid=%s account=%s quantity=%s asked=%s",
            order.client_order_id,
            account,
            order.quantity,
            quantity,
        )
        row = await wait_for_outcome(self._recorder, self._clock, order.client_order_id, wait_s)
        final = row["status"] if row else order.status.value
        return ManualOutcome(
            alert.key,
            final,
            row.get("reason") if row else None,
            detail if order.quantity != quantity else "",
            row,
            quantity,
            order.quantity,
            notes if order.quantity != quantity else (),
        )

    async def _record(
        self,
        alert: Alert,
        status: SignalStatus,
        reason: ReasonCode | None,
        detail: str,
        source: str,
        account: str,
        quantity: Decimal,
    ) -> None:
        """The signal log's row of the order, with its outcome."""
        now = alert.received_at
        await self._recorder.write(
            InsertSignal(
                key=alert.key,
                worker=self._worker,
                status=status,
                received_at=now,
                updated_at=now,
                alert=alert,
                reason=reason,
                detail=detail,
                fields={"source": source, "account": account, "quantity": str(quantity)},
            ),
        )


def _qty(value: Decimal) -> str:
    return format(value.normalize(), "f")


async def wait_for_outcome(
    recorder: Recorder, clock: Clock, cid: str, wait_s: float
) -> dict[str, Any] | None:
    """The order's row once it is final (or resting, for a limit), or the last seen at timeout."""
    deadline = clock.monotonic() + wait_s
    last: dict[str, Any] | None = None
    while clock.monotonic() < deadline:
        with contextlib.suppress(DatabaseUnavailableError):
            last = await recorder.order(cid) or last
        if last is not None:
            status = OrderStatus(last["status"])
            resting = status is OrderStatus.ACCEPTED and last.get("order_type") == "limit"
            if status.is_final or resting:
                return last
        await asyncio.sleep(0.2)
    return last
