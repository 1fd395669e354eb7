"""TradingView parity: the Strategy Tester's List of trades export, read in its English and
Korean layouts, matched to live orders; a bad file refused with its line and column."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from yquant.domain.model import Side
from yquant.domain.parity import LiveOrder, TradesFileError, match, parse_tv_trades

SEOUL = ZoneInfo("Asia/Seoul")

# The layout of the English export (TradingView's column names with the currency after the
# money columns), newest trade first and each exit row before its entry row, as exported.
ENGLISH = """\ufeffTrade #,Type,Signal,Date/Time,Price KRW,Contracts,Profit KRW,Profit %,\
Cumulative profit KRW,Cumulative profit %,Run-up KRW,Run-up %,Drawdown KRW,Drawdown %
3,Exit long,Open,2026-12-03 15:30,71500,10,0,0.00,5000,0.07,0,0.00,0,0.00
3,Entry long,Long,2026-12-03 09:30,71500,10,,,,,,,,
2,Exit long,Close,2026-12-02 15:00,70000,10,-5000,-0.71,5000,0.07,1000,0.14,-8000,-1.13
2,Entry long,Long,2026-12-02 10:00,70500,10,,,,,,,,
1,Exit long,Close,2026-12-01 14:00,72000,10,"10,000",1.41,10000,0.14,12000,1.69,-2000,-0.28
1,Entry long,Long,2026-12-01 09:30,71000,10,,,,,,,,
"""

# The same trades in the Korean export's headers and type words (see the module's note on
# what of them was inferred).
KOREAN = """거래 #,타입,시그널,날짜/시간,가격 KRW,계약,수익 KRW,수익 %,누적 수익 KRW,누적 수익 %
3,롱 청산,Open,2026-12-03 15:30,71500,10,0,0.00,5000,0.07
3,롱 진입,Long,2026-12-03 09:30,71500,10,,,,
2,롱 청산,Close,2026-12-02 15:00,70000,10,−5000,−0.71,5000,0.07
2,롱 진입,Long,2026-12-02 10:00,70500,10,,,,
1,롱 청산,Close,2026-12-01 14:00,72000,10,10000,1.41,10000,0.14
1,롱 진입,Long,2026-12-01 09:30,71000,10,,,,
"""

# The later English layout ("Date and time", "Position size (qty)", "Net P&L").
ENGLISH_LATER = """Trade #,Type,Date and time,Signal,Price KRW,Position size (qty),\
Position size (value),Net P&L KRW,Net P&L %,Run-up KRW,Run-up %,Drawdown KRW,Drawdown %,\
Cumulative P&L KRW,Cumulative P&L %
3,Exit long,2026-12-03 15:30,Open,71500,10,715000,0,0,0,0,0,0,5000,0.07
3,Entry long,2026-12-03 09:30,Long,71500,10,715000,0,0,0,0,0,0,5000,0.07
2,Exit long,2026-12-02 15:00,Close,70000,10,700000,-5000,-0.71,1000,0.14,-8000,-1.13,5000,0.07
2,Entry long,2026-12-02 10:00,Long,70500,10,705000,-5000,-0.71,1000,0.14,-8000,-1.13,5000,0.07
1,Exit long,2026-12-01 14:00,Close,72000,10,720000,10000,1.41,12000,1.69,-2000,-0.28,10000,0.14
1,Entry long,2026-12-01 09:30,Long,71000,10,710000,10000,1.41,12000,1.69,-2000,-0.28,10000,0.14
"""


def kst(day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, second, tzinfo=SEOUL)


def live(n: int, side: Side, at: datetime, filled: str, price: str, qty: str = "10") -> LiveOrder:
    return LiveOrder(
        client_order_id=f"yq{n}",
        account="paper",
        ticker="005930",
        side=side,
        decided_at=at.astimezone(UTC),
        quantity=Decimal(qty),
        filled_quantity=Decimal(filled),
        fill_price=Decimal(price),
    )


LIVE = [
    live(1, Side.BUY, kst(1, 9, 30, 2), "10", "71100"),  # trade 1 entry
    live(2, Side.SELL, kst(1, 14, 0, 1), "10", "71900"),  # trade 1 exit
    # trade 2's entry never traded live
    live(3, Side.BUY, kst(2, 12, 0), "5", "70200", qty="5"),  # not in the backtest
    live(4, Side.SELL, kst(2, 15, 0, 3), "10", "69900"),  # trade 2 exit
    live(5, Side.BUY, kst(3, 9, 30, 1), "8", "71500"),  # trade 3 entry, 2 shares short
    live(6, Side.BUY, kst(9, 9, 30), "1", "72000"),  # long after the export: not counted
]


@pytest.mark.parametrize("text", [ENGLISH, KOREAN, ENGLISH_LATER], ids=["en", "ko", "en-later"])
def test_the_export_is_read_in_every_layout(text: str) -> None:
    trades = parse_tv_trades(text, SEOUL)
    assert trades.currency == "KRW"
    assert trades.open_trades == (3,)
    rows = [(f.trade, f.entry, f.side, f.at, f.price, f.quantity, f.profit) for f in trades.fills]
    assert rows == [
        (1, True, Side.BUY, kst(1, 9, 30), Decimal(71000), Decimal(10), None),
        (1, False, Side.SELL, kst(1, 14, 0), Decimal(72000), Decimal(10), Decimal(10000)),
        (2, True, Side.BUY, kst(2, 10, 0), Decimal(70500), Decimal(10), None),
        (2, False, Side.SELL, kst(2, 15, 0), Decimal(70000), Decimal(10), Decimal(-5000)),
        (3, True, Side.BUY, kst(3, 9, 30), Decimal(71500), Decimal(10), None),
    ]


@pytest.mark.parametrize("text", [ENGLISH, KOREAN, ENGLISH_LATER], ids=["en", "ko", "en-later"])
def test_parity_names_missed_extra_differences_and_the_pnl_gap(text: str) -> None:
    parity = match(parse_tv_trades(text, SEOUL), LIVE, timedelta(minutes=5))

    pairs = [(m.tv.trade, m.tv.entry, m.live.client_order_id) for m in parity.matched]
    assert pairs == [(1, True, "yq1"), (1, False, "yq2"), (2, False, "yq4"), (3, True, "yq5")]
    assert [(r.trade, r.entry) for r in parity.missed] == [(2, True)]
    assert [o.client_order_id for o in parity.extra] == ["yq3"]

    first, exit_1, _, third = parity.matched
    assert first.price_diff == Decimal(100)
    assert first.price_diff_bps == Decimal("14.08")  # bought 100 won above: worse
    assert exit_1.price_diff_bps == Decimal("13.89")  # sold 100 won below 72,000: worse
    assert third.quantity_diff == Decimal(-2)
    assert first.delay_s == 2.0

    gaps = {t.trade: (t.tv_profit, t.live_profit, t.gap) for t in parity.trades}
    # trade 1: live (71,900 - 71,100) x 10 = 8,000 against 10,000; trade 2: its entry missed
    assert gaps == {
        1: (Decimal(10000), Decimal(8000), Decimal(-2000)),
        2: (Decimal(-5000), None, None),
    }
    assert [t.trade for t in parity.compared_trades] == [1]
    assert (parity.tv_profit, parity.live_profit, parity.pnl_gap) == (
        Decimal(10000),
        Decimal(8000),
        Decimal(-2000),
    )


def test_short_trades_sell_to_enter_and_buy_to_exit() -> None:
    text = (
        "Trade #,Type,Signal,Date/Time,Price USD,Contracts,Profit USD\n"
        "1,Exit short,Cover,2026-12-01 11:00,95.00,5,25.00\n"
        "1,Entry short,Short,2026-12-01 10:00,100.00,5,\n"
    )
    ny = ZoneInfo("America/New_York")
    trades = parse_tv_trades(text, ny)
    assert [(f.entry, f.side) for f in trades.fills] == [(True, Side.SELL), (False, Side.BUY)]
    at = datetime(2026, 12, 1, 10, 0, tzinfo=ny)
    orders = [
        LiveOrder("a", "p", "AAPL", Side.SELL, at, Decimal(5), Decimal(5), Decimal("99.90")),
        LiveOrder(
            "b", "p", "AAPL", Side.BUY, at + timedelta(hours=1), Decimal(5), Decimal(5), Decimal(96)
        ),
    ]
    parity = match(trades, orders, timedelta(minutes=1))
    # short: (entry - exit) x 5 = (99.90 - 96) x 5 = 19.50 against 25.00
    assert parity.pnl_gap == Decimal("-5.50")
    assert parity.matched[0].price_diff_bps == Decimal("10.00")  # sold 0.10 below 100: worse


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("", 1, None, "empty"),
        ("date,open,high,low,close\n2026-12-01,1,2,3,4\n", 1, None, "'trade #' column"),
        (
            (
                "Trade #,Type,Signal,Date/Time,Price KRW,Contracts\n"
                "1,Exit long,Close,2026-12-01 14:00,72000,10\n"
                "1,Entry long,Long,2026-12-01 09:30,abc,10\n"
            ),
            3,
            5,
            "(Price KRW): not a positive number",
        ),
        (
            (
                "Trade #,Type,Signal,Date/Time,Price KRW,Contracts\n"
                "1,Buy something,Long,2026-12-01 09:30,71000,10\n"
            ),
            2,
            2,
            "(Type): 'buy something' is not Entry/Exit long/short",
        ),
        (
            "거래 #,타입,시그널,날짜/시간,가격 KRW,계약\n1,롱 진입,Long,12/01/2026 9:30,71000,10\n",
            2,
            4,
            "(날짜/시간): not a date and time",
        ),
        (
            (
                "Trade #,Type,Signal,Date/Time,Price KRW,Contracts\n"
                "x,Entry long,Long,2026-12-01 09:30,71000,10\n"
            ),
            2,
            1,
            "(Trade #): 'x' is not a trade number",
        ),
        (
            (
                "Trade #,Type,Signal,Date/Time,Price KRW,Contracts\n"
                "1,Entry long,Long,2026-12-01 09:30,71000,-3\n"
            ),
            2,
            6,
            "(Contracts): not a quantity",
        ),
        ("Trade #,Type,Signal,Date/Time,Price KRW\n", 1, None, "no trades"),
    ],
    ids=["empty", "unknown", "price", "type", "time-ko", "trade", "quantity", "no-rows"],
)
def test_a_bad_file_is_refused_with_its_line_and_column(
    text: str, line: int, column: int | None, words: str
) -> None:
    with pytest.raises(TradesFileError) as caught:
        parse_tv_trades(text, SEOUL)
    error = caught.value
    assert (error.line, error.column) == (line, column)
    where = f"line {line}" + (f", column {column}" if column else "")
    assert str(error).startswith(where)
    assert words in str(error)
