"""Blue and green on fakes: only the active worker decides and sends; a standby hands over."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.fakes import FakeRoles
from tests.harness import krx_alert
from tests.unit.services.test_release import MONDAY_OPEN, QUEUEING
from tests.unit.services.test_signals import EXCHANGE_HOURS, FRIDAY_OPEN, SATURDAY, handle
from tests.unit.services.wiring import FakeEngine, fake_engine
from yquant.domain.model import client_order_id
from yquant.domain.roles import Standing
from yquant.ports import ORDERS


def green_standby(tmp_path: Path, **overrides: object) -> FakeEngine:
    """Green's engine while blue holds the active role (epoch 1)."""
    e = fake_engine(
        tmp_path, overrides.pop("now", FRIDAY_OPEN), worker="green", roles=FakeRoles(("blue", 1)),
        **overrides,
    )  # fmt: skip
    e.role.observe(("blue", 1))
    assert e.role.standing() is Standing.STANDBY
    return e


async def becomes_active(e: FakeEngine) -> None:
    """The switch names green (epoch 2); its releaser asks the database for the role."""
    e.roles.current = ("green", 2)
    assert await e.releaser.active_epoch() == 2


async def test_a_standby_decides_nothing_and_hands_the_signal_to_the_active_worker(
    tmp_path: Path,
) -> None:
    e = green_standby(tmp_path)
    await handle(e, krx_alert("h1", FRIDAY_OPEN))
    assert e.bus.messages(ORDERS) == []
    assert e.recorder.orders() == []
    [row] = await e.queue.for_signal("h1")
    assert (row["state"], row["reason"], row["release_after"]) == (
        "queued",
        "handed_over",
        FRIDAY_OPEN,
    )
    signal = e.recorder.signal("h1")
    assert (signal["status"], signal["reason"]) == ("ordered", "handed_over")
    # Blue still holds the role: green's releaser leaves the row to blue's.
    assert await e.releaser.release_due() == 0


async def test_the_active_worker_decides_a_handed_over_signal_as_it_would_its_own(
    tmp_path: Path,
) -> None:
    e = green_standby(tmp_path)
    await handle(e, krx_alert("h2", FRIDAY_OPEN))
    await becomes_active(e)
    e.clock.advance(seconds=5)
    assert await e.releaser.release_due() == 1
    [message] = e.bus.messages(ORDERS)
    assert (message["client_order_id"], message["quantity"]) == (
        client_order_id("h2", "paper"),
        "3",
    )
    [row] = await e.queue.for_signal("h2")
    assert row["state"] == "released"
    assert e.recorder.signal("h2")["status"] == "ordered"


async def test_a_signal_the_active_worker_traded_itself_is_not_traded_again(
    tmp_path: Path,
) -> None:
    # The same alert reached both workers while the database was away: blue decided and sent
    # it, green handed it over; both journals reach the database in either order.
    e = green_standby(tmp_path)
    alert = krx_alert("h3", FRIDAY_OPEN)
    await handle(e, alert)
    blue = fake_engine(tmp_path / "blue", FRIDAY_OPEN, worker="blue", roles=FakeRoles(("blue", 1)))
    blue.role.observe(("blue", 1))
    await handle(blue, alert)
    [(op, row)] = [(op, row) for op, row in blue.recorder.writes if op == "order.insert"]
    e.recorder.apply(op, row)  # blue's journal replayed into the database both share
    await becomes_active(e)
    [order] = e.recorder.orders()
    published = len(e.bus.messages(ORDERS))
    e.broker.cash_by_currency["KRW"] = 0  # a second decision would be refused for cash
    assert await e.releaser.release_due() == 1
    [row] = await e.queue.for_signal("h3")
    assert (row["state"], row["reason"]) == ("released", None)
    assert e.recorder.orders() == [order]
    # Only the recorded order goes out again (the gateway's send claim stops a second send).
    assert len(e.bus.messages(ORDERS)) == published + 1
    assert e.recorder.signal("h3")["status"] == "ordered"


async def test_no_handed_over_row_is_decided_while_the_engines_journal_holds_writes(
    tmp_path: Path,
) -> None:
    e = green_standby(tmp_path)
    await handle(e, krx_alert("h4", FRIDAY_OPEN))
    await becomes_active(e)
    e.recorder.journal.append(("order.insert", {"client_order_id": "x"}))  # not replayed yet
    assert await e.releaser.release_due() == 0
    [row] = await e.queue.for_signal("h4")
    assert row["state"] == "queued"
    e.recorder.journal.clear()
    assert await e.releaser.release_due() == 1


async def test_a_handed_over_signal_for_a_closed_market_is_queued_for_the_next_open(
    tmp_path: Path,
) -> None:
    e = green_standby(tmp_path, now=SATURDAY, **QUEUEING, **EXCHANGE_HOURS)
    await handle(e, krx_alert("h5", SATURDAY, strategy="night"))
    await becomes_active(e)
    assert await e.releaser.release_due() == 0
    [row] = await e.queue.for_signal("h5")
    assert (row["state"], row["reason"], row["release_after"]) == ("queued", None, MONDAY_OPEN)
    e.clock.set(MONDAY_OPEN + timedelta(minutes=1))
    assert await e.releaser.release_due() == 1
    assert len(e.bus.messages(ORDERS)) == 1


async def test_a_handed_over_signal_older_than_the_age_limit_is_refused_as_stale(
    tmp_path: Path,
) -> None:
    e = green_standby(tmp_path)
    await handle(e, krx_alert("h6", FRIDAY_OPEN))
    await becomes_active(e)
    e.clock.advance(minutes=10)  # the database was away longer than max_signal_delay_s
    assert await e.releaser.release_due() == 0
    [row] = await e.queue.for_signal("h6")
    assert (row["state"], row["reason"]) == ("rejected", "stale_signal")
    assert e.recorder.signal("h6")["reason"] == "stale_signal"
    assert e.bus.messages(ORDERS) == []
