"""The book's arithmetic: moving-average cost, realised P&L net of every charge, the fee rule in
force on a fill's local day, and the reconciliation with the broker's holdings."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yquant.domain.book import (
    UNATTRIBUTED,
    BookFill,
    FeeRule,
    FeeSchedule,
    Holding,
    LocalDay,
    Position,
    build,
    reconcile,
)
from yquant.domain.model import Market, Side

D = Decimal
KR_FEES = FeeSchedule(
    {
        Market.KR: [
            FeeRule(
                since=date(2025, 1, 1), commission_rate=D("0.00015"), sell_tax_rate=D("0.0015")
            ),
            FeeRule(since=date(2026, 1, 1), commission_rate=D("0.00015"), sell_tax_rate=D("0.002")),
            FeeRule(since=date(2026, 1, 1), sell_tax_rate=D("0.001"), exchange="KONEX"),
        ],
        Market.US: [
            FeeRule(
                since=date(2026, 4, 4),
                sell_fee_rate=D("0.0000206"),
                sell_fee_per_share=D("0.000195"),
                sell_fee_per_share_max=D("9.79"),
            ),
        ],
    }
)
DAYS = LocalDay.of_markets()
_seq = iter(range(1, 10_000))


def fill(
    side: Side,
    quantity: str,
    price: str,
    *,
    at: datetime = datetime(2026, 3, 2, 1, 0, tzinfo=UTC),
    commission: str = "0",
    strategy: str = "alpha",
    account: str = "paper",
    market: Market = Market.KR,
    ticker: str = "005930",
    exchange: str = "KOSPI",
) -> BookFill:
    n = next(_seq)
    return BookFill(
        fill_id=f"f{n:05d}",
        client_order_id=f"o{n:05d}",
        account=account,
        strategy=strategy,
        market=market,
        ticker=ticker,
        side=side,
        quantity=D(quantity),
        price=D(price),
        commission=D(commission),
        filled_at=at,
        exchange=exchange,
    )


def at(day: int, hour: int = 1) -> datetime:
    return datetime(2026, 3, day, hour, 0, tzinfo=UTC)


def one(fills: list[BookFill], fees: FeeSchedule = KR_FEES) -> Position:
    [position] = build(fills, fees, DAYS).positions.values()
    return position


# ---- average cost and realised P&L -------------------------------------------------------------


def test_the_average_cost_moves_with_buys_and_stays_on_sells() -> None:
    buys = [fill(Side.BUY, "10", "70000", at=at(2)), fill(Side.BUY, "30", "74000", at=at(3))]
    position = one(buys)
    assert (position.quantity, position.avg_cost) == (D(40), D(73000))
    after = one([*buys, fill(Side.SELL, "15", "80000", at=at(4))])
    assert (after.quantity, after.avg_cost) == (D(25), D(73000))
    # The fees are not in the average cost (평균단가 as brokers show it).
    assert after.cost_value == D(25) * D(73000)


def test_realised_pnl_is_net_of_the_buys_commission_share_the_sells_commission_and_taxes() -> None:
    fills = [
        fill(Side.BUY, "10", "70000", at=at(2), commission="105"),  # reported by the broker
        fill(Side.BUY, "10", "72000", at=at(3)),  # none reported: 720,000 x 0.015% = 108
        fill(Side.SELL, "5", "75000", at=at(4), commission="56"),
    ]
    position = one(fills)
    # (75,000 - 71,000) x 5 - 56 commission - 750 tax (0.20% of 375,000)
    #   - 53.25 (the 5 shares' part of the 213 the buys paid)
    assert position.realised == D("19140.75")
    assert (position.quantity, position.avg_cost, position.open_fees) == (
        D(15),
        D(71000),
        D("159.75"),
    )
    assert (position.commissions, position.taxes) == (D(105 + 108 + 56), D(750))

    closed = one([*fills, fill(Side.SELL, "15", "70000", at=at(5))])
    # -15,000 - 157 (1,050,000 x 0.015% = 157.5, cut to the won) - 2,100 tax - 159.75 carried
    assert closed.realised == D("19140.75") + D("-17416.75")
    assert (closed.quantity, closed.avg_cost, closed.open_fees) == (D(0), D(0), D(0))


def test_a_position_opened_again_after_it_was_closed_starts_a_new_average() -> None:
    fills = [
        fill(Side.BUY, "10", "70000", at=at(2)),
        fill(Side.SELL, "10", "71000", at=at(3)),
        fill(Side.BUY, "4", "65000", at=at(4)),
    ]
    position = one(fills)
    assert (position.quantity, position.avg_cost) == (D(4), D(65000))
    assert position.realised != 0  # the first round trip's result stays


def test_the_brokers_commission_wins_over_the_estimate() -> None:
    reported = one([fill(Side.BUY, "10", "70000", commission="99")])
    estimated = one([fill(Side.BUY, "10", "70000", commission="0")])
    assert (reported.commissions, estimated.commissions) == (D(99), D(105))


def test_unrealised_pnl_is_measured_from_the_average_cost() -> None:
    position = one([fill(Side.BUY, "3", "70000")])
    assert position.unrealised(D(72000)) == D(6000)
    assert position.unrealised(None) is None


def test_a_sell_the_book_cannot_explain_leaves_a_negative_quantity_to_reconcile() -> None:
    position = one(
        [fill(Side.BUY, "2", "70000", at=at(2)), fill(Side.SELL, "5", "71000", at=at(3))]
    )
    assert position.quantity == D(-3)
    assert position.avg_cost == 0


@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(1, 50), st.integers(1_000, 200_000)),
        min_size=1,
        max_size=30,
    )
)
def test_realised_plus_open_cost_adds_up_to_the_cash_flow(
    trades: list[tuple[bool, int, int]],
) -> None:
    """Whatever the sequence of long-only trades: the money in and out (charges included)
    equals the realised P&L less what the shares still held cost with their buy fees."""
    fills, held, cash = [], 0, D(0)
    for n, (buy, wanted, price) in enumerate(trades):
        qty = wanted if buy else min(wanted, held)
        if qty == 0:
            continue
        f = fill(
            Side.BUY if buy else Side.SELL, str(qty), str(price), at=at(2, 0).replace(minute=n)
        )
        fills.append(f)
        commission, taxes = KR_FEES.charges(
            Market.KR, f.side, f.quantity, f.price, date(2026, 3, 2)
        )
        amount = f.quantity * f.price
        cash += (-amount if buy else amount) - commission - taxes
        held += qty if buy else -qty
    if not fills:
        return
    position = one(fills)
    assert position.quantity == held
    open_cost = position.quantity * position.avg_cost + position.open_fees
    assert position.realised - open_cost == pytest.approx(cash, abs=D("0.000001"))


# ---- the fee schedule -------------------------------------------------------------------------


def test_the_rule_in_force_on_the_fills_local_day_is_used() -> None:
    rules = KR_FEES.rules[Market.KR]
    assert KR_FEES.rule(Market.KR, date(2025, 12, 31)) is rules[0]
    assert KR_FEES.rule(Market.KR, date(2026, 1, 1)) is rules[1]
    assert KR_FEES.rule(Market.KR, date(2024, 6, 1)) == FeeRule(since=date.min)  # none yet
    # 2025-12-31 15:30 UTC is already 2026-01-01 in Seoul: the 2026 rate.
    new_year = datetime(2025, 12, 31, 15, 30, tzinfo=UTC)
    old_year = datetime(2025, 12, 31, 6, 0, tzinfo=UTC)
    for when, tax in ((old_year, D(150)), (new_year, D(200))):
        position = one(
            [
                fill(Side.BUY, "1", "100000", at=when.replace(hour=1)),
                fill(Side.SELL, "1", "100000", at=when),
            ]
        )
        assert position.taxes == tax


def test_an_exchange_with_its_own_rule_follows_its_own_schedule() -> None:
    konex = KR_FEES.rule(Market.KR, date(2026, 6, 1), "KONEX")
    assert konex.sell_tax_rate == D("0.001")
    assert KR_FEES.rule(Market.KR, date(2026, 6, 1), "KOSDAQ").sell_tax_rate == D("0.002")
    # Before its first own rule, the market's rule applies to it as well.
    assert KR_FEES.rule(Market.KR, date(2025, 6, 1), "KONEX").sell_tax_rate == D("0.0015")
    position = one(
        [
            fill(Side.BUY, "10", "5000", exchange="KONEX", at=at(2)),
            fill(Side.SELL, "10", "5000", exchange="KONEX", at=at(3)),
        ]
    )
    assert position.taxes == D(50)
    assert position.exchange == "KONEX"


def test_us_regulatory_fees_are_each_rounded_up_to_the_cent_and_finras_is_capped() -> None:
    day = date(2026, 5, 1)
    # SEC: 15,025 x 0.0000206 = 0.3095 -> 0.31; FINRA: 100 x 0.000195 = 0.0195 -> 0.02.
    assert KR_FEES.charges(Market.US, Side.SELL, D(100), D("150.25"), day) == (D(0), D("0.33"))
    # FINRA's fee stops at 9.79 a trade; the SEC's has no cap (600,000 x 0.0000206 = 12.36).
    assert KR_FEES.charges(Market.US, Side.SELL, D(60000), D(10), day) == (D(0), D("22.15"))
    assert KR_FEES.charges(Market.US, Side.BUY, D(60000), D(10), day) == (D(0), D(0))
    # Before the rule took effect: nothing.
    assert KR_FEES.charges(Market.US, Side.SELL, D(100), D(10), date(2026, 1, 5)) == (D(0), D(0))


# ---- per strategy and per day ---------------------------------------------------------------


def test_each_strategy_keeps_its_own_position_on_one_account() -> None:
    book = build(
        [
            fill(Side.BUY, "10", "70000", strategy="alpha", at=at(2)),
            fill(Side.BUY, "5", "72000", strategy="beta", at=at(2, 2)),
            fill(Side.SELL, "10", "71000", strategy="alpha", at=at(3)),
        ],
        KR_FEES,
        DAYS,
    )
    assert book.held("paper", "alpha", Market.KR, "005930") == 0
    assert book.held("paper", "beta", Market.KR, "005930") == 5
    assert [p.strategy for p in book.rows(account="paper")] == ["alpha", "beta"]
    assert [p.strategy for p in book.rows(strategy="beta")] == ["beta"]


def test_the_pnl_realised_since_each_markets_day_start() -> None:
    kr_day = DAYS.day_start(Market.KR, datetime(2026, 3, 4, 2, 0, tzinfo=UTC))
    us_day = DAYS.day_start(Market.US, datetime(2026, 3, 4, 2, 0, tzinfo=UTC))
    assert kr_day.isoformat() == "2026-03-04T00:00:00+09:00"
    assert us_day.isoformat() == "2026-03-03T00:00:00-05:00"
    fills = [
        fill(Side.BUY, "10", "70000", at=at(2), commission="1"),
        fill(Side.SELL, "5", "71000", at=at(3), commission="1"),  # yesterday in Seoul
        fill(Side.SELL, "5", "72000", at=at(4), commission="1"),  # today in Seoul
        fill(Side.BUY, "10", "100", market=Market.US, ticker="AAPL", at=at(3, 1)),
        fill(Side.SELL, "10", "110", market=Market.US, ticker="AAPL", at=at(3, 20)),
    ]
    book = build(fills, KR_FEES, DAYS, since={Market.KR: kr_day, Market.US: us_day})
    kr = ("paper", "alpha", Market.KR, "005930")
    us = ("paper", "alpha", Market.US, "AAPL")
    # Today's sell: 10,000 - 1 commission - 720 tax - 0.5 of the buy's commission.
    assert book.realised_since[kr] == D("9278.5")
    assert book.realised_since[us] == D(100)  # before the SEC fee rule: no charges
    assert book.positions[kr].realised > book.realised_since[kr]


# ---- reconciliation ---------------------------------------------------------------------------


def holding(quantity: str, ticker: str = "005930", avg: str = "70500") -> Holding:
    return Holding("paper", ticker, Market.KR, D(quantity), D(avg))


def test_shares_the_broker_holds_beyond_the_book_are_an_unattributed_row() -> None:
    book = build([fill(Side.BUY, "10", "70000")], KR_FEES, DAYS)
    [row] = reconcile(book, [holding("13")], ["paper"])
    assert (row.strategy, row.ticker, row.quantity, row.avg_cost) == (
        UNATTRIBUTED,
        "005930",
        D(3),
        D(70500),
    )
    assert row.exchange == "KOSPI"


def test_shares_the_book_counts_beyond_the_broker_are_a_negative_row() -> None:
    book = build(
        [fill(Side.BUY, "10", "70000", strategy="a"), fill(Side.BUY, "5", "70000", strategy="b")],
        KR_FEES,
        DAYS,
    )
    [row] = reconcile(book, [holding("12")], ["paper"])
    assert (row.quantity, row.avg_cost) == (D(-3), D(0))
    [gone] = reconcile(book, [], ["paper"])
    assert gone.quantity == D(-15)


def test_agreement_leaves_no_row_and_other_accounts_are_not_compared() -> None:
    book = build(
        [fill(Side.BUY, "10", "70000"), fill(Side.BUY, "1", "70000", account="other")],
        KR_FEES,
        DAYS,
    )
    assert reconcile(book, [holding("10")], ["paper"]) == []
    # A broker's holding of a ticker the book never traded.
    [extra] = reconcile(book, [holding("10"), holding("7", "000660", "120000")], ["paper"])
    assert (extra.ticker, extra.quantity, extra.exchange) == ("000660", D(7), "")


def test_a_share_class_is_matched_across_its_spellings() -> None:
    book = build(
        [fill(Side.BUY, "2", "400", market=Market.US, ticker="BRK.B", exchange="NYSE")],
        KR_FEES,
        DAYS,
    )
    broker = Holding("paper", "BRK/B", Market.US, D(2), D(400))
    assert reconcile(book, [broker], ["paper"]) == []
