"""Signal handling on fakes: no database, no Valkey."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.harness import krx_alert
from tests.unit.services.wiring import FakeEngine, fake_engine
from yquant.adapters.db.rows import order_row
from yquant.adapters.messages import alert_to_message
from yquant.domain.commands import DecideSignal
from yquant.domain.model import Alert, SignalStatus
from yquant.domain.risk import KillState
from yquant.domain.writes import InsertSignal
from yquant.ports import ORDERS, SIGNALS, Entry, Written

KST = ZoneInfo("Asia/Seoul")
FRIDAY_OPEN = datetime(2026, 11, 27, 10, 0, tzinfo=KST)
SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=KST)
EXCHANGE_HOURS = {"accounts": {"paper": {"broker": "paper", "sessions": "exchange"}}}


async def handle(e: FakeEngine, alert: Alert, *, redelivered: bool = False) -> None:
    """What the webhook records, then the engine's handler on the stream entry."""
    row = InsertSignal(
        key=alert.key,
        worker="local",
        status=SignalStatus.ACCEPTED,
        received_at=alert.received_at,
        updated_at=alert.received_at,
        alert=alert,
    )
    await e.recorder.write(row)
    data = alert_to_message(alert)
    await e.signals.handle_signal(Entry(SIGNALS, "0-1", data, redelivered, DecideSignal(alert)))


async def test_a_buy_alert_is_recorded_before_it_is_published(tmp_path: Path) -> None:
    e = fake_engine(tmp_path, FRIDAY_OPEN)
    await handle(e, krx_alert("s1", FRIDAY_OPEN))
    [message] = e.bus.messages(ORDERS)
    assert (message["account"], message["side"], message["quantity"]) == ("paper", "buy", "3")
    ops = [op for op, _ in e.recorder.writes]
    assert ops == ["signal.insert", "order.insert", "signal.advance"]
    assert e.recorder.tables["orders"][message["client_order_id"]]["status"] == "new"
    signal = e.recorder.signal("s1")
    assert (signal["status"], signal["reason"]) == ("ordered", None)
    assert {"type": "signal", "key": "s1", "status": "ordered"} in e.bus.events


async def test_a_redelivered_signal_publishes_its_order_again_and_decides_nothing_new(
    tmp_path: Path,
) -> None:
    e = fake_engine(tmp_path, FRIDAY_OPEN)
    alert = krx_alert("s2", FRIDAY_OPEN)
    await handle(e, alert)
    e.broker.cash_by_currency["KRW"] = 0  # a second decision would be refused for cash
    await handle(e, alert, redelivered=True)
    first, again = e.bus.messages(ORDERS)
    assert first == again
    assert len(e.recorder.orders()) == 1
    assert e.recorder.signal("s2")["status"] == "ordered"


async def test_a_halted_switch_rejects_the_signal_and_nothing_is_published(
    tmp_path: Path,
) -> None:
    e = fake_engine(tmp_path, FRIDAY_OPEN)
    e.kill.states["global"] = KillState.HALTED
    await handle(e, krx_alert("s3", FRIDAY_OPEN))
    assert e.bus.messages(ORDERS) == []
    signal = e.recorder.signal("s3")
    assert (signal["status"], signal["reason"]) == ("rejected", "halted")
    assert e.kill.refreshed == 1  # read from the database for the decision
    [told] = e.notices.told  # the operator is told, with the reason
    assert (told.id, told.strategy, told.data["reason"]) == (
        "alert_rejected:s3",
        "default",
        "halted",
    )


async def test_during_a_database_outage_the_order_is_journaled_and_still_published(
    tmp_path: Path,
) -> None:
    e = fake_engine(tmp_path, FRIDAY_OPEN)
    alert = krx_alert("s4", FRIDAY_OPEN)
    e.recorder.database_up = False
    e.kill.states["paper"] = KillState.REDUCE_ONLY
    await handle(e, alert)
    assert e.kill.refreshed == 0  # the last known switches, without asking the database
    assert e.bus.messages(ORDERS) == []  # reduce-only: a buy is refused from memory too
    e.kill.states.clear()
    await handle(e, krx_alert("s5", FRIDAY_OPEN))
    [message] = e.bus.messages(ORDERS)
    assert message["signal_key"] == "s5"
    assert ("order.insert", "s5") in [(op, row.get("signal_key")) for op, row in e.recorder.journal]


async def test_out_of_session_a_queueing_strategy_queues_for_the_next_open(
    tmp_path: Path,
) -> None:
    e = fake_engine(
        tmp_path,
        SATURDAY,
        strategies={"night": {"accounts": ["paper"], "out_of_session": "queue"}},
        **EXCHANGE_HOURS,
    )
    alert = krx_alert("s6", SATURDAY, strategy="night")
    await handle(e, alert)
    assert e.bus.messages(ORDERS) == []
    [row] = await e.queue.for_signal("s6")
    assert row["state"] == "queued"
    assert row["release_after"] == datetime(2026, 11, 30, 9, 0, tzinfo=KST)
    assert (e.recorder.signal("s6")["status"], e.recorder.signal("s6")["reason"]) == (
        "ordered",
        "queued",
    )
    await handle(e, alert, redelivered=True)
    assert len(await e.queue.for_signal("s6")) == 1


async def test_a_stale_signal_is_rejected(tmp_path: Path) -> None:
    e = fake_engine(tmp_path, FRIDAY_OPEN)
    e.clock.advance(hours=1)
    await handle(e, krx_alert("s7", FRIDAY_OPEN))
    assert e.bus.messages(ORDERS) == []
    assert e.recorder.signal("s7")["reason"] == "stale_signal"


async def test_an_order_recorded_by_another_pass_goes_out_as_recorded(tmp_path: Path) -> None:
    e = fake_engine(tmp_path, FRIDAY_OPEN)
    [order] = (await e.decider.decide(krx_alert("s8", FRIDAY_OPEN), FRIDAY_OPEN)).orders
    first = order.evolve(reason="first pass")
    assert e.recorder.apply("order.insert", order_row(first)) is Written.STORED
    [sent] = await e.desk.send([order])
    assert sent.reason == "first pass"


async def test_each_decision_is_timed_with_its_outcome(tmp_path: Path) -> None:
    e = fake_engine(tmp_path, FRIDAY_OPEN)
    await handle(e, krx_alert("s1", FRIDAY_OPEN))
    e.kill.states["global"] = KillState.HALTED
    await handle(e, krx_alert("s2", FRIDAY_OPEN))
    timed = e.metrics.named("decision_seconds")
    assert [outcome for _, outcome in timed] == ["ordered", "rejected"]
    assert all(seconds >= 0 for seconds, _ in timed)
