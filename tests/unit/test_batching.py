"""Batcher: items that arrive while a batch is handled go together, in order."""

from __future__ import annotations

import asyncio

from yquant.batching import Batcher


class Recording(Batcher[int]):
    def __init__(self, fail_on: int | None = None) -> None:
        super().__init__(max_batch=3, name="test")
        self.batches: list[list[int]] = []
        self.fail_on = fail_on

    async def handle(self, batch: list[int]) -> None:
        await asyncio.sleep(0.01)
        self.batches.append(batch)
        if self.fail_on in batch:
            raise RuntimeError("handler fault")


async def test_items_arriving_together_share_batches_of_at_most_max_in_order() -> None:
    batcher = Recording()
    for n in range(8):
        batcher.put(n)
    await batcher.flush()
    assert batcher.batches == [[0, 1, 2], [3, 4, 5], [6, 7]]
    await batcher.close()


async def test_a_batch_that_raises_does_not_hold_up_the_items_behind_it() -> None:
    batcher = Recording(fail_on=1)
    for n in range(5):
        batcher.put(n)
    await batcher.flush(timeout_s=2)
    batcher.put(5)
    await batcher.flush(timeout_s=2)
    assert batcher.batches == [[0, 1, 2], [3, 4], [5]]
    await batcher.close()
