"""The engine's warm-up before it says it is up: the first signal's one-time costs, paid early,
with nothing recorded."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.harness import build_rig, krx_alert

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
