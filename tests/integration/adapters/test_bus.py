"""Streams on a real Valkey: at-least-once delivery, recovery of pending entries, dead letters."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from tests.support import eventually, krx_order
from yquant.adapters.bus import DEAD, EVENTS, ORDERS, Bus, Entry
from yquant.adapters.messages import order_to_message
from yquant.domain.commands import PlaceOrder
from yquant.entrypoints.workers import account_lane
from yquant.errors import BusUnavailableError, DatabaseUnavailableError


async def run_consumer(bus: Bus, stream: str, consumer: str, handler, **kw) -> tuple:
    stop = asyncio.Event()
    task = asyncio.create_task(bus.consume(stream, "g", consumer, handler, stop, **kw))
    return stop, task


async def test_every_entry_is_handled_and_acknowledged(valkey_url: str) -> None:
    bus = Bus(valkey_url)
    seen: list[int] = []

    async def handler(entry: Entry) -> None:
        seen.append(entry.data["n"])

    stop, task = await run_consumer(bus, "s1", "c1", handler, block_ms=50)
    for n in range(20):
        await bus.publish("s1", {"n": n})
    await eventually(lambda: len(seen) == 20)
    stop.set()
    await task
    assert seen == list(range(20))
    assert (await bus.client.xpending("s1", "g"))["pending"] == 0
    await bus.close()


async def test_entries_left_pending_by_a_crashed_consumer_come_back_to_it(valkey_url) -> None:
    bus = Bus(valkey_url)
    await bus.ensure_group("s2", "g")
    for n in range(3):
        await bus.publish("s2", {"n": n})
    # A consumer read them and died before acknowledging.
    await bus.client.xreadgroup("g", "c1", {"s2": ">"}, count=10)

    handled: list[tuple[int, bool]] = []

    async def handler(entry: Entry) -> None:
        handled.append((entry.data["n"], entry.redelivered))

    stop, task = await run_consumer(bus, "s2", "c1", handler, block_ms=50)
    await eventually(lambda: len(handled) == 3)
    stop.set()
    await task
    assert handled == [(0, True), (1, True), (2, True)]
    assert (await bus.client.xpending("s2", "g"))["pending"] == 0
    await bus.close()


async def test_idle_entries_of_another_consumer_are_claimed(valkey_url) -> None:
    bus = Bus(valkey_url)
    await bus.ensure_group("s3", "g")
    await bus.publish("s3", {"n": 1})
    await bus.client.xreadgroup("g", "gone", {"s3": ">"}, count=10)

    handled: list[Entry] = []

    async def handler(entry: Entry) -> None:
        handled.append(entry)

    stop, task = await run_consumer(bus, "s3", "c2", handler, claim_idle_ms=100, block_ms=50)
    await eventually(lambda: len(handled) == 1)
    stop.set()
    await task
    assert handled[0].redelivered is True
    assert (await bus.client.xpending("s3", "g"))["pending"] == 0
    await bus.close()


async def test_retryable_failures_are_retried_until_they_pass(valkey_url) -> None:
    bus = Bus(valkey_url)
    attempts = 0

    async def handler(entry: Entry) -> None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise DatabaseUnavailableError("down for a moment")

    stop, task = await run_consumer(bus, "s4", "c1", handler, block_ms=50)
    await bus.publish("s4", {"n": 1})
    await eventually(lambda: attempts == 3, timeout_s=10)
    await eventually(lambda: _pending_is_zero(bus, "s4"))
    stop.set()
    await task
    assert attempts == 3  # acknowledged once it passed: not handled again
    await bus.close()


async def _pending_is_zero(bus: Bus, stream: str) -> bool:
    return (await bus.client.xpending(stream, "g"))["pending"] == 0


async def test_a_poison_entry_goes_to_the_dead_letter_stream(valkey_url) -> None:
    bus = Bus(valkey_url)
    good: list[int] = []

    async def handler(entry: Entry) -> None:
        if entry.data.get("poison"):
            raise ValueError("cannot handle this")
        good.append(entry.data["n"])

    stop, task = await run_consumer(bus, "s5", "c1", handler, block_ms=50)
    await bus.publish("s5", {"poison": True})
    await bus.client.xadd("s5", {"data": "not json"})
    await bus.publish("s5", {"n": 2})
    await eventually(lambda: good == [2])
    stop.set()
    await task
    dead = await bus.client.xrange(DEAD)
    assert [d[1]["stream"] for d in dead] == ["s5", "s5"]
    assert "cannot handle this" in dead[0][1]["error"]
    assert (await bus.client.xpending("s5", "g"))["pending"] == 0
    await bus.close()


async def test_publish_to_an_unreachable_valkey_is_a_retryable_error() -> None:
    from tests.support import free_port

    bus = Bus(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(BusUnavailableError):
            await bus.publish("s", {"n": 1})
    finally:
        await bus.close()


async def test_a_batch_is_appended_in_order_and_announced_once(valkey_url) -> None:
    bus = Bus(valkey_url)
    listener = bus.client.pubsub()
    await listener.subscribe(EVENTS)
    await listener.get_message(timeout=1)  # the subscription's confirmation
    messages = [{"n": n, "name": "삼성전자", "price": "70100.5"} for n in range(5)]
    await bus.publish_many("s6", messages, event={"type": "signal", "count": 5})
    # Valkey restarted or flushed its scripts: the next batch loads the script again.
    await bus.client.script_flush()
    await bus.publish_many("s6", [{"n": 5}])
    await bus.publish_many("s6", [])
    stored = await bus.client.xrange("s6")
    assert [json.loads(fields["data"]) for _, fields in stored] == [*messages, {"n": 5}]
    announced = await listener.get_message(timeout=1)
    assert announced is not None and json.loads(announced["data"]) == {"type": "signal", "count": 5}
    assert await listener.get_message(timeout=0.2) is None  # one event, and none without one
    await listener.aclose()
    await bus.close()


async def test_a_batch_to_an_unreachable_valkey_is_a_retryable_error() -> None:
    from tests.support import free_port

    bus = Bus(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(BusUnavailableError):
            await bus.publish_many("s", [{"n": 1}])
    finally:
        await bus.close()


async def test_heartbeats_expire(valkey_url) -> None:
    bus = Bus(valkey_url)
    await bus.heartbeat("engine", {"pid": 1})
    beats = await bus.heartbeats(["engine", "gateway"])
    assert beats["engine"]["pid"] == 1 and beats["gateway"] is None
    assert 0 < await bus.client.ttl("yq:hb:engine") <= 15
    await bus.close()


async def test_a_role_that_stops_takes_back_its_own_heartbeat_only(valkey_url) -> None:
    bus = Bus(valkey_url)
    await bus.heartbeat("engine", {"pid": 1})
    await bus.heartbeat_stopped("engine", 2)  # another process's: left alone
    assert (await bus.heartbeats(["engine"]))["engine"]["pid"] == 1
    await bus.heartbeat_stopped("engine", 1)
    await bus.heartbeat_stopped("gateway", 1)  # none: nothing to do
    assert await bus.heartbeats(["engine", "gateway"]) == {"engine": None, "gateway": None}
    await bus.close()


async def test_an_entry_of_the_previous_version_is_read_as_its_typed_message(valkey_url) -> None:
    """Blue/green: an engine of this version takes the entries the previous version's webhook
    appended, and its gateway the previous engine's orders (and the other way round, below)."""
    from tests import wire_samples as w
    from yquant.adapters.bus import ORDERS, SIGNALS
    from yquant.domain.commands import DecideSignal, PlaceOrder

    bus = Bus(valkey_url)
    received: list[object] = []

    async def handler(entry: Entry) -> None:
        received.append(entry.message)

    for stream, entry in ((SIGNALS, w.SIGNAL_ENTRY), (ORDERS, w.ORDER_ENTRY)):
        await bus.client.xadd(stream, {"data": entry})
        stop, task = await run_consumer(bus, stream, "c1", handler, block_ms=50)
        await eventually(lambda s=stream: len(received) == (1 if s == SIGNALS else 2))
        stop.set()
        await task
    assert received == [DecideSignal(w.ALERT), PlaceOrder(w.ORDER)]
    await bus.close()


async def test_a_typed_message_is_appended_as_the_previous_version_wrote_it(valkey_url) -> None:
    from tests import wire_samples as w
    from yquant.adapters.bus import EXECUTIONS, ORDERS, SIGNALS
    from yquant.domain.commands import DecideSignal, PlaceOrder
    from yquant.domain.events import OrderFilled, SignalsAccepted

    bus = Bus(valkey_url)
    listener = bus.client.pubsub()
    await listener.subscribe(EVENTS)
    await listener.get_message(timeout=1)  # the subscription's confirmation
    await bus.send_many([DecideSignal(w.ALERT)], event=SignalsAccepted(1))
    await bus.send(PlaceOrder(w.ORDER))
    await bus.send(OrderFilled(w.FILL))
    for stream, entry in ((SIGNALS, w.SIGNAL_ENTRY), (ORDERS, w.ORDER_ENTRY)):
        [(_, fields)] = await bus.client.xrange(stream)
        assert fields == {"data": entry}
    [(_, fields)] = await bus.client.xrange(EXECUTIONS)
    assert fields == {"data": w.FILL_ENTRY}
    announced = await listener.get_message(timeout=1)
    assert announced is not None
    assert json.loads(announced["data"]) == {"type": "signal", "status": "accepted", "count": 1}
    await listener.aclose()
    await bus.close()


async def test_an_entry_that_is_not_a_message_of_its_stream_goes_to_the_dead_letters(
    valkey_url,
) -> None:
    from tests import wire_samples as w
    from yquant.adapters.bus import ORDERS

    bus = Bus(valkey_url)
    handled: list[Entry] = []

    async def handler(entry: Entry) -> None:
        handled.append(entry)

    await bus.client.xadd(ORDERS, {"data": w.SIGNAL_ENTRY})  # an alert on the orders stream
    stop, task = await run_consumer(bus, ORDERS, "c1", handler, block_ms=50)
    await eventually(lambda: bus.client.xlen(DEAD))
    stop.set()
    await task
    assert handled == []
    [(_, dead)] = await bus.client.xrange(DEAD)
    assert dead["stream"] == ORDERS and dead["error"].startswith("undecodable")
    await bus.close()


async def test_a_stop_ends_a_blocked_read_at_once_and_loses_nothing(valkey_url: str) -> None:
    """A consumer blocked in XREADGROUP (here for 30 s) returns as soon as it is stopped; an
    entry published after that is read by the next consumer of the group, not lost."""
    import time

    bus = Bus(valkey_url)
    seen: list[int] = []

    async def handler(entry: Entry) -> None:
        seen.append(entry.data["n"])

    stop, task = await run_consumer(bus, "s-stop", "c1", handler, block_ms=30_000)
    await bus.publish("s-stop", {"n": 1})
    await eventually(lambda: seen == [1])
    await asyncio.sleep(0.2)  # now blocked in XREADGROUP
    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert time.monotonic() - started < 1.0  # not the 30 s block
    await bus.publish("s-stop", {"n": 2})
    stop, task = await run_consumer(bus, "s-stop", "c1", handler, block_ms=50)
    await eventually(lambda: seen == [1, 2])
    stop.set()
    await task
    assert (await bus.client.xpending("s-stop", "g"))["pending"] == 0
    await bus.close()


async def test_lanes_handle_one_lane_in_order_while_another_waits(valkey_url: str) -> None:
    bus = Bus(valkey_url)
    now = datetime.now(UTC)
    released = asyncio.Event()
    handled: list[str] = []

    async def handler(entry: Entry) -> None:
        order = entry.message_as(PlaceOrder).order
        if order.account == "slow":
            await released.wait()  # a broker that does not answer yet
        handled.append(order.client_order_id)

    stop, task = await run_consumer(bus, ORDERS, "c1", handler, block_ms=50, lane=account_lane)
    for n, account in enumerate(["slow", "fast", "slow", "fast", "fast"]):
        await bus.publish(ORDERS, order_to_message(krx_order(f"o{n}", now, account=account)))
    await eventually(lambda: len(handled) == 3)
    assert handled == ["o1", "o3", "o4"]  # the other account's orders did not wait
    assert (await bus.client.xpending(ORDERS, "g"))["pending"] == 2
    released.set()
    await eventually(lambda: len(handled) == 5)
    assert handled[3:] == ["o0", "o2"]  # one account's orders in their order
    stop.set()
    await task
    assert (await bus.client.xpending(ORDERS, "g"))["pending"] == 0
    await bus.close()


async def test_entries_handled_side_by_side_are_acknowledged_together(valkey_url: str) -> None:
    """A burst handled side by side costs fewer XACKs than entries, and every entry is
    acknowledged by the time its handling has returned."""
    bus = Bus(valkey_url)
    await bus.ensure_group("s-acks", "g")
    for n in range(60):
        await bus.publish("s-acks", {"n": n})

    def xacks(stats: dict) -> int:
        return int(stats.get("cmdstat_xack", {}).get("calls", 0))

    before = xacks(await bus.client.info("commandstats"))
    release = asyncio.Event()
    seen: list[int] = []

    async def handler(entry: Entry) -> None:
        await release.wait()  # all in hand at once, then all done together
        seen.append(entry.data["n"])

    stop, task = await run_consumer(bus, "s-acks", "c1", handler, block_ms=50, concurrency=60)
    await eventually(lambda: _pending(bus, "s-acks", 60), timeout_s=5)
    release.set()
    await eventually(lambda: len(seen) == 60)
    await eventually(lambda: _pending(bus, "s-acks", 0), timeout_s=5)
    stop.set()
    await task
    used = xacks(await bus.client.info("commandstats")) - before
    # The 60 handlers end in one turn of the loop: their acks go as one XACK, or two if the
    # first one left before the others arrived (one XACK per entry before).
    assert used in (1, 2), used
    assert sorted(seen) == list(range(60))
    await bus.close()


async def _pending(bus: Bus, stream: str, count: int) -> bool:
    return bool((await bus.client.xpending(stream, "g"))["pending"] == count)


async def test_claims_made_side_by_side_each_get_their_own_answer(valkey_url: str) -> None:
    """Send claims that come together share a pipeline, yet each key has exactly one
    winner, and one command's error is that caller's alone."""
    bus = Bus(valkey_url)
    keys = [f"yq:test:claim:{n % 10}" for n in range(50)]
    won = await asyncio.gather(*(bus.claim_send(k, f"w{n}", 60) for n, k in enumerate(keys)))
    for key in set(keys):
        assert sum(w for k, w in zip(keys, won, strict=True) if k == key) == 1
    await bus.client.rpush("yq:test:a-list", "x")
    results = await asyncio.gather(
        bus._command("INCR", "yq:test:a-list"),  # noqa: SLF001 - the pipeline's error path
        bus.claim_send("yq:test:claim:other", "w", 60),
        return_exceptions=True,
    )
    assert isinstance(results[0], Exception)
    assert results[1] is True
    await bus.close()


async def test_appends_go_on_after_valkey_forgets_its_scripts(valkey_url: str) -> None:
    """The append script is called by its hash; a Valkey that lost it (a restart, SCRIPT
    FLUSH) gets it loaded again and nothing is lost."""
    bus = Bus(valkey_url)
    await bus.publish("s-flush", {"n": 1})
    await bus.client.script_flush()
    await bus.publish("s-flush", {"n": 2})
    entries = await bus.client.xrange("s-flush")
    assert [json.loads(fields["data"])["n"] for _, fields in entries] == [1, 2]
    await bus.close()
