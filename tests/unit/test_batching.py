"""Batcher: items that arrive while a batch is handled go together, in order."""

from __future__ import annotations

import asyncio

from yquant.batching import Batcher, Lookup, Turns


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


async def test_lookups_that_arrive_together_share_one_query() -> None:
    queries: list[list[str]] = []

    async def fetch(keys: list[str]) -> dict[str, int]:
        queries.append(keys)
        await asyncio.sleep(0.01)
        return {k: len(k) for k in keys if k != "missing"}

    lookup: Lookup[str, int] = Lookup(fetch, "test")
    first, second, third = await asyncio.gather(
        lookup.get(["a"]), lookup.get(["bb", "missing"]), lookup.get(["a", "ccc"])
    )
    assert (first, second, third) == ({"a": 1}, {"bb": 2}, {"a": 1, "ccc": 3})
    assert queries == [["a", "bb", "missing", "ccc"]]  # one query, each key once
    await lookup.close()


async def test_a_failed_lookup_fails_every_caller_of_its_batch() -> None:
    async def fetch(keys: list[str]) -> dict[str, int]:
        raise ConnectionError("database away")

    lookup: Lookup[str, int] = Lookup(fetch, "test")
    results = await asyncio.gather(lookup.get(["a"]), lookup.get(["b"]), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    await lookup.close()


async def test_turns_let_items_take_a_step_in_arrival_order_per_key() -> None:
    turns = Turns()
    done: list[str] = []

    async def item(name: str, keys: list[str], delay: float) -> None:
        turn = turns.take(keys)  # before the first wait: in arrival order
        await asyncio.sleep(delay)  # the later items get here first
        await turn.wait()
        done.append(name)
        turn.end()

    await asyncio.gather(
        item("a1", ["a"], 0.03),
        item("b1", ["b"], 0.02),
        item("a2", ["a"], 0.0),
        item("ab", ["a", "b"], 0.0),
    )
    assert done.index("a1") < done.index("a2") < done.index("ab")
    assert done.index("b1") < done.index("ab")
    assert done[0] == "b1"  # another key does not wait


async def test_a_turn_ended_early_or_twice_lets_the_next_go() -> None:
    turns = Turns()
    first = turns.take(["k"])
    second = turns.take(["k"])
    first.end()
    first.end()  # again: nothing
    await asyncio.wait_for(second.wait(), timeout=1)
    second.end()
    third = turns.take(["k"])
    await asyncio.wait_for(third.wait(), timeout=1)  # none before it is left waiting
