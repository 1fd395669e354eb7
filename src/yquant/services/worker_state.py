"""What a worker keeps in memory from the database: the active role and the accounts.

Loaded at start and refreshed periodically. Each successful load is also written to a local
snapshot in the data directory, so a worker that starts while the database is away still knows
which worker is active and which accounts exist (and keeps trading), instead of starting empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from yquant.domain.roles import ROLE_REFRESH_S, Standing, handover_s
from yquant.errors import DatabaseUnavailableError
from yquant.files import atomic_write
from yquant.ports import Clock, DeploymentRoles, WorkerRecords
from yquant.settings import Settings

logger = logging.getLogger(__name__)

LOCAL_WORKER = "local"


@dataclass
class Snapshot:
    role: tuple[str, int] | None = None  # (active worker, epoch)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    loaded_at: str | None = None
    source: str = "none"  # database | snapshot | none


class ActiveRole:
    """Whether this worker holds the active role: asked of the database (`epoch`, and every
    `ROLE_REFRESH_S` by `watch`), and while the database is away, the last answer it gave.

    The embedded single-box worker ("local") is active unless a deployment row names another;
    a blue/green worker is active only when the recorded role names it. `standing` is the rule
    of who may send (see `Standing`): a worker newly named active is ``TAKING_OVER`` for
    ``handover_s`` after it first saw that, unless it already held the role at that epoch
    (its last snapshot said so: no other worker can have held it since).
    """

    def __init__(
        self,
        roles: DeploymentRoles,
        worker: str,
        last_known: tuple[str, int] | None = None,
        *,
        handover_s: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._roles = roles
        self.worker = worker
        self.last_known = last_known
        self._handover_s = handover_s
        self._monotonic = monotonic
        # When this worker was first seen holding the role at the epoch it holds now; a role
        # known before this process started counts as held long ago.
        self._held_since: float | None = float("-inf")
        self.refreshed = False  # whether the database answered at least once

    async def epoch(self) -> int | None:
        """This worker's epoch when it is active, else None (asked of the database now)."""
        with contextlib.suppress(DatabaseUnavailableError):
            self.observe(await self._roles.active())
        return self.epoch_of(self.last_known)

    async def is_active(self) -> bool:
        return await self.epoch() is not None

    def epoch_of(self, role: tuple[str, int] | None) -> int | None:
        if role is None:
            return 0 if self.worker == LOCAL_WORKER else None
        worker, epoch = role
        return epoch if worker == self.worker else None

    def observe(self, role: tuple[str, int] | None) -> None:
        """The database's answer: the active worker and its epoch (None: no deployment row)."""
        before = self.epoch_of(self.last_known)
        now = self.epoch_of(role)
        self.last_known = role
        self.refreshed = True
        if now is None:
            if before is not None and role is not None:
                logger.warning(
                    "this worker is no longer active (%s is, epoch %d): it sends and asks "
                    "brokers nothing more",
                    role[0],
                    role[1],
                )
            self._held_since = None
        elif now != before or self._held_since is None:
            self._held_since = self._monotonic()
            if role is not None:
                logger.warning(
                    "this worker is now active epoch=%d: brokers after a %.0f s handover",
                    now,
                    self._handover_s,
                )

    def standing(self) -> Standing:
        """From the last answer (no I/O): see `Standing`."""
        if self.epoch_of(self.last_known) is None:
            return Standing.STANDBY
        since = self._held_since
        if since is None or self._monotonic() - since < self._handover_s:
            return Standing.TAKING_OVER
        return Standing.ACTIVE

    async def watch(self, stop: asyncio.Event, every_s: float = ROLE_REFRESH_S) -> None:
        """Read the role every ``every_s`` until ``stop`` (the last answer is kept while the
        database does not answer)."""
        while not stop.is_set():
            await self.epoch()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)

    async def wait_until(self, stop: asyncio.Event, active: bool, poll_s: float = 0.1) -> bool:
        """Wait until this worker is ``ACTIVE`` (``active``) or no longer is; False on stop."""
        while not stop.is_set():
            if (self.standing() is Standing.ACTIVE) == active:
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_s)
        return False

    async def while_active(
        self, stop: asyncio.Event, work: Callable[[asyncio.Event], Awaitable[None]]
    ) -> None:
        """Run ``work(leave)`` each time this worker becomes ``ACTIVE``, until ``stop``;
        ``leave`` is set when it stops being active (or on ``stop``), and ``work`` returns."""
        while await self.wait_until(stop, active=True):
            leave = asyncio.Event()

            async def watch_leave(leave: asyncio.Event = leave) -> None:
                await self.wait_until(stop, active=False)
                leave.set()

            watcher = asyncio.create_task(watch_leave())
            try:
                await work(leave)
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            if not stop.is_set() and not leave.is_set():
                return  # ``work`` ended on its own


class WorkerState:
    def __init__(self, settings: Settings, records: WorkerRecords, clock: Clock) -> None:
        self._settings = settings
        self._records = records
        self._roles = records
        self._clock = clock
        self._path = settings.data_dir / "state" / "worker-state.json"
        self.current = Snapshot()
        self.role = ActiveRole(
            self._roles,
            settings.worker.name,
            handover_s=handover_s(settings.database.timeout_s),
            monotonic=clock.monotonic,
        )

    @property
    def worker(self) -> str:
        return self._settings.worker.name

    def is_active(self) -> bool:
        """From the last load (see ActiveRole for a fresh answer)."""
        return self.role.epoch_of(self.current.role) is not None

    async def load(self, *, register: bool = True) -> Snapshot:
        """Read role and accounts (after registering the configured accounts, at start)."""
        if not self.role.refreshed and self.role.last_known is None:
            # What this worker knew before it started: the same role and epoch from the
            # database means nobody else held the role since (no handover to wait out).
            known = self._read_snapshot()
            self.role.last_known = known.role if known is not None else None
        try:
            if register:
                await self._register_accounts()
            role = await self._roles.active()
            accounts = await self._records.accounts()
        except DatabaseUnavailableError as exc:
            snapshot = self._read_snapshot()
            if snapshot is not None:
                if self.current.source != "snapshot":
                    logger.warning("worker state from local snapshot reason=%s", exc)
                self.current = snapshot
            return self.current
        self.current = Snapshot(
            role=role,
            accounts=[_plain(a) for a in accounts],
            loaded_at=self._clock.now().isoformat(),
            source="database",
        )
        self.role.observe(role)
        self._write_snapshot(self.current)
        return self.current

    async def refresh_forever(self, stop: asyncio.Event, every_s: float = 10.0) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)
            if not stop.is_set():
                await self.load(register=False)

    async def _register_accounts(self) -> None:
        """The configured accounts (names, broker; never credentials) into the database."""
        now = self._clock.now()
        for name, account in self._settings.accounts.items():
            await self._records.register_account(name, account.broker, now)

    def _read_snapshot(self) -> Snapshot | None:
        try:
            data = json.loads(self._path.read_text())
        except (OSError, ValueError):
            return None
        role = data.get("role")
        return Snapshot(
            role=(role[0], int(role[1])) if role else None,
            accounts=list(data.get("accounts", [])),
            loaded_at=data.get("loaded_at"),
            source="snapshot",
        )

    def _write_snapshot(self, snapshot: Snapshot) -> None:
        """Atomically: a crash mid-write leaves the previous snapshot, never half a file.

        Several roles of one worker write it; each through its own temporary file. A snapshot
        that cannot be written is a warning, never a reason to stop trading.
        """
        payload = {
            "role": snapshot.role,
            "accounts": snapshot.accounts,
            "loaded_at": snapshot.loaded_at,
        }
        try:
            atomic_write(self._path, json.dumps(payload))
        except OSError as exc:
            logger.warning("worker state snapshot not written path=%s error=%s", self._path, exc)


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
