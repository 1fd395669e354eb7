"""One app key, two workers: only the active worker calls KIS (REST and the notice websocket);
a worker taking over waits out the handover; a call queued before the role moved is not sent."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.fixtures.kis_kit import APP_KEY, kis_settings
from tests.support import eventually
from yquant.adapters.brokers.kis.errors import KisStandbyError
from yquant.adapters.brokers.kis.factory import build_kis_broker
from yquant.adapters.brokers.kis_sim import SimServer, key_label
from yquant.adapters.db.broker_tokens import SqlTokenRecords
from yquant.adapters.db.store import SqlStore
from yquant.domain.model import Market
from yquant.domain.roles import Standing
from yquant.errors import BrokerUnavailableError


class Gate:
    def __init__(self, standing: Standing) -> None:
        self.standing = standing

    def __call__(self) -> Standing:
        return self.standing


async def test_a_standby_worker_asks_kis_for_nothing_and_takes_over_after_the_handover(
    sim: SimServer, sql: SqlStore, vk: Any
) -> None:
    gate = Gate(Standing.STANDBY)
    broker = build_kis_broker(
        "main", kis_settings(sim.url), records=SqlTokenRecords(sql), valkey=vk, gate=gate
    )
    try:
        with pytest.raises(KisStandbyError) as refused:
            await broker.quote(Market.KR, "KRX", "005930")
        assert isinstance(refused.value, BrokerUnavailableError)  # nothing was sent
        assert sim.sim.received == []
        assert sim.sim.stats["tokens_issued"] == 0
        gate.standing = Standing.TAKING_OVER
        quote = asyncio.create_task(broker.quote(Market.KR, "KRX", "005930"))
        await asyncio.sleep(0.3)  # the call waits for the handover; nothing reaches KIS
        assert not quote.done()
        assert sim.sim.received == []
        gate.standing = Standing.ACTIVE
        assert await quote is not None
        assert len(sim.sim.received) == 1
        counted = sim.control("stats")["app_keys"][key_label(APP_KEY)]
        assert (counted["calls"], counted["rate_limited"], counted["peak_per_s"]) == (1, 0, 1)
    finally:
        await broker.close()


async def test_a_call_waiting_for_its_slot_is_not_sent_once_the_worker_is_standby(
    sim: SimServer, sql: SqlStore, vk: Any
) -> None:
    gate = Gate(Standing.ACTIVE)
    broker = build_kis_broker(
        "main",
        kis_settings(sim.url, rate_limit_per_s=2),
        records=SqlTokenRecords(sql),
        valkey=vk,
        gate=gate,
    )
    try:
        await broker.quote(Market.KR, "KRX", "005930")  # the token
        calls = [asyncio.create_task(broker.quote(Market.KR, "KRX", "005930")) for _ in range(4)]
        await eventually(lambda: len(sim.sim.received) >= 2, every_s=0.01)
        gate.standing = Standing.STANDBY  # the switch, seen while calls wait for their slots
        results = await asyncio.gather(*calls, return_exceptions=True)
        refused = [r for r in results if isinstance(r, KisStandbyError)]
        assert refused  # the ones still queued in the rate limiter were never sent
        assert len(sim.sim.received) == 1 + len(results) - len(refused)
    finally:
        await broker.close()


async def test_the_notice_session_lives_only_on_the_active_worker(
    sim: SimServer, sql: SqlStore, vk: Any
) -> None:
    gate = Gate(Standing.STANDBY)
    settings = kis_settings(sim.url, hts_id="sim12345678")
    broker = build_kis_broker("main", settings, records=SqlTokenRecords(sql), valkey=vk, gate=gate)
    realtime = sim.sim.realtime
    try:
        await broker.connect()
        await asyncio.sleep(0.5)  # a standby opens no session (nor asks for an approval key)
        assert (realtime.stats["approvals"], realtime.stats["sessions"]) == (0, 0)
        gate.standing = Standing.ACTIVE
        await eventually(lambda: broker.notices_live)
        assert len(realtime.sessions) == 1
        gate.standing = Standing.STANDBY
        await eventually(lambda: not broker.notices_live and not realtime.sessions)
        assert realtime.stats["sessions"] == 1
    finally:
        await broker.close()
