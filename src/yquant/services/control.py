"""The kill switch: set by operators (CLI, dashboard), read by the engine before every decision.

States: ``active``, ``reduce_only`` (only orders that shrink positions) and ``halted``; one switch
for everything (scope ``global``) and one per account; the stricter applies. Every change is
stored with an audit entry (who, when, why) in the database both workers share.

The engine reads the switches from the database for each signal. When the database does not
answer it uses the last states it read, which it also keeps in a small file in the data
directory, so that a worker started during a database outage still honours a halt.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from yquant.domain.reasons import ReasonCode
from yquant.domain.risk import KillState, strictest
from yquant.errors import DatabaseUnavailableError, RejectedError
from yquant.files import atomic_write
from yquant.ports import SwitchRecord, SwitchRecords

logger = logging.getLogger(__name__)

GLOBAL = "global"
MAX_REASON = 300


class ControlError(RejectedError):
    """A kill-switch request that cannot be carried out as asked (bad scope, no reason): refused,
    nothing changed.

    ``code`` (also ``reason``) is stable (a client translates it); the message is English, for
    logs and the CLI.
    """

    def __init__(self, message: str, code: ReasonCode) -> None:
        super().__init__(code, message, message=message)
        self.code = code


class Control:
    """The operator's use case: change a switch, read them all, read the audit log."""

    def __init__(self, records: SwitchRecords, accounts: Iterable[str]) -> None:
        self._sql = records
        self._accounts = frozenset(accounts)

    async def set(
        self, scope: str, state: KillState, *, actor: str, reason: str, now: datetime
    ) -> str:
        """Set ``scope`` (``global`` or an account) to ``state``; returns the state it had."""
        scope = scope.strip() or GLOBAL
        if scope != GLOBAL and scope not in self._accounts:
            known = ", ".join(sorted(self._accounts))
            raise ControlError(
                f"unknown account {scope!r} (known: {known}, or global)", ReasonCode.UNKNOWN_SCOPE
            )
        reason = " ".join(reason.split())
        if not reason:
            raise ControlError("a reason is required", ReasonCode.REASON_REQUIRED)
        if len(reason) > MAX_REASON:
            raise ControlError(
                f"the reason is longer than {MAX_REASON} characters", ReasonCode.REASON_TOO_LONG
            )
        before = await self._sql.set_switch(scope, state.value, actor=actor, reason=reason, now=now)
        logger.info(
            "kill switch scope=%s state=%s actor=%s before=%s", scope, state.value, actor, before
        )
        return before

    async def switches(self) -> dict[str, SwitchRecord]:
        return await self._sql.switches()

    async def audit(self, limit: int = 50) -> list[dict[str, object]]:
        return await self._sql.audit(limit)


class KillSwitchView:
    """The engine's reading of the switches, with a last-known fallback."""

    def __init__(self, records: SwitchRecords, snapshot: Path | None) -> None:
        self._sql = records
        self._snapshot = snapshot
        self._states: dict[str, KillState] | None = None
        self._reading: asyncio.Future[dict[str, KillState]] | None = None

    async def refresh(self) -> dict[str, KillState]:
        """Read from the database; on an outage keep (or load) the last known states. Callers
        that come while a read is under way share it (a burst of decisions reads once, not
        once each: what was committed before the read began is what any of them would see)."""
        reading = self._reading
        if reading is None or reading.done():
            reading = self._reading = asyncio.ensure_future(self._refresh())
        return await asyncio.shield(reading)

    async def _refresh(self) -> dict[str, KillState]:
        try:
            records = await self._sql.switches()
        except DatabaseUnavailableError:
            if self._states is None:
                self._states = self._load()
                logger.warning("kill switch from the local snapshot: database unavailable")
            return self._states
        states = {scope: _state(r.state) for scope, r in records.items()}
        if states != self._states:
            self._states = states
            self._save(states)
        return states

    def known(self) -> dict[str, KillState]:
        """The last states read, without asking the database."""
        if self._states is None:
            self._states = self._load()
        return self._states

    def state_for(self, account: str, states: dict[str, KillState] | None = None) -> KillState:
        states = self.known() if states is None else states
        return strictest(states.get(GLOBAL), states.get(account))

    def _load(self) -> dict[str, KillState]:
        if self._snapshot is None or not self._snapshot.exists():
            return {}
        try:
            raw = json.loads(self._snapshot.read_text())
            return {str(k): _state(str(v)) for k, v in raw.items()}
        except (OSError, ValueError):
            # An unreadable snapshot must not trade as if nothing were known: halt everything.
            logger.error("kill switch snapshot unreadable; treating as halted")
            return {GLOBAL: KillState.HALTED}

    def _save(self, states: dict[str, KillState]) -> None:
        if self._snapshot is None:
            return
        try:
            atomic_write(self._snapshot, json.dumps({k: v.value for k, v in states.items()}))
        except OSError as exc:
            logger.warning("kill switch snapshot not written error=%s", exc)


def _state(value: str) -> KillState:
    try:
        return KillState(value)
    except ValueError:
        # A state this version does not know is treated as the strictest, never as active.
        return KillState.HALTED
