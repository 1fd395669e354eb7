"""The engine's warm-up before it says it is up: the first signal's one-time costs, paid early,
with nothing recorded."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.harness import build_rig, krx_alert
from tests.support import statements
from yquant.adapters.bus import SIGNALS, Entry
from yquant.adapters.messages import alert_to_message, decode

KST = ZoneInfo("Asia/Seoul")
FRIDAY_OPEN = datetime(2026, 11, 27, 10, 0, tzinfo=KST)


async def test_warm_up_reads_and_records_nothing(
    tmp_path: Path, db_url: str, valkey_url: str
) -> None:
    rig = await build_rig(tmp_path, db_url, valkey_url, FRIDAY_OPEN)
    try:
        snapshot = rig.settings.data_dir / "kill-switch.json"
        assert not snapshot.exists()
        await rig.engine.warm_up()
        assert snapshot.exists()  # the kill switch was read (its snapshot is the first write)
        for table in ("signals", "orders"):
            assert await rig.store.recent(table) == []
        assert await rig.published() == []
        # The signal after it is decided as any other.
        await rig.handle(krx_alert("s1", FRIDAY_OPEN))
        [message] = await rig.published()
        assert message["account"] == "paper"
        assert (await rig.signal("s1"))["status"] == "ordered"
    finally:
        await rig.close()


async def test_after_the_warm_ups_the_first_signal_and_its_order_compile_no_write(
    tmp_path: Path, db_url: str, valkey_url: str
) -> None:
    """The engine and the gateway rehearse their writes as they start (run, then rolled
    back): the first signal's decision and the first order's send and fill compile none of
    their writes, and the rehearsal leaves no row behind."""
    rig = await build_rig(tmp_path, db_url, valkey_url, FRIDAY_OPEN)
    try:
        await rig.engine.warm_up()
        await rig.gateway.warm_up()
        for table in ("signals", "orders", "fills"):
            assert await rig.store.recent(table) == []
        alert = krx_alert("s1", FRIDAY_OPEN)
        await rig.receive(alert)  # the webhook's write, in its own process
        with statements(compiled_only=True) as compiled:
            data = alert_to_message(alert)
            await rig.engine.signals.handle_signal(
                Entry(SIGNALS, "0-1", data, False, decode(SIGNALS, data))
            )
            [row] = await rig.execute()
        writes = [s for s in compiled if s.lstrip().upper().startswith(("INSERT", "UPDATE"))]
        assert writes == []
        assert row["status"] == "filled"
        assert (await rig.signal("s1"))["status"] == "ordered"
        [fill] = await rig.store.recent("fills")
        assert fill["client_order_id"] == row["client_order_id"]
    finally:
        await rig.close()
