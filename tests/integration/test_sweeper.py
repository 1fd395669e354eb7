"""The sweeper: signals recorded as accepted that never reached an engine are enqueued again."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import free_port
from yquant.adapters.bus import SIGNALS, Bus
from yquant.adapters.db.journal import Journal
from yquant.adapters.db.recorder import Recorder
from yquant.adapters.db.store import SqlStore
from yquant.domain import alerts
from yquant.domain.model import SignalStatus
from yquant.services.ingest import Ingest, sweep_waiting
from yquant.services.records import alert_to_message, signal_row

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

    sent = await sweep_waiting(recorder, bus, "blue", now + timedelta(seconds=31))

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

    assert await sweep_waiting(recorder, bus, "blue", before) == 1

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
    assert await sweep_waiting(recorder, bus, "blue", now + timedelta(seconds=31)) == 1
    [message] = await enqueued(bus)
    assert (message["key"], message["ticker"], message["quantity"]) == (
        "0123456789abcdef0123456789abcdef",
        "AAPL",
        "2",
    )
