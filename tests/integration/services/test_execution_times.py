"""The times the execution report reads are recorded where they happen: the engine records an
order as decided when its decision ended (a slow broker's figures included), the gateway as
sent before it asks the broker, then the broker's answer and its fills."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.fakes import ManualClock
from tests.harness import build_rig, krx_alert
from yquant.adapters.brokers.paper import PaperBroker
from yquant.bootstrap import report_reads
from yquant.domain.execution import Hop

KST = ZoneInfo("Asia/Seoul")
FRIDAY_OPEN = datetime(2026, 11, 27, 10, 0, tzinfo=KST)


class SlowFigures(PaperBroker):
    """A paper venue whose account figures take 250 ms to come (on the test's clock)."""

    def __init__(self, path: Path, clock: ManualClock) -> None:
        super().__init__(
            path,
            commission_rate=Decimal(0),
            initial_cash={"KRW": Decimal(100_000_000)},
            clock=clock,
        )
        self.test_clock = clock

    async def cash(self, account: str) -> dict[str, Decimal]:
        self.test_clock.advance(milliseconds=250)
        return await super().cash(account)


async def test_the_decision_is_recorded_when_it_ended(
    tmp_path: Path, sqlite_url: str, valkey_url: str
) -> None:
    clock = ManualClock(FRIDAY_OPEN)
    rig = await build_rig(
        tmp_path,
        sqlite_url,
        valkey_url,
        FRIDAY_OPEN,
        clock=clock,
        broker=SlowFigures(tmp_path / "paper.sqlite3", clock),
    )
    try:
        arrived = FRIDAY_OPEN
        clock.advance(milliseconds=40)  # the signal waited 40 ms in the stream
        await rig.handle(krx_alert("t1", arrived))
        [message] = await rig.published()
        stored = await rig.store.order(message["client_order_id"])
        assert stored is not None
        taken = arrived + timedelta(milliseconds=40)
        assert stored["created_at"] == taken.astimezone(stored["created_at"].tzinfo)

        clock.advance(milliseconds=10)  # the gateway takes it 10 ms later
        await rig.execute()

        [record] = await report_reads(rig.settings, rig.store).execution_records(
            FRIDAY_OPEN - timedelta(hours=1), FRIDAY_OPEN + timedelta(hours=1)
        )
        assert record.received_at == arrived
        # received -> decided: 40 ms in the stream and 250 ms for the broker's figures
        assert record.hop_seconds(Hop.RECEIVED_DECIDED) == 0.29
        assert record.hop_seconds(Hop.DECIDED_SENT) == 0.01
        # the paper venue answers with the fill at once, at the alert's price
        assert record.hop_seconds(Hop.SENT_ACCEPTED) == 0.0
        assert record.hop_seconds(Hop.ACCEPTED_FIRST_FILL) == 0.0
        assert record.fill_price == Decimal(71000)
        assert record.slippage_bps == Decimal(0)
    finally:
        await rig.close()
