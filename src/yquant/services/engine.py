"""The engine's use case: an accepted signal becomes orders (or a rejection with a reason)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal

from yquant import failpoints
from yquant.adapters.bus import ORDERS, Bus, Entry
from yquant.adapters.db.recorder import Recorder
from yquant.domain.model import Action, Alert, SignalStatus
from yquant.domain.sizing import plan_orders
from yquant.errors import DatabaseUnavailableError
from yquant.services.records import (
    alert_from_message,
    order_row,
    order_to_message,
    signal_row,
)
from yquant.settings import Settings

logger = logging.getLogger(__name__)


class Engine:
    def __init__(self, *, settings: Settings, recorder: Recorder, bus: Bus) -> None:
        self._settings = settings
        self._recorder = recorder
        self._bus = bus
        self._holdings: dict[tuple[str, str], Decimal] = {}

    async def handle_signal(self, entry: Entry) -> None:
        alert = alert_from_message(entry.data)
        failpoints.hit("engine.after_consume")
        strategy = self._settings.strategy(alert.strategy)
        accounts = self._settings.routed_accounts(alert.strategy)
        holdings = await self._holdings_for(alert, accounts)
        plan = plan_orders(alert, accounts, strategy.quantity, holdings)

        for order in plan.orders:
            await self._recorder.write("order.insert", order_row(order))
        failpoints.hit("engine.after_orders_recorded")
        for order in plan.orders:
            await self._bus.publish(ORDERS, order_to_message(order))

        status = SignalStatus.ORDERED if plan.orders else SignalStatus.REJECTED
        detail = ", ".join(f"{a}: {r}" for a, r in plan.skipped) or None
        await self._recorder.write(
            "signal.advance",
            signal_row(
                key=alert.key,
                worker=self._settings.worker.name,
                status=status,
                received_at=alert.received_at,
                updated_at=datetime.now(UTC),
                alert=alert,
                reason=plan.reason,
                detail=detail,
            ),
        )
        logger.info(
            "signal decided key=%s status=%s orders=%d reason=%s",
            alert.key,
            status.value,
            len(plan.orders),
            plan.reason,
        )
        await self._bus.announce({"type": "signal", "key": alert.key, "status": status.value})

    async def _holdings_for(self, alert: Alert, accounts: list[str]) -> dict[str, Decimal]:
        """Shares of this ticker per account: from the database, or the last known values."""
        if alert.action is Action.BUY:
            return {}  # a buy is not sized from holdings
        try:
            held = await self._recorder.store.holdings(alert.ticker, accounts)
        except DatabaseUnavailableError:
            logger.warning("holdings from memory: database unavailable key=%s", alert.key)
        else:
            for account in accounts:
                self._holdings[(account, alert.ticker)] = held.get(account, Decimal(0))
        return {a: self._holdings.get((a, alert.ticker), Decimal(0)) for a in accounts}
