"""The book: whose shares are whose, at what cost, and what each strategy has earned. Pure.

Every fill belongs to the strategy whose order it filled (manual orders: ``manual``; scheduled
orders: their own source; a liquidation's sells: the strategy whose position they close).
Replaying an account's fills in the order they happened gives, per (account, strategy, market,
ticker):

- the quantity held;
- the average cost, a moving average of the buys' prices (평균단가, as Korean brokers show it:
  a sell leaves it unchanged, fees are not in it);
- the realised P&L, net of every charge: on a sell, (price - average cost) x quantity, less the
  sell's commission and taxes, less the share of the buys' commissions that the sold shares
  carried;
- the unrealised P&L, from a price passed in (`Position.unrealised`).

The charges come from the fill (the broker's commission) or, where the broker reports none, from
a `FeeSchedule`: rates by market (and, where an exchange of the market is taxed differently, by
exchange: KONEX) and by the date they took effect, so that a change of the tax rate changes the
result of the trades after it only. The settings hold the schedule (`fees`), with defaults
from the public sources cited in docs/book.md.

The broker's holdings are the check: `reconcile` compares the sum over strategies with what the
broker holds, and any difference becomes a row of the strategy ``unattributed`` (shares bought
outside yQuant, a corporate action, a fill not recorded yet). That row is shown and reported;
no strategy's exit ever sells it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, tzinfo
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal

from yquant.domain.market_rules import EXCHANGE_ALIASES
from yquant.domain.model import CURRENCY, Market, Side

MANUAL = "manual"  # the strategy of an operator's `buy` / `sell`
UNATTRIBUTED = "unattributed"  # shares the broker holds that no strategy's fills explain

ZERO = Decimal(0)
_MINOR_UNIT = {"KRW": Decimal(1), "USD": Decimal("0.01")}


@dataclass(frozen=True, slots=True)
class FeeRule:
    """The charges on a trade from ``since`` on (in the market's local date).

    ``commission_rate`` is used only when the broker reports no commission for a fill;
    ``sell_tax_rate`` (KRX: securities transaction tax plus the rural special tax) and
    ``sell_fee_rate`` (US: the SEC fee) are fractions of a sell's amount; ``sell_fee_per_share``
    (US: FINRA's trading activity fee) is per share sold, at most ``sell_fee_per_share_max``
    per trade.

    ``exchange`` (one of the market's exchanges, as the catalog names them: KONEX) makes the
    rule that exchange's own: the rules naming an exchange form its schedule, and the market's
    rules without one apply to its other exchanges (and to it before its first own rule)."""

    since: date
    commission_rate: Decimal = ZERO
    sell_tax_rate: Decimal = ZERO
    sell_fee_rate: Decimal = ZERO
    sell_fee_per_share: Decimal = ZERO
    sell_fee_per_share_max: Decimal | None = None
    exchange: str | None = None


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    rules: Mapping[Market, Sequence[FeeRule]] = field(default_factory=dict)

    def rule(self, market: Market, day: date, exchange: str | None = None) -> FeeRule:
        """The rule in force on ``day``: the latest that took effect on or before it, among
        ``exchange``'s own rules when it has one in force, else among the market's."""
        rules = self.rules.get(market, ())
        named = (exchange or "").strip().upper()
        own = [r for r in rules if r.exchange and r.exchange.upper() == named and r.since <= day]
        general = [r for r in rules if not r.exchange and r.since <= day]
        chosen = None
        for rule in own or general:  # a later rule of the same date wins, as listed
            if chosen is None or rule.since >= chosen.since:
                chosen = rule
        return chosen if chosen is not None else FeeRule(since=date.min)

    def charges(
        self,
        market: Market,
        side: Side,
        quantity: Decimal,
        price: Decimal,
        day: date,
        exchange: str | None = None,
    ) -> tuple[Decimal, Decimal]:
        """(estimated commission, taxes and fees) on one trade, each in the currency's minor
        unit: the commission and the taxes cut down (KRX's tax is cut below one won), each
        regulatory fee rounded up to the cent where it is charged (the SEC fee, FINRA's)."""
        rule = self.rule(market, day, exchange)
        currency = CURRENCY[market]
        gross = quantity * price
        commission = _minor(gross * rule.commission_rate, currency)
        if side is Side.BUY:
            return commission, ZERO
        per_share = quantity * rule.sell_fee_per_share
        if rule.sell_fee_per_share_max is not None:
            per_share = min(per_share, rule.sell_fee_per_share_max)
        tax = _minor(gross * rule.sell_tax_rate, currency)
        fees = _minor_up(gross * rule.sell_fee_rate, currency) + _minor_up(per_share, currency)
        return commission, tax + fees


@dataclass(frozen=True, slots=True)
class BookFill:
    """One execution with the strategy whose order it filled."""

    fill_id: str
    client_order_id: str
    account: str
    strategy: str
    market: Market
    ticker: str
    side: Side
    quantity: Decimal
    price: Decimal
    commission: Decimal  # as the broker reported it (0: none reported)
    filled_at: datetime
    exchange: str = ""  # the order's exchange as the catalog lists it (KOSPI, KONEX, NASDAQ)

    @property
    def currency(self) -> str:
        return CURRENCY[self.market]


PositionKey = tuple[str, str, Market, str]  # (account, strategy, market, ticker)


@dataclass(frozen=True, slots=True)
class Position:
    account: str
    strategy: str
    market: Market
    ticker: str
    quantity: Decimal = ZERO
    avg_cost: Decimal = ZERO
    realised: Decimal = ZERO  # net of commissions and taxes, since the first fill
    commissions: Decimal = ZERO  # paid in all
    taxes: Decimal = ZERO  # sell taxes and regulatory fees paid in all
    open_fees: Decimal = ZERO  # buy commissions carried by the shares still held
    last_fill_at: datetime | None = None
    exchange: str = ""  # of the latest fill that named one (what a quote is asked on)
    last_price: Decimal | None = None  # of the latest fill

    @property
    def key(self) -> PositionKey:
        return (self.account, self.strategy, self.market, self.ticker)

    @property
    def currency(self) -> str:
        return CURRENCY[self.market]

    @property
    def cost_value(self) -> Decimal:
        return self.quantity * self.avg_cost

    def unrealised(self, price: Decimal | None) -> Decimal | None:
        """(price - average cost) x quantity; None without a price."""
        if price is None:
            return None
        return (price - self.avg_cost) * self.quantity

    def apply(self, fill: BookFill, fees: FeeSchedule, local_day: date) -> tuple[Position, Decimal]:
        """This position after ``fill``, and the P&L the fill realised (0 for a buy).

        A sell beyond the quantity held (shares the book does not know of, such as a fill
        recorded before its buy) realises against the average cost for what is held and
        leaves the rest at a cost of zero, so the quantity can go negative and show up in the
        reconciliation rather than vanish."""
        estimated, taxes = fees.charges(
            fill.market, fill.side, fill.quantity, fill.price, local_day, fill.exchange or None
        )
        commission = fill.commission if fill.commission > 0 else estimated
        exchange = fill.exchange or self.exchange
        if fill.side is Side.BUY:
            held = self.quantity + fill.quantity
            if self.quantity <= 0:
                avg = fill.price
            else:
                avg = (self.quantity * self.avg_cost + fill.quantity * fill.price) / held
            return (
                replace(
                    self,
                    quantity=held,
                    avg_cost=avg,
                    commissions=self.commissions + commission,
                    taxes=self.taxes + taxes,
                    open_fees=self.open_fees + commission,
                    last_fill_at=fill.filled_at,
                    exchange=exchange,
                    last_price=fill.price,
                ),
                ZERO,
            )
        sold_from_held = min(fill.quantity, max(self.quantity, ZERO))
        carried = self.open_fees * sold_from_held / self.quantity if self.quantity > 0 else ZERO
        gain = (fill.price - self.avg_cost) * sold_from_held
        realised = gain - commission - taxes - carried
        held = self.quantity - fill.quantity
        return (
            replace(
                self,
                quantity=held,
                avg_cost=self.avg_cost if held > 0 else ZERO,
                realised=self.realised + realised,
                commissions=self.commissions + commission,
                taxes=self.taxes + taxes,
                open_fees=self.open_fees - carried if held > 0 else ZERO,
                last_fill_at=fill.filled_at,
                exchange=exchange,
                last_price=fill.price,
            ),
            realised,
        )


@dataclass(frozen=True, slots=True)
class Book:
    """Every position the fills make, and the P&L realised since ``since`` (the day's)."""

    positions: Mapping[PositionKey, Position]
    realised_since: Mapping[PositionKey, Decimal]
    # The positions as they were at ``since``, of those a fill has moved since (the others
    # are as they were).
    at_since: Mapping[PositionKey, Position] = field(default_factory=dict)

    def at_start(self, key: PositionKey) -> Position | None:
        """The position ``key`` as it was at ``since`` (None: it did not exist)."""
        if key in self.at_since:
            return self.at_since[key]
        return self.positions.get(key)

    def held(self, account: str, strategy: str, market: Market, ticker: str) -> Decimal:
        position = self.positions.get((account, strategy, market, ticker))
        return position.quantity if position is not None else ZERO

    def rows(self, *, account: str | None = None, strategy: str | None = None) -> list[Position]:
        return sorted(
            (
                p
                for p in self.positions.values()
                if (account is None or p.account == account)
                and (strategy is None or p.strategy == strategy)
            ),
            key=lambda p: (p.account, p.strategy, p.market.value, p.ticker),
        )


class LocalDay:
    """A fill's date in its market's time zone."""

    def __init__(self, zones: Mapping[Market, tzinfo]) -> None:
        self._zones = zones

    @classmethod
    def of_markets(cls) -> LocalDay:
        """The venues' own zones: KR in Asia/Seoul, US in America/New_York."""
        known = {m.value for m in Market}
        return cls({Market(v.market): v.tz for v in EXCHANGE_ALIASES.values() if v.market in known})

    def __call__(self, market: Market, at: datetime) -> date:
        zone = self._zones.get(market)
        return at.astimezone(zone).date() if zone is not None else at.date()

    def day_start(self, market: Market, at: datetime) -> datetime:
        """The start (local midnight) of the market's day that holds ``at``."""
        zone = self._zones.get(market, at.tzinfo)
        return datetime.combine(self(market, at), time.min, tzinfo=zone)


def build(
    fills: Iterable[BookFill],
    fees: FeeSchedule,
    local_day: LocalDay,
    *,
    since: datetime | Mapping[Market, datetime] | None = None,
) -> Book:
    """Replay ``fills`` (in the order they happened) into positions. ``local_day`` gives a
    fill's date in its market's time zone (the fee rule in force); ``since``: also sum the P&L
    realised from that instant on, one instant for every market or one per market (each
    market's local day starts at its own midnight)."""
    positions: dict[PositionKey, Position] = {}
    realised_since: dict[PositionKey, Decimal] = {}
    at_since: dict[PositionKey, Position] = {}
    for fill in sorted(fills, key=lambda f: (f.filled_at, f.fill_id)):
        key = (fill.account, fill.strategy, fill.market, fill.ticker)
        before = positions.get(key) or Position(*key)
        position, realised = before.apply(fill, fees, local_day(fill.market, fill.filled_at))
        positions[key] = position
        start = since.get(fill.market) if isinstance(since, Mapping) else since
        if start is not None and fill.filled_at >= start:
            realised_since[key] = realised_since.get(key, ZERO) + realised
            at_since.setdefault(key, before)
    return Book(positions, realised_since, at_since)


@dataclass(frozen=True, slots=True)
class Holding:
    """What the broker holds of one instrument on one account (at the broker's average price)."""

    account: str
    ticker: str
    market: Market
    quantity: Decimal
    avg_price: Decimal


def reconcile(book: Book, holdings: Iterable[Holding], accounts: Iterable[str]) -> list[Position]:
    """The ``unattributed`` rows of ``accounts``: per instrument, what the broker holds less
    what the strategies' fills add up to (negative when the book counts shares the broker no
    longer holds). Instruments where the two agree have no row. A ticker is matched across its
    share-class spellings (KIS's BRK/B, the catalog's BRK.B)."""
    wanted = set(accounts)
    broker: dict[tuple[str, Market, str], Holding] = {}
    for h in holdings:
        if h.account in wanted:
            key = (h.account, h.market, ticker_key(h.ticker))
            seen = broker.get(key)
            broker[key] = h if seen is None else replace(seen, quantity=seen.quantity + h.quantity)
    booked: dict[tuple[str, Market, str], Decimal] = {}
    spelt: dict[tuple[str, Market, str], Position] = {}
    for p in book.positions.values():
        if p.account in wanted:
            key = (p.account, p.market, ticker_key(p.ticker))
            booked[key] = booked.get(key, ZERO) + p.quantity
            spelt.setdefault(key, p)
    rows = []
    for key in sorted(broker.keys() | booked.keys(), key=lambda k: (k[0], k[1].value, k[2])):
        held = broker[key].quantity if key in broker else ZERO
        difference = held - booked.get(key, ZERO)
        if difference != 0:
            account, market, _ = key
            known = spelt.get(key)
            ticker = known.ticker if known is not None else broker[key].ticker
            cost = broker[key].avg_price if key in broker and difference > 0 else ZERO
            exchange = known.exchange if known is not None else ""
            rows.append(
                Position(account, UNATTRIBUTED, market, ticker, difference, cost, exchange=exchange)
            )
    return rows


def ticker_key(ticker: str) -> str:
    """One spelling of a ticker's share-class separator: BRK/B, BRK-B and BRK.B are BRK.B."""
    return ticker.strip().upper().replace("/", ".").replace("-", ".")


def _minor(value: Decimal, currency: str) -> Decimal:
    unit = _MINOR_UNIT.get(currency, Decimal("0.01"))
    return value.quantize(unit, rounding=ROUND_DOWN)


def _minor_up(value: Decimal, currency: str) -> Decimal:
    unit = _MINOR_UNIT.get(currency, Decimal("0.01"))
    return value.quantize(unit, rounding=ROUND_CEILING) if value > 0 else ZERO
