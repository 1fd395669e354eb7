"""Work items that arrive while a batch is being handled go together as the next batch.

At low load every item is handled alone, at once; under load the batch grows by itself, so one
round trip (a commit, a pipeline) serves many items.

`Lookup` merges the look-ups that arrive together into one query. `Turns` lets work items
handled side by side (so that their round trips are shared) still take one step in the order
they arrived, per key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

logger = logging.getLogger(__name__)


def settle(answers: Iterable[asyncio.Future[V]], exc: BaseException) -> None:
    """Hand ``exc`` to every caller of a batch that failed whole (one still waiting)."""
    for answer in answers:
        if not answer.done():
            answer.set_exception(exc)


class Batcher(Generic[T]):
    """Hands items to ``handle`` in arrival order, at most ``max_batch`` at a time, from one task
    (started with the first item). ``handle`` must not raise: it settles its own failures."""

    def __init__(self, max_batch: int, name: str) -> None:
        self._max_batch = max_batch
        self._name = name
        self._pending: list[T] = []
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def put(self, item: T) -> None:
        self._pending.append(item)
        self._idle.clear()
        self._ready.set()
        task = self._task
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            self._task = asyncio.create_task(self._run(), name=self._name)

    async def flush(self, timeout_s: float = 5.0) -> None:
        """Wait until everything put so far has been handled."""
        async with asyncio.timeout(timeout_s):
            await self._idle.wait()

    async def close(self, timeout_s: float = 0.0) -> None:
        """Handle what is pending (for at most ``timeout_s``), then stop."""
        if timeout_s > 0:
            with contextlib.suppress(TimeoutError):
                await self.flush(timeout_s)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def handle(self, batch: list[T]) -> None:
        raise NotImplementedError

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    await self.handle(batch)
                except Exception:
                    # A fault of handle's own: the items behind this batch must not wait for it.
                    logger.exception("batch failed name=%s size=%d", self._name, len(batch))
            self._idle.set()


class Turn:
    """One item's place in the queues of some keys (`Turns.take`)."""

    def __init__(
        self,
        turns: Turns,
        taken: dict[Hashable, tuple[asyncio.Future[None] | None, asyncio.Future[None]]],
    ) -> None:
        self._turns = turns
        self._taken = taken

    async def wait(self, keys: Iterable[Hashable] | None = None) -> None:
        """Until every item taken before this one for ``keys`` (default: all of its keys) has
        ended its turn."""
        for key in self._taken if keys is None else keys:
            before = self._taken[key][0]
            if before is not None:
                await asyncio.shield(before)

    def end(self, keys: Iterable[Hashable] | None = None) -> None:
        """This item's turn for ``keys`` (default: all; again: nothing) is over."""
        for key in list(self._taken) if keys is None else keys:
            self._turns._end(key, self._taken[key][1])  # noqa: SLF001


class Turns:
    """Per key, items take a step one at a time in the order they took their turn (`take`,
    called in arrival order before the item first waits for anything)."""

    def __init__(self) -> None:
        self._last: dict[Hashable, asyncio.Future[None]] = {}

    def take(self, keys: Iterable[Hashable]) -> Turn:
        loop = asyncio.get_running_loop()
        taken: dict[Hashable, tuple[asyncio.Future[None] | None, asyncio.Future[None]]] = {}
        for key in keys:
            if key in taken:
                continue
            mine: asyncio.Future[None] = loop.create_future()
            taken[key] = (self._last.get(key), mine)
            self._last[key] = mine
        return Turn(self, taken)

    def _end(self, key: Hashable, mine: asyncio.Future[None]) -> None:
        if not mine.done():
            mine.set_result(None)
        if self._last.get(key) is mine:
            del self._last[key]


class Lookup(Batcher[tuple[list[K], "asyncio.Future[dict[K, V]]"]]):
    """Look-ups by key (``fetch(keys)``: what is found, by key) that arrive while one is under
    way go together as the next one: under load, one query answers many callers."""

    def __init__(
        self, fetch: Callable[[list[K]], Awaitable[dict[K, V]]], name: str, max_batch: int = 256
    ) -> None:
        super().__init__(max_batch, name)
        self._fetch = fetch

    async def get(self, keys: list[K]) -> dict[K, V]:
        """What ``fetch`` finds of ``keys``; its exception when it fails."""
        if not keys:
            return {}
        answer: asyncio.Future[dict[K, V]] = asyncio.get_running_loop().create_future()
        self.put((keys, answer))
        return await answer

    async def handle(self, batch: list[tuple[list[K], asyncio.Future[dict[K, V]]]]) -> None:
        wanted = list(dict.fromkeys(k for keys, _ in batch for k in keys))
        try:
            found = await self._fetch(wanted)
        except Exception as exc:  # noqa: BLE001 - handed to each caller, who handles it as its own
            settle((answer for _, answer in batch), exc)
            return
        for keys, answer in batch:
            if not answer.done():
                answer.set_result({k: found[k] for k in keys if k in found})
