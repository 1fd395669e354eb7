"""The sweeper: signals recorded as accepted that never reached an engine are enqueued again."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import ValkeyProcess, free_port
from yquant.adapters.bus import SIGNALS, Bus
from yquant.adapters.clock import SystemClock
from yquant.adapters.db.journal import Journal
from yquant.adapters.db.recorder import Recorder
from yquant.adapters.db.rows import signal_row
from yquant.adapters.db.store import SqlStore
from yquant.adapters.messages import alert_to_message
from yquant.domain import alerts
from yquant.domain.model import SignalStatus
from yquant.errors import BusUnavailableError
from yquant.services.ingest import Ingest, sweep_waiting

SECRET = "sweeper-test-secret-1"


@pytest.fixture
async def recorder(db_url: str, tmp_path: Path) -> AsyncIterator[Recorder]:
    store = SqlStore(db_url, timeout_s=5)
    rec = Recorder(store, Journal(tmp_path / "journal.sqlite3"))
    yield rec
    await rec.close()
    await store.close()


@pytest.fixture
async def bus(valkey_url: str) -> AsyncIterator[Bus]:
    b = Bus(valkey_url)
    yield b
    await b.close()


async def accept_while_valkey_is_down(recorder: Recorder, body: dict, now: datetime) -> str:
    """Receive an alert whose enqueue fails: recorded as accepted, on no stream."""
    dead = Bus(f"redis://127.0.0.1:{free_port()}/0")
    ingest = Ingest(recorder=recorder, bus=dead, secret=SECRET, worker="blue")
    try:
        reply = await ingest.receive(json.dumps(body).encode(), source_ip="203.0.113.7", now=now)
        await ingest.close()
    finally:
        await dead.close()
    assert reply.body["status"] == "accepted"
    return str(reply.body["signal"])


async def enqueued(bus: Bus) -> list[dict]:
    return [json.loads(fields["data"]) for _, fields in await bus.client.xrange(SIGNALS)]


async def test_an_alert_with_numeric_times_is_enqueued_again_as_first_parsed(
    recorder: Recorder, bus: Bus
) -> None:
    now = datetime.now(UTC)
    body = {
        "secret": SECRET,
        "ticker": "NASDAQ:AAPL",
        "action": "buy",
        "quantity": 1,
        "price": 187.25,
        "strategy": "numbers",
        "time": 1700000000000,  # TradingView's {{time}} / {{timenow}} as JSON numbers
        "timenow": 1700000000.5,
    }
    key = await accept_while_valkey_is_down(recorder, body, now)
    first = alerts.parse_alert(alerts.decode_body(json.dumps(body).encode()), now)

    sent = await sweep_waiting(
        recorder, bus, "blue", now + timedelta(seconds=31), clock=SystemClock()
    )

    assert sent == 1
    assert await enqueued(bus) == [alert_to_message(first)]
    assert first.key == key


async def test_a_stored_signal_that_cannot_be_rebuilt_leaves_the_waiting_set(
    recorder: Recorder, bus: Bus
) -> None:
    now = datetime.now(UTC)
    # A row whose fields no longer parse into an alert.
    broken = signal_row(
        key="f" * 32,
        worker="blue",
        status=SignalStatus.ACCEPTED,
        received_at=now,
        updated_at=now,
        fields={"ticker": "NASDAQ:AAPL", "action": "hold"},
    )
    await recorder.store.apply("signal.insert", broken)
    later = {"secret": SECRET, "ticker": "NASDAQ:MSFT", "action": "buy", "id": "after-broken"}
    good = await accept_while_valkey_is_down(recorder, later, now)
    before = now + timedelta(seconds=31)

    assert await sweep_waiting(recorder, bus, "blue", before, clock=SystemClock()) == 1

    waiting = await recorder.store.signals_waiting("blue", before)
    assert [r["signal_key"] for r in waiting] == [good]
    [row] = [r for r in await recorder.store.recent("signals") if r["signal_key"] == "f" * 32]
    assert (row["status"], row["reason"]) == ("rejected", "not_rebuildable")
    assert [m["key"] for m in await enqueued(bus)] == [good]


async def test_a_signal_recorded_under_an_older_key_is_enqueued_under_that_key(
    recorder: Recorder, bus: Bus
) -> None:
    """A version that derived keys differently recorded it: the recorded key stays its identity,
    so an order already made for it is found, and none is made twice."""
    now = datetime.now(UTC)
    fields = {"ticker": "NASDAQ:AAPL", "action": "buy", "quantity": 2, "id": "older"}
    older = signal_row(
        key="0123456789abcdef0123456789abcdef",
        worker="blue",
        status=SignalStatus.ACCEPTED,
        received_at=now,
        updated_at=now,
        fields=fields,
    )
    await recorder.store.apply("signal.insert", older)
    assert (
        await sweep_waiting(recorder, bus, "blue", now + timedelta(seconds=31), clock=SystemClock())
        == 1
    )
    [message] = await enqueued(bus)
    assert (message["key"], message["ticker"], message["quantity"]) == (
        "0123456789abcdef0123456789abcdef",
        "AAPL",
        "2",
    )


async def test_a_valkey_refusing_writes_delays_the_enqueue_and_stops_nothing(
    recorder: Recorder, tmp_path: Path
) -> None:
    """Valkey up but refusing writes (out of memory here; a failing disk, MISCONF, or a
    read-only replica answer the same way): the alert is still accepted, the outbox and the
    sweeper report it and carry on, and the sweep after Valkey recovers enqueues it."""
    server = ValkeyProcess(tmp_path / "valkey").start()
    bus = Bus(server.url)
    ingest = Ingest(recorder=recorder, bus=bus, secret=SECRET, worker="blue")
    now = datetime.now(UTC)
    body = {"secret": SECRET, "ticker": "KRX:005930", "action": "buy", "quantity": 3, "id": "oom"}
    try:
        await bus.client.config_set("maxmemory-policy", "noeviction")
        await bus.client.config_set("maxmemory", "1")
        reply = await ingest.receive(json.dumps(body).encode(), source_ip=None, now=now)
        await ingest.flush()
        with pytest.raises(BusUnavailableError):
            await sweep_waiting(
                recorder, bus, "blue", now + timedelta(seconds=31), clock=SystemClock()
            )
        assert reply.body["status"] == "accepted"
        assert await bus.client.xlen(SIGNALS) == 0

        # The outbox is still alive: the next alert goes through once Valkey takes writes.
        await bus.client.config_set("maxmemory", "0")
        assert (
            await sweep_waiting(
                recorder, bus, "blue", now + timedelta(seconds=31), clock=SystemClock()
            )
            == 1
        )
        later = {**body, "id": "after"}
        await ingest.receive(json.dumps(later).encode(), source_ip=None, now=now)
        await ingest.flush()
        assert [m["alert_id"] for m in await enqueued(bus)] == ["oom", "after"]
    finally:
        await ingest.close()
        await bus.close()
        server.stop()
