"""Receiving alerts and placing an operator's order, on fakes: no database, no Valkey."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.fakes import FakeBus, FakeRecorder, FixedClock
from tests.unit.services.test_signals import FRIDAY_OPEN
from tests.unit.services.wiring import fake_engine
from yquant.domain.model import Market, Side
from yquant.domain.writes import Write
from yquant.errors import JournalUnavailableError
from yquant.ports import ORDERS, SIGNALS, Written
from yquant.services.ingest import Ingest, sweep_waiting
from yquant.services.manual import ManualRequest

SECRET = "webhook-test-secret-1"
NOW = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


def body(**kw: Any) -> bytes:
    fields = {"secret": SECRET, "ticker": "KRX:005930", "action": "buy", "quantity": 1, "id": "a-1"}
    return json.dumps({**fields, **kw}).encode()


def ingest(recorder: FakeRecorder, bus: FakeBus) -> Ingest:
    return Ingest(recorder=recorder, bus=bus, secret=SECRET, worker="blue")


async def test_an_alert_is_recorded_then_handed_to_the_engine() -> None:
    recorder, bus = FakeRecorder(), FakeBus()
    hook = ingest(recorder, bus)
    receipt = await hook.receive(body(), source_ip="203.0.113.7", now=NOW)
    await hook.flush()
    assert (receipt.http_status, receipt.body["status"], receipt.body["stored"]) == (
        200,
        "accepted",
        Written.STORED.value,
    )
    [message] = bus.messages(SIGNALS)
    assert message["key"] == receipt.body["signal"]
    assert recorder.signal(message["key"])["status"] == "accepted"
    await hook.close()


async def test_a_repeat_is_a_duplicate_and_is_not_enqueued_twice() -> None:
    recorder, bus = FakeRecorder(), FakeBus()
    hook = ingest(recorder, bus)
    await hook.receive(body(), source_ip=None, now=NOW)
    again = await hook.receive(body(), source_ip=None, now=NOW)
    await hook.flush()
    assert again.body["status"] == "duplicate"
    assert len(bus.messages(SIGNALS)) == 1
    await hook.close()


async def test_a_bad_secret_is_refused_and_logged_without_the_senders_fields() -> None:
    recorder, bus = FakeRecorder(), FakeBus()
    receipt = await ingest(recorder, bus).receive(body(secret="wrong"), source_ip="x", now=NOW)
    assert (receipt.http_status, receipt.body["reason"]) == (401, "bad_secret")
    [row] = recorder.tables["signals"].values()
    assert (row["status"], row["reason"], row["payload"]) == ("rejected", "bad_secret", None)


async def test_a_refusal_that_cannot_be_logged_is_still_answered() -> None:
    class FullJournal(FakeRecorder):
        async def write(self, write: Write) -> Written:
            raise JournalUnavailableError("disk full")

    receipt = await ingest(FullJournal(), FakeBus()).receive(b"{", source_ip=None, now=NOW)
    assert receipt.http_status == 400


async def test_the_sweeper_enqueues_what_no_engine_took_and_closes_what_cannot_be_rebuilt() -> None:
    recorder, bus = FakeRecorder(), FakeBus()
    bus.up = False
    hook = ingest(recorder, bus)
    accepted = await hook.receive(body(), source_ip=None, now=NOW)
    await hook.flush()
    assert bus.messages(SIGNALS) == []  # Valkey away: recorded, not enqueued
    broken = dict(recorder.signal(accepted.body["signal"]), signal_key="f" * 32, payload="{}")
    recorder.apply("signal.insert", broken)
    bus.up = True
    clock = FixedClock(NOW + timedelta(minutes=1))
    sent = await sweep_waiting(recorder, bus, "blue", NOW + timedelta(seconds=31), clock=clock)
    assert sent == 1
    assert [m["key"] for m in bus.messages(SIGNALS)] == [accepted.body["signal"]]
    closed = recorder.signal("f" * 32)
    assert (closed["status"], closed["reason"]) == ("rejected", "not_rebuildable")
    assert closed["updated_at"] == clock.now()
    await hook.close()


async def test_an_operator_order_is_refused_without_a_gateway(tmp_path: Path) -> None:
    e = fake_engine(tmp_path, FRIDAY_OPEN)
    outcome = await e.manual.place(
        ManualRequest(
            account="paper",
            side=Side.BUY,
            market=Market.KR,
            exchange="KRX",
            ticker="005930",
            quantity=Decimal(1),
            limit_price=None,
            price=Decimal(71000),
        ),
        wait_s=0,
    )
    assert (outcome.status, outcome.reason) == ("rejected", "gateway_not_running")
    assert e.bus.messages(ORDERS) == []


async def test_an_operator_order_is_decided_recorded_and_published(tmp_path: Path) -> None:
    e = fake_engine(tmp_path, FRIDAY_OPEN)
    e.bus.beats["gateway"] = {"at": FRIDAY_OPEN.timestamp() - 3}
    outcome = await e.manual.place(
        ManualRequest(
            account="paper",
            side=Side.BUY,
            market=Market.KR,
            exchange="KRX",
            ticker="005930",
            quantity=Decimal(1),
            limit_price=None,
            price=Decimal(71000),
        ),
        wait_s=0,
    )
    assert outcome.reason is None, outcome.detail
    [message] = e.bus.messages(ORDERS)
    assert (message["side"], message["quantity"], message["strategy"]) == ("buy", "1", "manual")
    assert outcome.status == "new"  # no gateway ran in the time given
    signal = e.recorder.signal(outcome.signal_key)
    assert (signal["status"], signal["received_at"]) == ("ordered", FRIDAY_OPEN)
