"""TradingView parity: the Strategy Tester's "List of trades" export against the live orders.

The export (Strategy Tester, "List of trades", export to CSV) has one row per side of a trade:
an entry row and an exit row share the trade's number. What was verified and what was inferred
(docs/operations.md, "TradingView parity", says the same):

- Verified (TradingView's help centre lists the tab's columns): ``Trade #``, ``Type``,
  ``Signal``, ``Date/Time``, ``Price``, ``Contracts``, ``Profit``, ``Cumulative Profit``,
  ``Run-up``, ``Drawdown``.
- Seen in exports published with other projects, not in TradingView's documentation: the
  money columns carry the currency (``Price USD``, ``Profit KRW``); later exports name the time
  ``Date and time``, the size ``Position size (qty)`` and the profit ``Net P&L USD``; the type
  reads ``Entry long`` / ``Exit short`` (either case); rows are newest first, an exit before its
  entry; an open trade's exit row has the signal ``Open``.
- Inferred, not verified: the Korean export's headers, from TradingView's Korean interface
  words (``거래 #``, ``타입``, ``시그널``, ``날짜/시간``, ``가격``, ``계약``, ``수익``) and the
  type words (``롱 진입``, ``숏 청산`` ...). Each column accepts every spelling listed in
  `COLUMNS`; an export whose headers match none is refused with the column named.

Times in the export are the chart's time zone with no offset written: the caller says which.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation

from yquant.domain.execution import slippage_bps
from yquant.domain.model import Side
from yquant.errors import YquantError

# Each column we read, with every header spelling accepted (compared without case, spaces
# squeezed, a trailing currency code removed: "Price USD" and "가격 KRW" are "price" / "가격").
COLUMNS: dict[str, tuple[str, ...]] = {
    "trade": ("trade #", "trade", "거래 #", "거래 번호", "거래"),
    "type": ("type", "타입", "유형", "종류"),
    "signal": ("signal", "시그널", "신호"),
    "time": ("date/time", "date and time", "날짜/시간", "날짜 및 시간", "날짜/시각", "일시"),
    "price": ("price", "가격"),
    "quantity": (
        "contracts",
        "position size (qty)",
        "qty",
        "quantity",
        "size (qty)",
        "계약",
        "계약 수",
        "포지션 크기 (수량)",
        "수량",
    ),
    "profit": ("profit", "net p&l", "net profit", "수익", "순손익", "순 손익", "손익"),
}
REQUIRED = ("trade", "type", "time", "price")
_CURRENCY = re.compile(r"\s+([A-Z]{3}|\$|₩)$")
_SYMBOLS = {"$": "USD", "₩": "KRW"}
_ENTRY = {"entry", "진입", "엔트리"}
_EXIT = {"exit", "청산", "엑시트", "종료"}
_LONG = {"long", "롱", "매수"}
_SHORT = {"short", "숏", "매도"}
_OPEN_SIGNALS = {"open", "오픈", "미결제"}
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y/%m/%d %H:%M")
MAX_ROWS = 100_000


class TradesFileError(YquantError):
    """A trades export that cannot be read, with the line and column where it went wrong."""

    def __init__(self, line: int, column: int | None, name: str | None, problem: str) -> None:
        self.line = line
        self.column = column
        self.name = name
        self.problem = problem
        where = f"line {line}"
        if column is not None:
            where += f", column {column}" + (f" ({name})" if name else "")
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True, slots=True)
class TvFill:
    """One row of the export: an entry or an exit of trade ``trade``."""

    trade: int
    line: int
    entry: bool
    long: bool
    at: datetime
    price: Decimal
    quantity: Decimal | None
    profit: Decimal | None  # on an exit row
    signal: str

    @property
    def side(self) -> Side:
        return Side.BUY if self.entry == self.long else Side.SELL


@dataclass(frozen=True, slots=True)
class TvTrades:
    fills: tuple[TvFill, ...]
    currency: str | None  # from the headers ("Price KRW"), when they name one
    open_trades: tuple[int, ...] = ()


def _header_key(text: str) -> tuple[str, str | None]:
    text = " ".join(text.replace("\ufeff", "").split())
    currency = None
    found = _CURRENCY.search(text)
    if found:
        currency = _SYMBOLS.get(found.group(1), found.group(1))
        text = text[: found.start()]
    return text.lower(), currency


def parse_tv_trades(text: str, tz: tzinfo) -> TvTrades:
    """The export's rows, oldest first; ``tz``: the chart's time zone the times are written in.
    Raises `TradesFileError` naming the line and column of the first problem."""
    if not text.strip():
        raise TradesFileError(1, None, None, "the file is empty")
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except csv.Error as exc:
        raise TradesFileError(1, None, None, f"not CSV: {exc}") from None
    where, currency = _columns(header)
    fills: list[TvFill] = []
    open_trades: list[int] = []
    line = 1
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(fills) >= MAX_ROWS:
                raise TradesFileError(line, None, None, f"more than {MAX_ROWS} rows")
            parsed = _row(row, where, header, line, tz)
            if parsed is None:
                continue
            if not parsed.entry and parsed.signal.strip().lower() in _OPEN_SIGNALS:
                open_trades.append(parsed.trade)
                continue
            fills.append(parsed)
    except csv.Error as exc:
        raise TradesFileError(reader.line_num, None, None, f"not CSV: {exc}") from None
    if not fills:
        raise TradesFileError(line, None, None, "no trades in the file")
    fills.sort(key=lambda f: (f.at, f.trade, not f.entry))
    return TvTrades(tuple(fills), currency, tuple(open_trades))


def _columns(header: Sequence[str]) -> tuple[dict[str, int], str | None]:
    """Where each column we read is (0-based), and the currency the headers name."""
    where: dict[str, int] = {}
    currency = None
    for index, title in enumerate(header):
        key, cur = _header_key(title)
        for name, spellings in COLUMNS.items():
            if key in spellings and name not in where:
                where[name] = index
                if name in ("price", "profit") and cur:
                    currency = currency or cur
    for name in REQUIRED:
        if name not in where:
            shown = ", ".join(repr(h) for h in header[:12])
            raise TradesFileError(
                1,
                None,
                None,
                f"no {COLUMNS[name][0]!r} column ({'/'.join(COLUMNS[name][:3])}): this is not"
                f" TradingView's List of trades export (headers: {shown})",
            )
    return where, currency


def _cell(row: Sequence[str], where: dict[str, int], name: str) -> str | None:
    index = where.get(name)
    if index is None or index >= len(row):
        return None
    return row[index].strip()


def _row(
    row: Sequence[str], where: dict[str, int], header: Sequence[str], line: int, tz: tzinfo
) -> TvFill | None:
    def fail(name: str, problem: str) -> TradesFileError:
        index = where[name]
        return TradesFileError(line, index + 1, header[index].strip(), problem)

    for name in REQUIRED:
        if not _cell(row, where, name):
            raise fail(name, "empty")
    trade_text = _cell(row, where, "trade") or ""
    if not trade_text.isdigit():
        raise fail("trade", f"{trade_text[:20]!r} is not a trade number")
    kind = (_cell(row, where, "type") or "").lower().split()
    words = set(kind)
    entry, exit_ = bool(words & _ENTRY), bool(words & _EXIT)
    long, short = bool(words & _LONG), bool(words & _SHORT)
    if entry == exit_ or long == short:
        shown = " ".join(kind)[:30]
        raise fail("type", f"{shown!r} is not Entry/Exit long/short")
    at = _time(_cell(row, where, "time") or "")
    if at is None:
        raise fail("time", "not a date and time (YYYY-MM-DD HH:MM)")
    price = _number(_cell(row, where, "price"))
    if price is None or price <= 0:
        raise fail("price", "not a positive number")
    quantity = None
    if "quantity" in where and _cell(row, where, "quantity"):
        quantity = _number(_cell(row, where, "quantity"))
        if quantity is None or quantity < 0:
            raise fail("quantity", "not a quantity")
    profit = None
    if not entry and "profit" in where and _cell(row, where, "profit"):
        raw = _cell(row, where, "profit") or ""
        if raw not in ("—", "-", "–"):
            profit = _number(raw)
            if profit is None:
                raise fail("profit", "not an amount")
    return TvFill(
        trade=int(trade_text),
        line=line,
        entry=entry,
        long=long,
        at=at.replace(tzinfo=tz),
        price=price,
        quantity=quantity,
        profit=profit,
        signal=_cell(row, where, "signal") or "",
    )


def _time(text: str) -> datetime | None:
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt)  # noqa: DTZ007 - the chart's zone is added after
        except ValueError:
            continue
    return None


def _number(text: str | None) -> Decimal | None:
    """A number as the export writes it: thousands separators, a minus sign (ASCII or
    U+2212) or parentheses for a negative amount."""
    if text is None:
        return None
    raw = text.replace(",", "").replace("\u2212", "-").replace(" ", "").replace("\u00a0", "")
    negative = raw.startswith("(") and raw.endswith(")")
    if negative:
        raw = raw[1:-1]
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    return -value if negative else value


# ---- matching ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveOrder:
    """A live order of the strategy, as recorded: what it traded and when it was decided."""

    client_order_id: str
    account: str
    ticker: str
    side: Side
    decided_at: datetime
    quantity: Decimal
    filled_quantity: Decimal
    fill_price: Decimal | None


@dataclass(frozen=True, slots=True)
class Match:
    tv: TvFill
    live: LiveOrder

    @property
    def quantity_diff(self) -> Decimal | None:
        """Live filled quantity minus the backtest's (None: the export gives no size)."""
        if self.tv.quantity is None:
            return None
        return self.live.filled_quantity - self.tv.quantity

    @property
    def price_diff(self) -> Decimal | None:
        """Live average fill price minus the backtest's price."""
        if self.live.fill_price is None:
            return None
        return self.live.fill_price - self.tv.price

    @property
    def price_diff_bps(self) -> Decimal | None:
        """The same in basis points, positive where live was worse for the trader."""
        if self.live.fill_price is None:
            return None
        return slippage_bps(self.tv.side, self.tv.price, self.live.fill_price)

    @property
    def delay_s(self) -> float:
        return (self.live.decided_at - self.tv.at).total_seconds()


@dataclass(frozen=True, slots=True)
class TradeGap:
    """One closed backtest trade against the live orders matched to its entry and exit."""

    trade: int
    long: bool
    tv_profit: Decimal | None
    live_profit: Decimal | None  # gross: (exit - entry) x quantity, None unless both matched

    @property
    def gap(self) -> Decimal | None:
        if self.tv_profit is None or self.live_profit is None:
            return None
        return self.live_profit - self.tv_profit


@dataclass(frozen=True, slots=True)
class Parity:
    matched: tuple[Match, ...]
    missed: tuple[TvFill, ...]  # backtest rows with no live order
    extra: tuple[LiveOrder, ...]  # live orders with no backtest row
    trades: tuple[TradeGap, ...] = field(default_factory=tuple)
    open_trades: tuple[int, ...] = ()

    @property
    def tv_profit(self) -> Decimal:
        """The backtest's profit over the compared trades (`compared_trades`)."""
        return sum((t.tv_profit or Decimal(0) for t in self.compared_trades), Decimal(0))

    @property
    def live_profit(self) -> Decimal:
        """The live gross profit over the compared trades."""
        return sum((t.live_profit or Decimal(0) for t in self.compared_trades), Decimal(0))

    @property
    def compared_trades(self) -> list[TradeGap]:
        """The trades with both sides' P&L: what the P&L gap is measured over."""
        return [t for t in self.trades if t.gap is not None]

    @property
    def pnl_gap(self) -> Decimal:
        """Live minus backtest over the trades both sides closed."""
        return sum((t.gap for t in self.compared_trades if t.gap is not None), Decimal(0))


def match(tv: TvTrades, live: Iterable[LiveOrder], window: timedelta) -> Parity:
    """Each backtest row matched to the nearest unmatched live order of the same side decided
    within ``window`` of it (oldest rows first); the live orders of the export's period
    (``window`` either side) left over are extra. Live orders that filled nothing take part
    only as extra when they are the nearest: a missed fill shows as a quantity difference."""
    orders = sorted(live, key=lambda o: o.decided_at)
    fills = tv.fills
    used: set[str] = set()
    matched: list[Match] = []
    missed: list[TvFill] = []
    for row in fills:
        best: LiveOrder | None = None
        for order in orders:
            if order.client_order_id in used or order.side is not row.side:
                continue
            distance = abs(order.decided_at - row.at)
            if distance > window:
                continue
            if best is None or distance < abs(best.decided_at - row.at):
                best = order
        if best is None:
            missed.append(row)
        else:
            used.add(best.client_order_id)
            matched.append(Match(row, best))
    start = fills[0].at - window
    end = fills[-1].at + window
    extra = tuple(
        o
        for o in orders
        if o.client_order_id not in used and start <= o.decided_at <= end and o.filled_quantity
    )
    return Parity(
        matched=tuple(matched),
        missed=tuple(missed),
        extra=extra,
        trades=_trades(fills, matched),
        open_trades=tv.open_trades,
    )


def _trades(fills: Sequence[TvFill], matched: Sequence[Match]) -> tuple[TradeGap, ...]:
    by_row = {(m.tv.trade, m.tv.entry): m for m in matched}
    out = []
    for trade in sorted({f.trade for f in fills}):
        exit_row = next((f for f in fills if f.trade == trade and not f.entry), None)
        if exit_row is None:
            continue
        entry_m, exit_m = by_row.get((trade, True)), by_row.get((trade, False))
        live_profit = None
        if (
            entry_m is not None
            and exit_m is not None
            and entry_m.live.fill_price is not None
            and exit_m.live.fill_price is not None
        ):
            quantity = min(entry_m.live.filled_quantity, exit_m.live.filled_quantity)
            move = exit_m.live.fill_price - entry_m.live.fill_price
            live_profit = (move if exit_row.long else -move) * quantity
        out.append(TradeGap(trade, exit_row.long, exit_row.profit, live_profit))
    return tuple(out)
