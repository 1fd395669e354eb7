"""An alert that must wait for its session, decided while MariaDB is away: its queue row is
journaled like the engine's other writes, the signal is done, and the row is there once the
database is back."""

from __future__ import annotations

from pathlib import Path

from tests.harness import build_rig, krx_alert
from tests.integration.services.test_engine import SATURDAY
from tests.support import MARIADB_HOST, MARIADB_PORT, TcpProxy
from yquant.adapters.db.order_queue import SqlOrderQueue


async def test_a_queued_order_decided_during_an_outage_is_journaled_and_kept(
    tmp_path: Path, mariadb_url: str, valkey_url: str
) -> None:
    proxy = await TcpProxy(MARIADB_HOST, MARIADB_PORT).start()
    url = mariadb_url.replace(f"{MARIADB_HOST}:{MARIADB_PORT}", f"127.0.0.1:{proxy.port}")
    r = await build_rig(
        tmp_path,
        url,
        valkey_url,
        SATURDAY,
        accounts={"paper": {"broker": "paper", "sessions": "exchange"}},
        strategies={"night": {"accounts": ["paper"], "out_of_session": "queue"}},
    )
    try:
        alert = krx_alert("q1", SATURDAY, strategy="night")
        await r.receive(alert)
        proxy.cut()
        await r.handle(alert)  # does not raise: nothing holds up the stream
        journaled = [op for _, op, _ in r.recorder.journal.peek()]
        assert "queue.insert" in journaled
        proxy.restore()
        while r.recorder.journal.depth:
            await r.recorder.replay_batch()
        [row] = await SqlOrderQueue(r.store).for_signal("q1")
        assert (row["state"], row["account"]) == ("queued", "paper")
        assert (await r.signal("q1"))["reason"] == "queued"
    finally:
        await r.close()
        await proxy.stop()
