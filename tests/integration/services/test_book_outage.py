"""During a database outage the engine decides from the book figures it knew last (and says so
in the log): a position moved by the orders it made since, the day's losses it measured; a
position it never read is not guessed, and no sell exceeds what the broker holds."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.harness import build_rig
from tests.integration.services.test_engine import _order
from tests.support import MARIADB_HOST, MARIADB_PORT, TcpProxy
from yquant.domain.model import Action, Alert, Market, Side
from yquant.domain.reasons import ReasonCode

KST = ZoneInfo("Asia/Seoul")
STRATEGIES = {"strategies": {"scalper": {"accounts": ["paper"]}, "other": {"accounts": ["paper"]}}}
_keys = iter(range(10**6))


def alert(
    at: datetime,
    action: Action = Action.BUY,
    *,
    strategy: str = "scalper",
    quantity: str | None = "1",
    price: str = "71000",
    ticker: str = "005930",
) -> Alert:
    return Alert(
        key=f"o{next(_keys)}",
        strategy=strategy,
        ticker=ticker,
        exchange="KRX",
        market=Market.KR,
        action=action,
        received_at=at,
        price=Decimal(price),
        quantity=None if quantity is None else Decimal(quantity),
    )


@pytest.fixture
async def proxy(mariadb_url: str) -> AsyncIterator[tuple[TcpProxy, str]]:
    """A MariaDB connection through a proxy the test can cut."""
    p = await TcpProxy(MARIADB_HOST, MARIADB_PORT).start()
    yield p, mariadb_url.replace(f"{MARIADB_HOST}:{MARIADB_PORT}", f"127.0.0.1:{p.port}")
    await p.stop()


async def test_positions_come_from_memory_and_sells_never_exceed_the_broker(
    tmp_path: Path,
    proxy: tuple[TcpProxy, str],
    valkey_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cut, url = proxy
    now = datetime.now(KST)
    # The account read from the broker at every decision (engine.account_view_s 0): the sale
    # outside yQuant below is seen at once.
    rig = await build_rig(
        tmp_path, url, valkey_url, now, engine={"account_view_s": 0}, **STRATEGIES
    )
    try:
        await rig.trade(alert(now, quantity="30"))
        await rig.trade(alert(now, strategy="other", quantity="50"))
        [sold] = await rig.trade(alert(now, Action.SELL, quantity="10"))  # the book read: 30
        assert sold["status"] == "filled"
        cut.cut()
        with caplog.at_level(logging.WARNING, logger="yquant.services.decisions"):
            exit_ = await rig.engine.decider.decide(alert(now, Action.EXIT, quantity=None), now)
        # 30 read, 10 sold since by this engine: 20 are scalper's, never the account's 70.
        [order] = exit_.orders
        assert (order.side, order.quantity) == (Side.SELL, 20)
        assert "book figures from memory" in caplog.text
        # The broker holds fewer (sold outside yQuant meanwhile): never more than it holds.
        await rig.broker.submit(_order("outside", Side.SELL, "55", "71000", now))
        capped = await rig.engine.decider.decide(alert(now, Action.EXIT, quantity=None), now)
        assert [(o.order.quantity if o.order else None, o.notes) for o in capped.outcomes] == [
            (15, (ReasonCode.CAPPED_BY_HOLDINGS,))
        ]
        # "other" was never read by this engine: its sells wait, its buys go.
        unknown = await rig.engine.decider.decide(
            alert(now, Action.EXIT, strategy="other", quantity=None), now
        )
        assert [o.reason for o in unknown.outcomes] == [ReasonCode.DATABASE_UNAVAILABLE]
        buy = await rig.engine.decider.decide(alert(now, strategy="other"), now)
        assert [o.reason for o in buy.outcomes] == [None]
    finally:
        cut.restore()
        await rig.close()


async def test_the_days_loss_comes_from_memory(
    tmp_path: Path,
    proxy: tuple[TcpProxy, str],
    valkey_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cut, url = proxy
    now = datetime.now(KST)
    limited = {"paper": {"broker": "paper", "risk": {"max_daily_loss": {"KRW": "500000"}}}}
    rig = await build_rig(tmp_path, url, valkey_url, now, accounts=limited, **STRATEGIES)
    try:
        await rig.trade(alert(now, quantity="100"))
        await rig.trade(alert(now, Action.EXIT, quantity=None, price="66000"))
        first = await rig.engine.decider.decide(alert(now, ticker="069500", price="10000"), now)
        assert [o.reason for o in first.outcomes] == [ReasonCode.DAILY_LOSS_LIMIT]
        cut.cut()
        with caplog.at_level(logging.WARNING, logger="yquant.services.decisions"):
            again = await rig.engine.decider.decide(alert(now, ticker="069500"), now)
        assert [o.reason for o in again.outcomes] == [ReasonCode.DAILY_LOSS_LIMIT]
        assert "book figures from memory" in caplog.text
    finally:
        cut.restore()
        await rig.close()
