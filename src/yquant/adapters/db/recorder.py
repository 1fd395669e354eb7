"""Writes to the system of record that survive a database outage.

`Recorder.write` sends an operation to the database; when the database refuses, resets or hangs
(or the journal still holds older writes, which must go first) the operation is appended to the
local journal instead, and `relay` replays the journal in order once the database is back.
"""

from __future__ import annotations

import asyncio
import logging
from enum import StrEnum
from typing import Any

from yquant.adapters.db import codec
from yquant.adapters.db.journal import Journal
from yquant.adapters.db.store import OPS, SqlStore
from yquant.errors import DatabaseUnavailableError

logger = logging.getLogger(__name__)


class Written(StrEnum):
    STORED = "stored"  # the database has it (new or moved forward)
    UNCHANGED = "unchanged"  # the database already had it (duplicate or older)
    JOURNALED = "journaled"  # on local disk, to be replayed


class Recorder:
    def __init__(self, store: SqlStore, journal: Journal) -> None:
        self.store = store
        self.journal = journal
        self.database_up = True
        self._wake = asyncio.Event()

    async def write(self, op: str, row: dict[str, Any]) -> Written:
        _table, key, _ = OPS[op]
        if self.journal.depth == 0:
            try:
                changed = await self.store.apply(op, row)
            except DatabaseUnavailableError as exc:
                if self.database_up:
                    logger.warning("database unavailable, journaling writes reason=%s", exc)
                self.database_up = False
            else:
                self.database_up = True
                return Written.STORED if changed else Written.UNCHANGED
        if not self.journal.append(op, str(row[key]), codec.encode(row)):
            return Written.UNCHANGED
        self._wake.set()
        return Written.JOURNALED

    async def relay(self, stop: asyncio.Event, idle_s: float = 1.0) -> None:
        """Replay journaled writes in order until ``stop`` is set."""
        backoff = 0.2
        while not stop.is_set():
            if self.journal.depth == 0:
                self._wake.clear()
                await _wait_any(stop, self._wake, idle_s)
                continue
            try:
                await self.replay_batch()
            except DatabaseUnavailableError:
                self.database_up = False
                await _wait_any(stop, None, backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.2
            self.database_up = True

    async def replay_batch(self) -> int:
        batch = self.journal.peek()
        done = 0
        for seq, op, payload in batch:
            table, _, _ = OPS[op]
            await self.store.apply(op, codec.decode(table, payload))
            self.journal.remove_through(seq)
            done += 1
        if done:
            logger.info("journal replayed count=%d left=%d", done, self.journal.depth)
        return done


async def _wait_any(stop: asyncio.Event, other: asyncio.Event | None, timeout_s: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait())]
    if other is not None:
        waiters.append(asyncio.ensure_future(other.wait()))
    try:
        await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
