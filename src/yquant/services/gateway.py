"""The gateway's use case: every order to the broker once, then followed to a final state.

Before anything is sent the broker is asked whether it already knows the order (a redelivered
or repeated message, or a crash after sending): what it says is recorded instead of sending
again. The intent (``submitted``) is recorded before the broker call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from yquant import failpoints
from yquant.adapters.bus import EXECUTIONS, Bus, Entry
from yquant.adapters.db.recorder import Recorder
from yquant.domain.model import Order, OrderStatus
from yquant.errors import DatabaseUnavailableError
from yquant.ports import Broker, BrokerOrder
from yquant.services.records import fill_row, fill_to_message, order_from_row, order_row

logger = logging.getLogger(__name__)


class Gateway:
    def __init__(self, *, recorder: Recorder, bus: Bus, broker: Broker) -> None:
        self._recorder = recorder
        self._bus = bus
        self._broker = broker
        self._open: dict[str, Order] = {}
        self._published: set[str] = set()  # fill ids announced by this process

    async def handle_order(self, entry: Entry) -> None:
        order = order_from_row(entry.data)
        known = await self._broker.get_order(order)
        if known is None:
            await self._recorder.write(
                "order.advance",
                order_row(order.evolve(status=OrderStatus.SUBMITTED, updated_at=_now())),
            )
            known = await self._broker.submit(order)
            failpoints.hit("gateway.after_submit")
        await self._apply(order, known)

    async def reconcile_open(self) -> None:
        """At start: every order left in flight is settled with the broker before new work."""
        try:
            rows = await self._recorder.store.open_orders()
        except DatabaseUnavailableError:
            logger.warning("open orders not reconciled: database unavailable")
            return
        for row in rows:
            order = order_from_row(row)
            known = await self._broker.get_order(order)
            if known is None:
                # The broker has no trace: it was never placed. Place it now.
                logger.info("order never reached the broker, sending cid=%s", order.client_order_id)
                known = await self._broker.submit(order)
            await self._apply(order, known)

    async def track(self, stop: asyncio.Event, interval_s: float = 1.0) -> None:
        """Follow open orders until they are final."""
        while not stop.is_set():
            for order in list(self._open.values()):
                known = await self._broker.get_order(order)
                if known is not None:
                    await self._apply(order, known)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)

    async def _apply(self, order: Order, known: BrokerOrder) -> None:
        for fill in known.fills:
            if fill.fill_id in self._published:
                continue
            await self._recorder.write("fill.insert", fill_row(fill))
            await self._bus.publish(EXECUTIONS, fill_to_message(fill))
            self._published.add(fill.fill_id)
        updated = order.evolve(
            status=known.status,
            filled_quantity=known.filled_quantity,
            avg_fill_price=known.avg_fill_price,
            broker_order_id=known.broker_order_id,
            reason=known.reason,
            updated_at=_now(),
        )
        await self._recorder.write("order.advance", order_row(updated))
        if known.status.is_final:
            self._open.pop(order.client_order_id, None)
        else:
            self._open[order.client_order_id] = updated
        if (order.status, order.filled_quantity) != (known.status, known.filled_quantity):
            logger.info(
                "order cid=%s status=%s filled=%s",
                order.client_order_id,
                known.status.value,
                known.filled_quantity,
            )
            await self._bus.announce(
                {"type": "order", "cid": order.client_order_id, "status": known.status.value}
            )


def _now() -> datetime:
    return datetime.now(UTC)
