"""Cancelling recorded orders from outside the gateway: `yquant cancel`, and the dashboard.

The orders are found in the system of record (by client order id or broker order id, or every
working order matching an account, a strategy, a ticker). An order already final is answered
here, nothing sent. For the others a `CancelOrder` goes on ``yq:cancels`` to the gateway of this
worker (the process that holds the broker connections), which records ``cancel_requested``,
asks the broker, records its answer and leaves a `CancelAnswered` under the request's id. The
caller waits for the answers for a bounded time; an order still without one is reported
pending with its recorded status (the gateway keeps following it: ask again, or read
`yquant orders`). Cancelling twice is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from yquant.domain.commands import CancelOrder
from yquant.domain.events import CancelAnswered
from yquant.domain.model import ENDED_BY_CANCEL, Order, OrderStatus
from yquant.domain.reasons import ReasonCode
from yquant.errors import DatabaseUnavailableError
from yquant.ports import Bus, Clock, Recorder, WorkingOrders
from yquant.services.manual import gateway_alive


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    """What became of one order asked to cancel.

    ``done``: it ended cancelled or expired (possibly partly filled). ``pending``: the cancel
    was sent and no answer came within the wait (``status`` is the recorded one). Otherwise
    ``reason`` says why it was not cancelled (not found, already final or filled first, not
    yet acknowledged by the broker, refused by it, no gateway running)."""

    ref: str  # what the order was asked by
    order: Order | None  # as recorded when asked
    status: OrderStatus | None
    filled_quantity: Decimal
    done: bool = False
    pending: bool = False
    reason: ReasonCode | None = None

    @property
    def client_order_id(self) -> str | None:
        return None if self.order is None else self.order.client_order_id


class OrderCancels:
    """Find working orders and have the gateway cancel them, waiting for its answers."""

    def __init__(
        self,
        *,
        orders: WorkingOrders,
        recorder: Recorder,
        bus: Bus,
        clock: Clock,
        poll_s: float = 0.2,
    ) -> None:
        self._orders = orders
        self._recorder = recorder
        self._bus = bus
        self._clock = clock
        self._poll_s = poll_s

    async def find(self, ref: str) -> Order | None:
        """The order whose client order id (or else broker order id) is ``ref``."""
        return await self._orders.find_order(ref.strip())

    async def working(
        self,
        *,
        account: str | None = None,
        strategy: str | None = None,
        ticker: str | None = None,
    ) -> list[Order]:
        """Orders not yet final that match every filter given."""
        return await self._orders.working_orders(account=account, strategy=strategy, ticker=ticker)

    async def cancel_ref(
        self, ref: str, *, wait_s: float, reason: ReasonCode = ReasonCode.CANCELLED_BY_OPERATOR
    ) -> CancelOutcome:
        """Cancel the order ``ref`` names (client or broker order id)."""
        order = await self.find(ref)
        if order is None:
            return CancelOutcome(ref, None, None, Decimal(0), reason=ReasonCode.NOT_FOUND)
        [outcome] = await self.cancel([order], wait_s=wait_s, reason=reason, refs=[ref])
        return outcome

    async def cancel(
        self,
        orders: Sequence[Order],
        *,
        wait_s: float,
        reason: ReasonCode = ReasonCode.CANCELLED_BY_OPERATOR,
        refs: Sequence[str] | None = None,
    ) -> list[CancelOutcome]:
        """Cancel ``orders`` (as found by `find` or `working`), one outcome each in order."""
        refs = list(refs) if refs is not None else [o.client_order_id for o in orders]
        outcomes: list[CancelOutcome | None] = [None] * len(orders)
        asked: dict[int, CancelOrder] = {}
        now = self._clock.now()
        for i, order in enumerate(orders):
            if order.status.is_final:
                outcomes[i] = _final(refs[i], order)
            elif order.status is OrderStatus.AWAITING_APPROVAL:
                # Never sent: no broker to ask. Rejecting it (yquant reject) is what ends it.
                outcomes[i] = CancelOutcome(
                    refs[i],
                    order,
                    order.status,
                    order.filled_quantity,
                    reason=ReasonCode.AWAITING_APPROVAL,
                )
            else:
                asked[i] = CancelOrder(order.client_order_id, uuid.uuid4().hex, now, reason)
        if asked and not await gateway_alive(self._bus, self._clock):
            for i in asked:
                outcomes[i] = CancelOutcome(
                    refs[i],
                    orders[i],
                    orders[i].status,
                    orders[i].filled_quantity,
                    reason=ReasonCode.GATEWAY_NOT_RUNNING,
                )
            asked = {}
        if asked:
            await self._bus.send_many(list(asked.values()))
        deadline = self._clock.monotonic() + wait_s
        while asked:
            for i, command in list(asked.items()):
                outcome = await self._settled(refs[i], orders[i], command)
                if outcome is not None:
                    outcomes[i] = outcome
                    del asked[i]
            if not asked or self._clock.monotonic() >= deadline:
                break
            await asyncio.sleep(self._poll_s)
        for i in asked:
            outcomes[i] = await self._pending(refs[i], orders[i])
        return [o for o in outcomes if o is not None]

    async def _settled(self, ref: str, order: Order, command: CancelOrder) -> CancelOutcome | None:
        """The outcome once the gateway answered, or once the order's row shows it ended (an
        answer lost with a gateway's restart); None while neither."""
        answer = await self._bus.answered(command.request_id)
        if answer is not None:
            return _answered(ref, order, answer)
        row = await self._row(order)
        if row is not None and row.status.is_final:
            ended = row.status in ENDED_BY_CANCEL
            why = None if ended else ReasonCode.ALREADY_FINAL
            return CancelOutcome(ref, order, row.status, row.filled_quantity, ended, reason=why)
        return None

    async def _pending(self, ref: str, order: Order) -> CancelOutcome:
        row = await self._row(order) or order
        return CancelOutcome(ref, order, row.status, row.filled_quantity, pending=True)

    async def _row(self, order: Order) -> Order | None:
        with contextlib.suppress(DatabaseUnavailableError):
            return await self._recorder.stored_order(order.client_order_id)
        return None


def _final(ref: str, order: Order) -> CancelOutcome:
    return CancelOutcome(
        ref, order, order.status, order.filled_quantity, reason=ReasonCode.ALREADY_FINAL
    )


def _answered(ref: str, order: Order, answer: CancelAnswered) -> CancelOutcome:
    return CancelOutcome(
        ref,
        order,
        answer.status,
        answer.filled_quantity,
        done=answer.done,
        reason=answer.reason,
    )
