"""HAProxy's health checks do not depend on MariaDB: a hung database keeps the workers in.

The database sits behind a TCP proxy the test controls; when it hangs (accepts, answers
nothing), the webhook's readiness spends its database timeout, still answers 200, and HAProxy
keeps sending alerts, which the worker records in its local journal.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.deploy.stack import Haproxy, Worker, alert, client_tls, make_certificate
from tests.support import (
    MARIADB_HOST,
    MARIADB_PORT,
    TcpProxy,
    eventually,
    mariadb_available,
    mariadb_database,
    yquant,
    yquant_env,
)
from yquant.adapters.haproxy import ServerState

pytestmark = [pytest.mark.e2e, pytest.mark.mariadb]


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    if not mariadb_available():
        pytest.fail("MariaDB is not reachable on 127.0.0.1:3306; this test needs the real server")
    with mariadb_database() as url:
        migrated = yquant(
            "db", "upgrade", env=yquant_env(tmp_path / "m", YQUANT__DATABASE__URL=url)
        )
        assert migrated.returncode == 0, migrated.stderr
        yield url


async def test_a_hung_database_does_not_take_the_worker_out_of_haproxy(
    tmp_path: Path, database: str
) -> None:
    db = TcpProxy(MARIADB_HOST, MARIADB_PORT)
    await db.start()
    via_proxy = database.replace(f"{MARIADB_HOST}:{MARIADB_PORT}", f"127.0.0.1:{db.port}")
    worker = Worker("blue", tmp_path, via_proxy)
    combined, cert = make_certificate(tmp_path / "tls")
    proxy = Haproxy(tmp_path, combined)
    try:
        # Blocking start-up steps run in a thread: this loop must keep forwarding to MariaDB.
        await asyncio.to_thread(lambda: worker.start().wait_ready())
        # Both server lines name the one worker: this test is about its health check.
        await asyncio.to_thread(
            proxy.render, worker.address, worker.address, "blue", "--no-allow-tradingview-ips"
        )
        await asyncio.to_thread(lambda: proxy.start().wait_up("blue"))

        db.hang()
        # A check that ran against the hung database takes about the database timeout (2 s)
        # and still passes; HAProxy keeps the worker UP.
        state = await eventually(lambda: _slow_passing_check(proxy), timeout_s=30, every_s=0.2)
        assert state.status == "UP" and state.check == "L7OK"
        async with httpx.AsyncClient(verify=client_tls(cert), timeout=10) as client:
            key = "hang-" + uuid.uuid4().hex[:8]
            reply = await client.post(
                f"https://127.0.0.1:{proxy.https_port}/webhook",
                content=alert(key, "dbhang"),
                headers={"Content-Type": "application/json"},
            )
        assert reply.status_code == 200, reply.text
        assert reply.json()["status"] == "accepted"
        assert reply.json()["stored"].startswith("journal")  # the database really was away
        assert proxy.admin().servers()["blue"].status == "UP"
    finally:
        db.restore()
        await asyncio.to_thread(proxy.stop)
        await asyncio.to_thread(worker.stop)
        await db.stop()


def _slow_passing_check(proxy: Haproxy) -> ServerState | None:
    state = proxy.admin().servers()["blue"]
    return state if state.check_ms >= 400 else None
