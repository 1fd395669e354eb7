"""Receiving an alert: authenticate, parse, dedupe, record durably, enqueue.

The reply is decided here, not in the web layer: 200 only once the signal is durably recorded
(database commit or fsynced journal); 4xx for anything the sender must fix (never retried by
TradingView); 5xx only when the alert could not be recorded at all.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from yquant.batching import Batcher
from yquant.domain import alerts
from yquant.domain.commands import DecideSignal
from yquant.domain.events import SignalRefused, SignalsAccepted
from yquant.domain.model import Alert, SignalStatus
from yquant.domain.reasons import ReasonCode
from yquant.domain.writes import AdvanceSignal, InsertSignal
from yquant.errors import (
    BusUnavailableError,
    DatabaseUnavailableError,
    JournalUnavailableError,
    SignalRejectedError,
)
from yquant.ports import Bus, Clock, Recorder, Written

logger = logging.getLogger(__name__)

HTTP_FOR_REASON = {
    ReasonCode.BAD_SECRET: 401,
    ReasonCode.SOURCE_NOT_ALLOWED: 403,
    ReasonCode.NOT_FOUND: 404,
    ReasonCode.METHOD_NOT_ALLOWED: 405,
    ReasonCode.BODY_TOO_LARGE: 413,
    ReasonCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ReasonCode.THROTTLED: 429,
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
        self._outbox = Outbox(bus)

    async def flush(self) -> None:
        """Wait until what was accepted so far has been handed to the stream."""
        await self._outbox.flush()

    async def close(self) -> None:
        """Hand the engine what was accepted and not yet enqueued (call after the last request)."""
        await self._outbox.close(timeout_s=5.0)

    async def receive(self, body: bytes, *, source_ip: str | None, now: datetime) -> Receipt:
        fields: dict[str, Any] | None = None
        try:
            fields = alerts.decode_body(body)
            alerts.check_secret(fields, self._secret)
            alert = alerts.parse_alert(fields, now, max_age_s=self._max_age_s)
        except SignalRejectedError as exc:
            return await self.reject(exc, source_ip, now, fields)

        row = InsertSignal(
            key=alert.key,
            worker=self._worker,
            status=SignalStatus.ACCEPTED,
            received_at=now,
            updated_at=now,
            alert=alert,
            source_ip=source_ip,
            fields=fields,
        )
        written = await self._recorder.write(row)
        if written is Written.UNCHANGED:
            # Nothing new: the first copy stays the signal. The repeat still goes in the log.
            await self._log_refusal(
                ReasonCode.DUPLICATE, f"repeat of signal {alert.key}", source_ip, now, fields
            )
            return Receipt(200, {"status": "duplicate", "signal": alert.key})
        # Durable now: answer at once; the engine gets it with the next batch to the stream.
        self._outbox.put(alert)
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
        kept = None if exc.reason == ReasonCode.BAD_SECRET else fields
        await self._log_refusal(exc.reason, exc.detail, source_ip, now, kept)
        return Receipt(
            HTTP_FOR_REASON.get(exc.reason, 400),
            {"status": "rejected", "reason": exc.reason, "detail": exc.detail},
        )

    async def _log_refusal(
        self,
        reason: ReasonCode,
        detail: str,
        source_ip: str | None,
        now: datetime,
        fields: dict[str, Any] | None,
    ) -> None:
        row = InsertSignal(
            key="rej-" + uuid.uuid4().hex,
            worker=self._worker,
            status=SignalStatus.REJECTED,
            received_at=now,
            updated_at=now,
            reason=reason,
            detail=detail,
            source_ip=source_ip,
            fields=fields,
        )
        try:
            await self._recorder.write(row)
        except (DatabaseUnavailableError, JournalUnavailableError) as exc:
            # Neither the database nor the journal takes it. The answer stays the refusal (a
            # 5xx would make TradingView send the same refused request again).
            logger.error(
                "refusal not logged reason=%s source=%s error=%s",
                reason,
                source_ip,
                type(exc).__name__,
            )
            return
        await self._bus.announce(SignalRefused(reason))


class Outbox(Batcher[Alert]):
    """Accepted alerts on their way to the engine's stream, after the reply: whatever gathered
    while one batch was being sent goes as the next batch, in order, in one round trip.

    Losing a batch loses nothing: its signals are recorded as accepted, and the sweeper enqueues
    again what no engine has taken up (a crash here, or Valkey away).
    """

    def __init__(self, bus: Bus) -> None:
        super().__init__(max_batch=500, name="signal-outbox")
        self._bus = bus

    async def handle(self, batch: list[Alert]) -> None:
        try:
            await self._bus.send_many(
                [DecideSignal(a) for a in batch], event=SignalsAccepted(len(batch))
            )
        except BusUnavailableError as exc:
            logger.warning(
                "signals recorded but not enqueued count=%d first=%s reason=%s",
                len(batch),
                batch[0].key,
                exc,
            )


async def sweep_waiting(
    recorder: Recorder, bus: Bus, worker: str, before: datetime, *, clock: Clock
) -> int:
    """Enqueue again the signals this worker recorded that no engine has finished yet.

    Covers a crash (or a Valkey outage) between the durable record and the enqueue. The alert is
    parsed again from the stored fields and its arrival time, under its recorded key; enqueueing
    twice is harmless because orders are keyed by signal key and account. A row whose fields do
    not parse is closed as rejected (``not_rebuildable``), so that it leaves the waiting set
    instead of holding up the signals behind it.
    """
    waiting = await recorder.signals_waiting(worker, before)
    sent = 0
    for row in waiting:
        try:
            fields = alerts.decode_body((row["payload"] or "{}").encode())
            alert = alerts.parse_alert(fields, row["received_at"])
        except (SignalRejectedError, ValueError, TypeError) as exc:
            why = exc.reason if isinstance(exc, SignalRejectedError) else type(exc).__name__
            detail = f"the stored fields do not parse: {why}"
            await _give_up(recorder, row, detail, clock.now())
            continue
        if alert.key != row["signal_key"]:
            # Recorded by a version that derived keys differently: the stored key is the
            # signal's identity (any order already made for it is keyed by it).
            logger.info("stored signal keeps its recorded key key=%s", row["signal_key"])
            alert = dataclasses.replace(alert, key=row["signal_key"])
        await bus.send(DecideSignal(alert))
        sent += 1
    if sent:
        logger.info("re-enqueued waiting signals count=%d", sent)
    return sent


async def _give_up(recorder: Recorder, row: dict[str, Any], detail: str, now: datetime) -> None:
    logger.error("stored signal cannot be rebuilt key=%s detail=%s", row["signal_key"], detail)
    await recorder.write(
        AdvanceSignal(
            key=row["signal_key"],
            worker=row["worker"],
            status=SignalStatus.REJECTED,
            received_at=row["received_at"],
            updated_at=now,
            reason=ReasonCode.NOT_REBUILDABLE,
            detail=detail,
            provisional=True,  # a decision an engine records for it still wins
        ),
    )
