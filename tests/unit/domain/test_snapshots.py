"""A day's snapshot from the fills, the closing prices and the broker's cash: the cash the
fills explain (with their charges), what is left as a deposit or a withdrawal, and the
last price known by a close."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from yquant.domain.book import BookFill, FeeRule, FeeSchedule, LocalDay
from yquant.domain.model import Market, Side
from yquant.domain.snapshots import (
    AccountDay,
    FxRate,
    FxSource,
    SnapshotSource,
    close_price,
    fill_cash,
    take,
)

D = Decimal
DAYS = LocalDay.of_markets()
FEES = FeeSchedule(
    {
        Market.KR: [
            FeeRule(since=date(2020, 1, 1), commission_rate=D("0.00015"), sell_tax_rate=D("0.0020"))
        ]
    }
)
MON, TUE = date(2026, 12, 7), date(2026, 12, 8)
MON_CLOSE = datetime(2026, 12, 7, 6, 30, tzinfo=UTC)
TUE_CLOSE = datetime(2026, 12, 8, 6, 30, tzinfo=UTC)
KRW = FxRate(D(1), FxSource.BASE)


def fill(n: int, side: Side, qty: str, price: str, at: datetime, commission: str = "0") -> BookFill:
    return BookFill(
        f"f{n}",
        f"o{n}",
        "main",
        "trend",
        Market.KR,
        "005930",
        side,
        D(qty),
        D(price),
        D(commission),
        at,
        "KOSPI",
    )


def test_a_fills_cash_carries_its_charges() -> None:
    at = datetime(2026, 12, 8, 1, tzinfo=UTC)
    # A buy of 10 at 70,000: 700,000 and the estimated commission (105).
    assert fill_cash(fill(1, Side.BUY, "10", "70000", at), FEES, DAYS) == D(-700_105)
    # A sell of 10 at 72,000: 720,000 less commission 108 and tax 1,440.
    assert fill_cash(fill(2, Side.SELL, "10", "72000", at), FEES, DAYS) == D(718_452)
    # The broker's own commission wins over the estimate.
    assert fill_cash(fill(3, Side.BUY, "1", "70000", at, commission="15"), FEES, DAYS) == D(-70_015)


def monday(cash: str) -> AccountDay:
    return AccountDay(
        "main", MON, "KRW", D(cash), D(0), D(0), D(0), D(0), KRW, SnapshotSource.BROKER, MON_CLOSE
    )


def tuesday(cash: str | None, fills: list[BookFill], flow_min: str = "1000") -> AccountDay:
    return take(
        account="main",
        market=Market.KR,
        day=TUE,
        close_at=TUE_CLOSE,
        fills=fills,
        prices={(Market.KR, "005930"): D(71_000)},
        fees=FEES,
        local_day=DAYS,
        fx=KRW,
        taken_at=TUE_CLOSE,
        previous=monday("10000000"),
        previous_close=MON_CLOSE,
        cash=None if cash is None else D(cash),
        flow_min=D(flow_min),
    )


def test_the_broker_cash_beyond_the_fills_is_a_flow() -> None:
    before = fill(0, Side.BUY, "1", "1", datetime(2026, 12, 7, 1, tzinfo=UTC))  # Monday's
    buy = fill(1, Side.BUY, "10", "70000", datetime(2026, 12, 8, 1, tzinfo=UTC))
    late = fill(
        2, Side.SELL, "10", "72000", datetime(2026, 12, 8, 7, tzinfo=UTC)
    )  # after the close
    # Expected: 10,000,000 - 700,105 = 9,299,895. KIS charged 95 won less: no flow.
    same = tuesday("9300000", [before, buy, late])
    assert (same.cash, same.flow, same.source) == (D(9_300_000), D(0), SnapshotSource.BROKER)
    assert same.positions_value == D(781_000)  # Monday's share and the 10 bought, at 71,000
    # 1,000,000 deposited on top.
    deposit = tuesday("10300000", [before, buy, late])
    assert deposit.flow == D(1_000_105)
    # Back-filled: no broker, the cash the fills explain, no flow.
    filled = tuesday(None, [before, buy, late])
    assert (filled.cash, filled.flow, filled.source) == (
        D(9_299_895),
        D(0),
        SnapshotSource.BACKFILL,
    )
    assert [s.strategy for s in filled.strategies] == ["trend"]
    # 781,000 less their cost (1 + 700,000); the late sell is not the day's
    assert filled.strategies[0].unrealised.quantize(D(1)) == D(80_999)


def test_the_last_price_known_by_the_close() -> None:
    fills = [
        fill(1, Side.BUY, "1", "70000", datetime(2026, 12, 8, 1, tzinfo=UTC)),
        fill(2, Side.BUY, "1", "73000", datetime(2026, 12, 8, 8, tzinfo=UTC)),  # after it
    ]
    recorded = {
        (Market.KR, "005930"): (D(71_500), datetime(2026, 12, 8, 5, tzinfo=UTC)),
        (Market.KR, "000660"): (D(200_000), datetime(2026, 12, 9, 1, tzinfo=UTC)),  # later
    }
    assert close_price(fills, recorded, TUE_CLOSE) == {(Market.KR, "005930"): D(71_500)}
