"""Whose shares an alert acts on: alert (as the webhook parses it) -> engine -> gateway -> the
book, on SQLite and MariaDB, with the paper broker."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.harness import Rig, build_rig
from tests.integration.services.test_engine import _order
from yquant.adapters.bus import SIGNALS, Entry
from yquant.adapters.messages import decode
from yquant.bootstrap import Runtime
from yquant.domain.alerts import decode_body, parse_alert
from yquant.domain.model import Alert, Market, Side
from yquant.entrypoints.webhook import create_app
from yquant.services.ingest import Ingest

KST = ZoneInfo("Asia/Seoul")
FRIDAY_OPEN = datetime(2026, 11, 27, 10, 0, tzinfo=KST)
SHARED = {
    "strategies": {
        "scalper": {"accounts": ["paper"]},
        "long_term": {"accounts": ["paper"]},
        "solo": {"accounts": ["paper"], "position_scope": "account"},
        "follower": {"accounts": ["paper"], "sizing": {"policy": "target_position"}},
        "mirror": {"accounts": ["paper"], "sizing": {"policy": "target_position"}},
    }
}

_ids = iter(range(10**6))


def tv(rig: Rig, **fields: Any) -> Alert:
    """An alert as the webhook makes it of a TradingView body (Samsung at 71,000 unless said),
    a second after the previous one."""
    rig.clock.advance(seconds=1)
    body = {"ticker": "KRX:005930", "price": "71000", "id": f"a{next(_ids)}", **fields}
    return parse_alert(decode_body(json.dumps(body).encode()), rig.clock.now())


@pytest.fixture
async def rig(tmp_path: Path, db_url: str, valkey_url: str) -> AsyncIterator[Rig]:
    r = await build_rig(tmp_path, db_url, valkey_url, FRIDAY_OPEN, **SHARED)
    yield r
    await r.close()


async def held(rig: Rig, strategy: str) -> Decimal:
    return (await rig.book()).held("paper", strategy, Market.KR, "005930")


async def broker_holds(rig: Rig) -> Decimal:
    rows = await rig.broker.holdings("paper")
    return sum((h.quantity for h in rows if h.ticker == "005930"), Decimal(0))


async def refused(rig: Rig, alert: Alert) -> tuple[str, str]:
    """(reason, detail) of an alert that made no order."""
    before = len(await rig.published())
    await rig.handle(alert)
    assert len(await rig.published()) == before
    signal = await rig.signal(alert.key)
    assert signal["status"] == "rejected", signal
    return signal["reason"], signal["detail"] or ""


async def test_two_strategies_sharing_an_account_each_exit_sells_only_its_own_shares(
    rig: Rig,
) -> None:
    await rig.trade(tv(rig, strategy="long_term", action="buy", quantity=70))
    await rig.trade(tv(rig, strategy="scalper", action="buy", quantity=30))
    assert await broker_holds(rig) == 100

    [sold] = await rig.trade(tv(rig, strategy="scalper", action="exit"))
    assert (sold["side"], sold["quantity"], sold["status"]) == ("sell", 30, "filled")
    assert sold["strategy"] == "scalper"
    assert (await held(rig, "scalper"), await held(rig, "long_term")) == (0, 70)
    assert await broker_holds(rig) == 70

    # Nothing left of its own: the next exit sells none of long_term's shares.
    assert (await refused(rig, tv(rig, strategy="scalper", action="exit")))[0] == "no_position"
    # A sell without a quantity sells all the strategy holds, here all of long_term's.
    [sold] = await rig.trade(tv(rig, strategy="long_term", action="sell"))
    assert (sold["quantity"], sold["status"]) == (70, "filled")
    assert await broker_holds(rig) == 0


async def test_a_sell_beyond_the_strategys_position_is_capped_to_it(rig: Rig) -> None:
    await rig.trade(tv(rig, strategy="long_term", action="buy", quantity=70))
    await rig.trade(tv(rig, strategy="scalper", action="buy", quantity=30))
    alert = tv(rig, strategy="scalper", action="sell", quantity=50)
    [sold] = await rig.trade(alert)
    assert (sold["quantity"], sold["status"]) == (30, "filled")
    assert "capped_by_position" in (await rig.signal(alert.key))["detail"]
    assert await held(rig, "long_term") == 70


async def test_unattributed_shares_are_never_sold_by_a_strategy_only_in_account_scope(
    rig: Rig,
) -> None:
    # 100 shares bought outside yQuant: the book has no strategy for them.
    await rig.broker.submit(_order("outside", Side.BUY, "100", "71000", FRIDAY_OPEN))
    assert (await refused(rig, tv(rig, strategy="scalper", action="exit")))[0] == "no_position"
    assert (await refused(rig, tv(rig, strategy="scalper", action="sell", quantity=5)))[0] == (
        "no_position"
    )
    # A strategy whose scope is the account sells what the account holds.
    [sold] = await rig.trade(tv(rig, strategy="solo", action="exit"))
    assert (sold["quantity"], sold["status"]) == (100, "filled")


async def test_a_sell_never_exceeds_what_the_broker_holds(
    tmp_path: Path, db_url: str, valkey_url: str
) -> None:
    # The account read from the broker at every decision (engine.account_view_s 0): a sale
    # outside yQuant is seen at the next decision, not only once the view is old.
    rig = await build_rig(
        tmp_path, db_url, valkey_url, FRIDAY_OPEN, engine={"account_view_s": 0}, **SHARED
    )
    try:
        await rig.trade(tv(rig, strategy="scalper", action="buy", quantity=30))
        # 20 of them sold at the broker outside yQuant: the book still counts 30 for scalper.
        await rig.broker.submit(_order("outside", Side.SELL, "20", "71000", FRIDAY_OPEN))
        alert = tv(rig, strategy="scalper", action="sell", quantity=30)
        [sold] = await rig.trade(alert)
        assert (sold["quantity"], sold["status"]) == (10, "filled")
        assert "capped_by_holdings" in (await rig.signal(alert.key))["detail"]
    finally:
        await rig.close()


async def test_tradingview_positions_state_the_intent_on_a_cash_account(rig: Rig) -> None:
    # A short entry: a cash account cannot be short, and nothing is held to close.
    short = tv(
        rig,
        strategy="scalper",
        action="sell",
        quantity=10,
        market_position="short",
        prev_market_position="flat",
        position_size=-10,
    )
    assert (await refused(rig, short))[0] == "short_not_allowed"
    # Its cover arrives as a buy that leaves the strategy flat: it never buys.
    cover = tv(
        rig,
        strategy="scalper",
        action="buy",
        quantity=10,
        market_position="flat",
        prev_market_position="short",
        position_size=0,
    )
    assert (await refused(rig, cover))[0] == "no_position"
    # Short to long: TradingView's order is 20 (cover 10, buy 10); the long is 10.
    reverse = tv(
        rig,
        strategy="scalper",
        action="buy",
        quantity=20,
        market_position="long",
        prev_market_position="short",
        position_size=10,
    )
    [bought] = await rig.trade(reverse)
    assert (bought["side"], bought["quantity"]) == ("buy", 10)
    # Long to short: the long is closed, the short never opened (20 asked, 10 held).
    flip = tv(
        rig,
        strategy="scalper",
        action="sell",
        quantity=20,
        market_position="short",
        prev_market_position="long",
        position_size=-10,
    )
    [sold] = await rig.trade(flip)
    assert (sold["side"], sold["quantity"], sold["status"]) == ("sell", 10, "filled")
    assert "capped_by_position" in (await rig.signal(flip.key))["detail"]
    assert await held(rig, "scalper") == 0
    # A partial close and a flat exit of a long: the quantity, then all that is left.
    await rig.trade(
        tv(
            rig,
            strategy="scalper",
            action="buy",
            quantity=10,
            market_position="long",
            prev_market_position="flat",
            position_size=10,
        )
    )
    [part] = await rig.trade(
        tv(
            rig,
            strategy="scalper",
            action="sell",
            quantity=4,
            market_position="long",
            prev_market_position="long",
        )
    )
    [rest] = await rig.trade(
        tv(
            rig,
            strategy="scalper",
            action="sell",
            quantity=6,
            market_position="flat",
            prev_market_position="long",
        )
    )
    assert (part["quantity"], rest["quantity"]) == (4, 6)
    assert await broker_holds(rig) == 0


async def test_target_position_trades_toward_each_strategys_own_target(rig: Rig) -> None:
    [first] = await rig.trade(tv(rig, strategy="follower", action="buy", position_size=10))
    assert (first["side"], first["quantity"]) == ("buy", 10)
    # The account holds 10, but mirror holds none: its target of 4 buys 4, never sells 6.
    [second] = await rig.trade(tv(rig, strategy="mirror", action="buy", position_size=4))
    assert (second["side"], second["quantity"]) == ("buy", 4)
    [third] = await rig.trade(tv(rig, strategy="follower", action="sell", position_size=3))
    assert (third["side"], third["quantity"]) == ("sell", 7)
    assert (await held(rig, "follower"), await held(rig, "mirror")) == (3, 4)


async def test_an_exit_while_a_sell_of_the_strategy_works_replaces_it(rig: Rig) -> None:
    await rig.trade(tv(rig, strategy="scalper", action="buy", quantity=30))
    await rig.trade(tv(rig, strategy="long_term", action="buy", quantity=50))
    # Take-profit limits well above the price: they rest at the broker.
    [first] = await rig.trade(
        tv(
            rig,
            strategy="scalper",
            action="sell",
            quantity=10,
            order_type="limit",
            limit_price=90000,
        )
    )
    # A sell that fits in the shares not yet offered is one more order, not a replacement.
    [second] = await rig.trade(
        tv(
            rig,
            strategy="scalper",
            action="sell",
            quantity=5,
            order_type="limit",
            limit_price=95000,
        )
    )
    assert (first["status"], second["status"]) == ("accepted", "accepted")
    assert second["replaces"] is None
    # long_term's working sell is not scalper's: it is netted at the broker, never replaced.
    await rig.trade(
        tv(
            rig,
            strategy="long_term",
            action="sell",
            quantity=50,
            order_type="limit",
            limit_price=99000,
        )
    )
    # The exit replaces the most recent working sell (5), nets the other (10): 30 - 10 = 20.
    exit_ = tv(rig, strategy="scalper", action="exit")
    await rig.handle(exit_)
    message = (await rig.published())[-1]
    assert (message["side"], message["quantity"]) == ("sell", "20")
    assert message["replaces"] == second["client_order_id"]
    assert message["strategy"] == "scalper"
    signal = await rig.signal(exit_.key)
    assert (signal["status"], signal["reason"]) == ("ordered", None)
    stored = await rig.store.order(message["client_order_id"])
    assert stored is not None and stored["replaces"] == second["client_order_id"]
    # The gateway cancels the replaced sell first, then sends this one: 20 sold, 10 still
    # offered by the first take-profit, and long_term's shares untouched.
    [sold] = await rig.execute()
    assert (sold["quantity"], sold["status"]) == (20, "filled")
    replaced = await rig.store.order(second["client_order_id"])
    assert replaced is not None and replaced["status"] == "cancelled"
    assert (await held(rig, "scalper"), await held(rig, "long_term")) == (10, 50)


async def test_a_sell_larger_than_the_free_shares_replaces_the_working_sell(rig: Rig) -> None:
    await rig.trade(tv(rig, strategy="scalper", action="buy", quantity=30))
    [working] = await rig.trade(
        tv(
            rig,
            strategy="scalper",
            action="sell",
            quantity=25,
            order_type="limit",
            limit_price=90000,
        )
    )
    await rig.handle(tv(rig, strategy="scalper", action="sell", quantity=12))
    message = (await rig.published())[-1]
    # 12 > the 5 not offered: the working sell of 25 is replaced, this one sized from the 30.
    assert (message["quantity"], message["replaces"]) == ("12", working["client_order_id"])


async def test_tradingview_bodies_posted_to_the_webhook_end_in_each_strategys_book(
    rig: Rig,
) -> None:
    """The whole way: HTTP POST -> the signal log and yq:signals -> the engine -> the gateway ->
    the paper broker -> the fills the book replays."""
    secret = "positions-test-secret"
    runtime = Runtime(rig.settings, rig.store, rig.recorder, rig.bus, rig.clock)
    ingest = Ingest(recorder=rig.recorder, bus=rig.bus, secret=secret, worker="local")
    transport = httpx.ASGITransport(app=create_app(runtime, ingest), client=("127.0.0.1", 1))
    handled = 0

    async def post(**fields: Any) -> None:
        nonlocal handled
        body = {"secret": secret, "ticker": "KRX:005930", "price": 71000, **fields}
        async with httpx.AsyncClient(transport=transport, base_url="http://yq") as client:
            reply = await client.post("/webhook", json=body)
        assert reply.json()["status"] == "accepted", reply.text
        await ingest.flush()
        entries = (await rig.bus.client.xrange(SIGNALS))[handled:]
        for entry_id, data in entries:
            message = json.loads(data["data"])
            entry = Entry(SIGNALS, entry_id, message, False, decode(SIGNALS, message))
            await rig.engine.signals.handle_signal(entry)
        handled += len(entries)
        await rig.execute()

    try:
        # TradingView's strategy template: a long entry each, then a long-to-short reversal.
        template = {"market_position": "long", "prev_market_position": "flat"}
        await post(strategy="long_term", action="buy", quantity=70, id="l1", **template)
        await post(strategy="scalper", action="buy", quantity=30, id="s1", **template)
        await post(
            strategy="scalper",
            action="sell",
            quantity=60,
            id="s2",
            market_position="short",
            prev_market_position="long",
            position_size=-30,
        )
        assert (await held(rig, "scalper"), await held(rig, "long_term")) == (0, 70)
        assert await broker_holds(rig) == 70
    finally:
        await ingest.close()
