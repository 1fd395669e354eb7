"""Receiving an alert: authenticate, parse, dedupe, record durably, enqueue.

The reply is decided here, not in the web layer: 200 only once the signal is durably recorded
(database commit or fsynced journal); 4xx for anything the sender must fix (never retried by
TradingView); 5xx only when the alert could not be recorded at all.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from yquant.adapters.bus import SIGNALS, Bus
from yquant.adapters.db.recorder import Recorder, Written
from yquant.domain import alerts
from yquant.domain.model import SignalStatus
from yquant.errors import BusUnavailableError, SignalRejectedError
from yquant.services.records import alert_to_message, signal_row

logger = logging.getLogger(__name__)

HTTP_FOR_REASON = {
    alerts.BAD_SECRET: 401,
    "source_not_allowed": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "body_too_large": 413,
    "unsupported_media_type": 415,
    "throttled": 429,
}


@dataclass(frozen=True, slots=True)
class Receipt:
    http_status: int
    body: dict[str, Any]


class Ingest:
    def __init__(
        self,
        *,
        recorder: Recorder,
        bus: Bus,
        secret: str,
        worker: str,
        max_age_s: float | None = None,
    ) -> None:
        self._recorder = recorder
        self._bus = bus
        self._secret = secret
        self._worker = worker
        self._max_age_s = max_age_s

    async def receive(self, body: bytes, *, source_ip: str | None, now: datetime) -> Receipt:
        fields: dict[str, Any] | None = None
        try:
            fields = alerts.decode_body(body)
            alerts.check_secret(fields, self._secret)
            alert = alerts.parse_alert(fields, now, max_age_s=self._max_age_s)
        except SignalRejectedError as exc:
            return await self.reject(exc, source_ip, now, fields)

        row = signal_row(
            key=alert.key,
            worker=self._worker,
            status=SignalStatus.ACCEPTED,
            received_at=now,
            updated_at=now,
            alert=alert,
            source_ip=source_ip,
            fields=fields,
        )
        written = await self._recorder.write("signal.insert", row)
        if written is Written.UNCHANGED:
            return Receipt(200, {"status": "duplicate", "signal": alert.key})
        try:
            await self._bus.publish(
                SIGNALS,
                alert_to_message(alert),
                event={"type": "signal", "key": alert.key, "status": "accepted"},
            )
        except BusUnavailableError as exc:
            # Recorded durably; the sweeper enqueues it when Valkey is back.
            logger.warning("signal recorded but not enqueued key=%s reason=%s", alert.key, exc)
        return Receipt(200, {"status": "accepted", "signal": alert.key, "stored": written.value})

    async def reject(
        self,
        exc: SignalRejectedError,
        source_ip: str | None,
        now: datetime,
        fields: dict[str, Any] | None = None,
    ) -> Receipt:
        """Record a refused request in the signal log (reason and source) and answer it."""
        # Authentication failures keep nothing the sender wrote: only the reason and the source.
        kept = None if exc.reason == alerts.BAD_SECRET else fields
        row = signal_row(
            key="rej-" + uuid.uuid4().hex,
            worker=self._worker,
            status=SignalStatus.REJECTED,
            received_at=now,
            updated_at=now,
            reason=exc.reason,
            detail=exc.detail,
            source_ip=source_ip,
            fields=kept,
        )
        await self._recorder.write("signal.insert", row)
        await self._bus.announce({"type": "signal", "status": "rejected", "reason": exc.reason})
        return Receipt(
            HTTP_FOR_REASON.get(exc.reason, 400),
            {"status": "rejected", "reason": exc.reason, "detail": exc.detail},
        )


async def sweep_waiting(recorder: Recorder, bus: Bus, worker: str, before: datetime) -> int:
    """Enqueue again the signals this worker recorded that no engine has finished yet.

    Covers a crash (or a Valkey outage) between the durable record and the enqueue. The alert is
    rebuilt from the stored fields and its arrival time, which gives back the same signal key;
    enqueueing twice is harmless because orders are keyed by signal key and account.
    """
    waiting = await recorder.store.signals_waiting(worker, before)
    sent = 0
    for row in waiting:
        try:
            fields = json.loads(row["payload"] or "{}")
            alert = alerts.parse_alert(fields, row["received_at"])
        except (SignalRejectedError, ValueError, TypeError):
            logger.error("stored signal cannot be rebuilt key=%s", row["signal_key"])
            continue
        if alert.key != row["signal_key"]:
            logger.error("stored signal rebuilds to another key key=%s", row["signal_key"])
            continue
        await bus.publish(SIGNALS, alert_to_message(alert))
        sent += 1
    if sent:
        logger.info("re-enqueued waiting signals count=%d", sent)
    return sent
