"""Writes to the system of record that survive a database outage.

`Recorder.write` sends an operation to the database; when the database refuses, resets or hangs
(or the journal still holds an older write for the same key, which must go first) the operation
is appended to the local journal instead, and `relay` replays the journal in order once the
database is back, a batch of entries per transaction. Once the database answers again, writes
for keys with nothing in the journal go straight to it while the relay catches up. A signal
already recorded (recorded by this process in the last day, in the journal, or in the database
when it answers) is a repeat either way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Any

from yquant.adapters.db import codec
from yquant.adapters.db.journal import Journal
from yquant.adapters.db.rows import order_from_row, to_row
from yquant.adapters.db.statements import OPS
from yquant.adapters.db.store import SqlStore
from yquant.batching import Batcher
from yquant.domain.model import Order, SignalStatus
from yquant.domain.writes import InsertSignal, Write
from yquant.errors import DatabaseUnavailableError
from yquant.ports import Written

logger = logging.getLogger(__name__)


_Write = tuple[str, dict[str, Any], "asyncio.Future[bool]"]

# Journal entries replayed per transaction: one commit (and one journal delete) per batch
# instead of per entry. Runs of inserts of one kind go as one executemany (`Writes`).
REPLAY_BATCH = 500


class GroupCommit(Batcher[_Write]):
    """Writes that arrive while a commit is in flight share the next commit (one fsync).

    At low load every write commits alone, at once; under load the batch grows by itself, so
    throughput follows the disk's commit rate times the batch size instead of the commit rate.
    """

    def __init__(self, store: SqlStore) -> None:
        super().__init__(max_batch=256, name="group-commit")
        self._store = store

    async def submit(self, op: str, row: dict[str, Any]) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.put((op, row, future))
        return await future

    async def handle(self, batch: list[_Write]) -> None:
        try:
            results = await self._store.apply_many([(op, row) for op, row, _ in batch])
        except DatabaseUnavailableError as exc:
            for _, _, future in batch:
                _settle(future, exc=exc)
            return
        except Exception as failure:  # noqa: BLE001 - handed to the writers' futures
            if len(batch) == 1:
                _settle(batch[0][2], exc=failure)
                return
            # One bad write must not fail the others: commit them one by one.
            for op, row, future in batch:
                try:
                    _settle(future, result=await self._store.apply(op, row))
                except Exception as single:  # noqa: BLE001 - handed to the writer's future
                    _settle(future, exc=single)
            return
        for (_, _, future), changed in zip(batch, results, strict=True):
            _settle(future, result=changed)


def _settle(
    future: asyncio.Future[bool], *, result: bool = False, exc: BaseException | None = None
) -> None:
    if future.done():
        return  # the writer gave up waiting (cancelled); nothing to tell
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


class RecentKeys:
    """Signal keys this process recorded in the last ``ttl_s`` seconds (at most ``size``).

    While the database is out of reach, a repeat of a signal it already holds would otherwise
    look new: the journal only knows what waits in it. A process restarted during an outage
    starts empty; the database's unique key still catches the repeat on replay.
    """

    def __init__(self, size: int = 100_000, ttl_s: float = 86_400.0) -> None:
        self._size = size
        self._ttl_s = ttl_s
        self._at: dict[str, float] = {}  # in the order recorded: the oldest first

    def add(self, key: str) -> None:
        now = time.monotonic()
        self._at.pop(key, None)
        self._at[key] = now
        while len(self._at) > self._size or next(iter(self._at.values())) < now - self._ttl_s:
            del self._at[next(iter(self._at))]

    def __contains__(self, key: str) -> bool:
        at = self._at.get(key)
        return at is not None and at >= time.monotonic() - self._ttl_s

    def __len__(self) -> int:
        return len(self._at)


class Recorder:
    def __init__(self, store: SqlStore, journal: Journal) -> None:
        self.store = store
        self.journal = journal
        self.database_up = True
        self._wake = asyncio.Event()
        self._commits = GroupCommit(store)
        self._recent = RecentKeys()

    async def close(self) -> None:
        await self._commits.close()

    async def order(self, client_order_id: str) -> dict[str, Any] | None:
        """The order's stored row (DatabaseUnavailableError when the database does not answer)."""
        return await self.store.order(client_order_id)

    async def signals_waiting(self, worker: str, before: datetime) -> list[dict[str, Any]]:
        """Signals ``worker`` recorded before ``before`` that no engine has decided yet."""
        return await self.store.signals_waiting(worker, before)

    def waiting(self) -> int:
        """Writes waiting in the journal for the database."""
        return self.journal.depth

    async def write(self, write: Write) -> Written:
        """Store ``write`` in the database, or in the journal while the database is away (known
        from the last call) or an older write for the same key waits there. A write does not
        wait out the database timeout again once it is known to be away: the relay finds out
        when it is back."""
        op, row = to_row(write)
        _table, key, _ = OPS[op]
        remember = isinstance(write, InsertSignal) and write.status is not SignalStatus.REJECTED
        if self.database_up and not self.journal.holds(op, str(row[key])):
            try:
                changed = await self._commits.submit(op, row)
            except DatabaseUnavailableError as exc:
                if self.database_up:
                    logger.warning("database unavailable, journaling writes reason=%s", exc)
                self.database_up = False
            else:
                self.database_up = True
                if remember:  # stored now, or the database had it already: recorded either way
                    self._recent.add(str(row[key]))
                return Written.STORED if changed else Written.UNCHANGED
        if op == "signal.insert" and await self._recorded(str(row[key])):
            return Written.UNCHANGED
        if not self.journal.append(op, str(row[key]), codec.encode(row)):
            return Written.UNCHANGED
        if remember:
            self._recent.add(str(row[key]))
        self._wake.set()
        return Written.JOURNALED

    async def rehearse(self, writes: list[Write]) -> None:
        """The statements of ``writes`` compiled, their effect undone (`SqlStore.rehearse`).
        Never raises: a database away is left for the real writes to find, and a rehearsal
        that fails costs only the first writes' compiles."""
        try:
            await self.store.rehearse([to_row(w) for w in writes])
        except DatabaseUnavailableError as exc:
            logger.info("writes not rehearsed: %s", exc)
        except Exception:  # e.g. a lock wait lost to the other worker's rehearsal
            logger.warning("writes not rehearsed", exc_info=True)

    async def stored_order(self, client_order_id: str) -> Order | None:
        """The order as the database holds it, or None when it holds no such order."""
        row = await self.store.order(client_order_id)
        return None if row is None else order_from_row(row)

    async def _recorded(self, key: str) -> bool:
        """Whether a signal is recorded already while the database is away or older writes wait
        in the journal: recorded by this process lately, in the journal, or in the database
        when it answers (the journal is checked first, so a signal the relay moves across in
        between is seen in one or the other)."""
        if key in self._recent or self.journal.has_signal(key):
            return True
        if not self.database_up:
            return False
        try:
            return await self.store.has_signal(key)
        except DatabaseUnavailableError as exc:
            logger.warning("database unavailable, journaling writes reason=%s", exc)
            self.database_up = False
            return False

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

    async def replay_batch(self, limit: int = REPLAY_BATCH) -> int:
        """Replay the oldest ``limit`` journal entries in one transaction, then delete them;
        the number replayed. DatabaseUnavailableError leaves them all in the journal."""
        batch = self.journal.peek(limit)
        if not batch:
            return 0
        items = [(op, codec.decode(OPS[op][0], payload)) for _, op, payload in batch]
        try:
            await self.store.replay_many(_grouped(items))
        except DatabaseUnavailableError:
            raise
        except Exception:
            if len(batch) == 1:
                raise
            # One bad entry must not hold back the others: replay up to it one by one; its
            # own failure then stops the relay as before.
            logger.warning("journal batch failed, replaying one by one count=%d", len(batch))
            for (seq, _, _), (op, row) in zip(batch, items, strict=True):
                await self.store.apply(op, row)
                self.journal.remove_through(seq)
        else:
            self.journal.remove_through(batch[-1][0])
        logger.info("journal replayed count=%d left=%d", len(batch), self.journal.depth)
        return len(batch)


def _grouped(items: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """``items`` reordered so that writes of one kind over the same columns sit together (a run
    of inserts goes as one executemany), while the writes for any one key keep their order.

    Each write goes to the layer of its position among its key's writes (the first write of
    every key in layer 0, the second in layer 1, ...); layers keep their order, and within a
    layer, where every key appears at most once, writes are grouped by operation. Writes for
    different keys are independent of each other (see `writes`), so only the per-key order
    matters."""
    seen: dict[tuple[str, str], int] = {}
    ranked = []
    for index, (op, row) in enumerate(items):
        written = (op.partition(".")[0], str(row[OPS[op][1]]))
        layer = seen.get(written, 0)
        seen[written] = layer + 1
        ranked.append((layer, op, tuple(row), index))
    ranked.sort()
    return [items[index] for *_, index in ranked]


async def _wait_any(stop: asyncio.Event, other: asyncio.Event | None, timeout_s: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait())]
    if other is not None:
        waiters.append(asyncio.ensure_future(other.wait()))
    try:
        await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
