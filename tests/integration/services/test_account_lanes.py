"""One signal for several KIS accounts on the simulator: an account whose broker does not answer,
or refuses its settings, is refused alone and precisely while the healthy account's order goes
out; and a decision costs no broker call while the account's view is fresh."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fixtures.kis import BrokerFactory
from tests.fixtures.kis_kit import APP_KEY
from tests.harness import Rig, build_rig, krx_alert
from tests.support import eventually, free_port
from yquant.adapters.brokers.kis_sim import SimServer, key_label
from yquant.adapters.brokers.routing import AccountBrokers
from yquant.ports import Broker


class Silent:
    """A server that takes connections and never answers: an unreachable broker."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._held: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            self._held.append(writer)

        self._server = await asyncio.start_server(hold, "127.0.0.1", self.port)

    async def stop(self) -> None:
        for writer in self._held:
            writer.close()
        if self._server is not None:
            self._server.close()


@pytest.fixture
async def silent() -> AsyncIterator[Silent]:
    server = Silent()
    await server.start()
    yield server
    await server.stop()


def kis_calls(sim: SimServer) -> int:
    return int(sim.control("stats")["app_keys"][key_label(APP_KEY)]["calls"])


async def rig_for(
    tmp_path: Path,
    db_url: str,
    valkey_url: str,
    brokers: dict[str, Broker],
    **engine: float,
) -> Rig:
    accounts = list(brokers)
    return await build_rig(
        tmp_path,
        db_url,
        valkey_url,
        datetime.now(UTC),
        broker=AccountBrokers(brokers),
        # Accounts as the engine sees them (routing, rules); their brokers are the KIS ones.
        accounts={a: {"broker": "paper"} for a in accounts},
        strategies={"default": {"accounts": accounts}},
        default_accounts=accounts,
        engine=engine,
    )


async def test_an_unreachable_and_a_misconfigured_account_are_refused_alone(
    tmp_path: Path,
    db_url: str,
    valkey_url: str,
    sim: SimServer,
    make_broker: BrokerFactory,
    silent: Silent,
) -> None:
    brokers: dict[str, Broker] = {
        "good": make_broker(account="good"),
        "down": make_broker(f"http://127.0.0.1:{silent.port}", account="down", timeout_s=30),
        "wrongkey": make_broker(account="wrongkey", app_secret="W" + "0123456789abcdef" * 11),
    }
    rig = await rig_for(
        tmp_path,
        db_url,
        valkey_url,
        brokers,
        account_timeout_s=4,
        account_retry_s=600,
    )
    try:
        # The app key's token issued first: KIS issues one a minute, and the misconfigured
        # account (the same app key, a wrong secret) must not be the one to ask for it.
        await brokers["good"].cash("good")
        first = asyncio.create_task(rig.handle(krx_alert("k1", rig.clock.now(), quantity="1")))

        async def good_order_out() -> bool:
            return any(m["account"] == "good" for m in await rig.published())

        await eventually(good_order_out)
        # The healthy account's order went out while the unreachable one was still waited for.
        assert not first.done()
        await first
        signal = await rig.signal("k1")
        assert signal["status"] == "ordered"
        assert "down: account_unavailable its broker gave no figures within 4 s" in signal["detail"]
        assert "wrongkey: broker_config_error KIS " in signal["detail"]  # KIS's own words:
        assert "EGW00105: 유효하지 않은 AppSecret입니다." in signal["detail"]
        assert [m["account"] for m in await rig.published()] == ["good"]

        # Within account_retry_s both are refused at once, without asking their brokers.
        asked = silent.connections
        await rig.handle(krx_alert("k2", rig.clock.now(), quantity="1"))
        assert silent.connections == asked
        signal = await rig.signal("k2")
        assert signal["status"] == "ordered"
        assert "down: account_unavailable" in signal["detail"]
        assert "wrongkey: broker_config_error" in signal["detail"]
        assert [m["account"] for m in await rig.published()] == ["good", "good"]
    finally:
        await rig.close()


async def test_a_burst_of_decisions_asks_kis_once_and_each_order_is_one_call(
    tmp_path: Path,
    db_url: str,
    valkey_url: str,
    sim: SimServer,
    make_broker: BrokerFactory,
) -> None:
    rig = await rig_for(tmp_path, db_url, valkey_url, {"good": make_broker(account="good")})
    try:
        await rig.handle(krx_alert("b0", rig.clock.now(), quantity="1"))
        after_first = kis_calls(sim)  # the token aside, the account's one read
        for n in range(1, 20):
            await rig.handle(krx_alert(f"b{n}", rig.clock.now(), quantity="1"))
        assert kis_calls(sim) == after_first  # 19 decisions, no call
        assert len(await rig.published()) == 20

        before_orders = kis_calls(sim)
        rows = await rig.execute()
        assert len(rows) == 20
        assert {r["status"] for r in rows} <= {"accepted", "filled"}
        assert kis_calls(sim) - before_orders == 20  # the order itself, nothing else
    finally:
        await rig.close()
