"""Real-time execution notices: the simulator's websocket as KIS documents it (approval key,
registration reply with the AES key and iv, encrypted '^'-separated notices, PINGPONG), and the
KIS broker following orders from them, with polling as the fallback when the socket is cut."""

from __future__ import annotations

import asyncio
import contextlib
import json
from decimal import Decimal
from typing import Any

import httpx
import websockets

from tests.fixtures.kis_kit import APP_KEY, APP_SECRET, CANO, order, start_sim
from tests.support import eventually
from yquant.adapters.brokers.kis.broker import KisBroker
from yquant.adapters.brokers.kis.notices import decrypt
from yquant.adapters.brokers.kis.schemas import DOMESTIC_NOTICE_COLUMNS, OVERSEAS_NOTICE_COLUMNS
from yquant.adapters.brokers.kis_sim import SimServer
from yquant.domain.model import Fill, Market, Order, OrderStatus, OrderType, Side

HTS_ID = f"sim{CANO}"
CCLD = "/uapi/domestic-stock/v1/trading/inquire-daily-ccld"


def approval(sim: SimServer) -> str:
    body = {"grant_type": "client_credentials", "appkey": APP_KEY, "secretkey": APP_SECRET}
    response = httpx.post(f"{sim.url}/oauth2/Approval", json=body)
    assert response.status_code == 200
    return str(response.json()["approval_key"])


def register(key: str, tr_id: str, tr_key: str = HTS_ID, tr_type: str = "1") -> str:
    header = {"approval_key": key, "custtype": "P", "tr_type": tr_type, "content-type": "utf-8"}
    return json.dumps({"header": header, "body": {"input": {"tr_id": tr_id, "tr_key": tr_key}}})


async def recv_json(ws: Any) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(ws.recv(), 5)))


async def notices(ws: Any, key: str, iv: str, wanted: int) -> tuple[list[list[str]], bool]:
    """``wanted`` decrypted notices (columns), PINGPONGs echoed on the way."""
    frames: list[list[str]] = []
    pinged = False
    while len(frames) < wanted:
        frame = await asyncio.wait_for(ws.recv(), 5)
        if frame.startswith("{"):
            assert json.loads(frame)["header"]["tr_id"] == "PINGPONG"
            await ws.send(frame)
            pinged = True
            continue
        flag, tr_id, count, payload = frame.split("|", 3)
        assert (flag, tr_id, count) == ("1", "H0STCNI0", "001")
        frames.append(decrypt(key, iv, payload).split("^"))
    return frames, pinged


async def test_the_simulator_serves_kis_websocket_protocol() -> None:
    sim = start_sim(pingpong_s=0.3)
    try:
        refused = httpx.post(  # noqa: ASYNC210 (the simulator runs in its own thread)
            f"{sim.url}/oauth2/Approval",
            json={"grant_type": "client_credentials", "appkey": APP_KEY, "appsecret": APP_SECRET},
        )
        assert (refused.status_code, refused.json()["error_code"]) == (403, "EGW00105")
        key = approval(sim)
        ws_url = sim.url.replace("http://", "ws://") + "/tryitout"
        async with websockets.connect(ws_url) as ws:
            await ws.send(register(key, "H0STCNI0", tr_key="someoneelse"))
            bad = await recv_json(ws)
            assert bad["body"]["rt_cd"] == "9" and "tr_key" in bad["body"]["msg1"]
            await ws.send(register(key, "H0STCNI0"))
            ok = await recv_json(ws)
            assert ok["header"] == {"tr_id": "H0STCNI0", "tr_key": HTS_ID, "encrypt": "Y"}
            assert (ok["body"]["rt_cd"], ok["body"]["msg1"]) == ("0", "SUBSCRIBE SUCCESS")
            aes_key, aes_iv = ok["body"]["output"]["key"], ok["body"]["output"]["iv"]
            assert (len(aes_key), len(aes_iv)) == (32, 16)
            await ws.send(register(key, "H0STCNI0"))
            assert (await recv_json(ws))["body"]["msg1"] == "ALREADY IN SUBSCRIBE"
            await ws.send(register(key, "H0GSCNI0"))
            assert (await recv_json(ws))["body"]["rt_cd"] == "0"
            async with websockets.connect(ws_url) as second:  # one session per app key
                await second.send(register(key, "H0STCNI0"))
                assert (await recv_json(second))["body"]["rt_cd"] == "1"

            sim.control("price", market="KR", ticker="005930", price="70000")
            sim.sim.exchange.place(
                (CANO, "01"), market="KR", exchange="KRX", ticker="005930", side="buy",
                quantity=Decimal(3), limit_price=None, branch="06010", closed=RuntimeError(),
            )  # fmt: skip
            frames, pinged = await notices(ws, aes_key, aes_iv, 2)
            accepted, filled = (dict(zip(DOMESTIC_NOTICE_COLUMNS, f, strict=True)) for f in frames)
            assert (accepted["CNTG_YN"], accepted["ACPT_YN"], accepted["ODER_QTY"]) == (
                "1",
                "1",
                "3",
            )
            assert (filled["CNTG_YN"], filled["CNTG_QTY"], filled["CNTG_UNPR"]) == (
                "2",
                "3",
                "70000",
            )
            assert filled["ACNT_NO"] == CANO + "01" and filled["SELN_BYOV_CLS"] == "02"
            while not pinged:
                frame = await asyncio.wait_for(ws.recv(), 5)
                if frame.startswith("{"):
                    await ws.send(frame)
                    pinged = True
            await ws.send(register(key, "H0STCNI0", tr_type="2"))
            assert (await recv_json(ws))["body"]["msg1"] == "UNSUBSCRIBE SUCCESS"
        await eventually(lambda: sim.sim.realtime.stats["pongs"] >= 1, timeout_s=3)
        assert len(OVERSEAS_NOTICE_COLUMNS) == 25
    finally:
        sim.stop()


async def live(broker: KisBroker) -> None:
    await broker.connect()
    await eventually(lambda: broker.notices_live, timeout_s=5)


async def test_fills_arrive_from_notices_without_asking_kis(sim: SimServer, make_broker) -> None:
    broker = make_broker(hts_id=HTS_ID)
    woken: list[str] = []
    broker.on_change(woken.append)
    await live(broker)
    sim.control("price", market="KR", ticker="005930", price="70000")
    sim.control("price", market="US", ticker="AAPL", price="190.5")
    first = order(Side.BUY, 1)
    await broker.submit(first)
    await broker.get_order(first)  # the market's first question after connecting asks KIS
    buy = order(Side.BUY, 4, order_type=OrderType.LIMIT, limit="69000")
    placed = await broker.submit(buy)
    resting = await broker.get_order(buy.apply(placed))
    assert resting is not None and resting.status is OrderStatus.ACCEPTED
    asked = [p for p, _ in sim.sim.received].count(CCLD)
    sim.control("price", market="KR", ticker="005930", price="68900")
    await eventually(lambda: buy.client_order_id in woken, timeout_s=5)

    async def filled() -> object:
        state = await broker.get_order(buy.apply(resting))
        return state if state and state.status is OrderStatus.FILLED else None

    state = await eventually(filled, timeout_s=5)
    assert (state.status, state.filled_quantity, state.avg_fill_price) == (
        OrderStatus.FILLED,
        Decimal(4),
        Decimal(68900),
    )
    assert [f.fill_id for f in state.fills] == [f"{buy.client_order_id}:4"]
    assert [p for p, _ in sim.sim.received].count(CCLD) == asked  # the notices told it all


async def follow(broker: KisBroker, orders: list[Order]) -> tuple[dict[str, Order], list[Fill]]:
    """What the gateway does: ask about every open order until all are final, applying each
    report and keeping each fill once by its id."""
    state = {o.client_order_id: o for o in orders}
    fills: dict[str, Fill] = {}
    woken = asyncio.Event()
    broker.on_change(lambda _cid: woken.set())
    for _ in range(400):
        open_ = [o for o in state.values() if not o.status.is_final]
        if not open_:
            break
        for o in open_:
            known = await broker.get_order(o)
            assert known is not None
            for f in known.fills:
                assert f.fill_id not in fills, f"fill {f.fill_id} reported twice"
                fills[f.fill_id] = f
            state[o.client_order_id] = o.apply(known)
        woken.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), 0.1)
    return state, list(fills.values())


async def test_a_cut_socket_reconnects_and_polling_settles_every_order(
    sim: SimServer, make_broker
) -> None:
    broker = make_broker(hts_id=HTS_ID, reconcile_s=1)
    await live(broker)
    sim.control("price", market="KR", ticker="005930", price="70000")
    sim.control("price", market="US", ticker="AAPL", price="190")
    sim.control("fills", steps=3, interval_s=0.15)
    orders = [order(Side.BUY, 6) for _ in range(4)]
    orders += [order(Side.BUY, 3, ticker="AAPL", market=Market.US) for _ in range(2)]
    sim.control("ws-cut", after_notices=5)  # mid-stream: later notices are lost
    placed = [o.apply(await broker.submit(o)) for o in orders]
    state, fills = await follow(broker, placed)
    assert all(o.status is OrderStatus.FILLED for o in state.values()), state
    for o in orders:
        mine = [f for f in fills if f.client_order_id == o.client_order_id]
        assert sum(f.quantity for f in mine) == o.quantity
        assert state[o.client_order_id].filled_quantity == o.quantity
    report = sim.control("stats")["realtime"]
    assert report["cuts"] == 1
    await eventually(lambda: broker.notices_live, timeout_s=10)
    assert broker.notice_sessions == 2
