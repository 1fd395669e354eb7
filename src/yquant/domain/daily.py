"""The day's result of an account or a strategy, for the daily loss limit. Pure.

The day is the market's local day (KRX's in Seoul time, the US exchanges' in New York time).
Its result, per instrument, is what the book (`yquant.domain.book`) realised since the day
began plus the change of the unrealised P&L since the session start:

    realised today + (price now - average cost now) x quantity now
                   - (start mark - average cost at the start) x quantity at the start

so a holding carried into the day counts its move from the start mark, a holding bought today
its move from its cost, and a sale today what it realised. Cash a resting buy reserves is no
loss: only fills are in the book. Shares the book does not know (``unattributed``) are not in
it either.

The start mark of an instrument is the catalog's base price (KRX: the day's base price, which
is the previous close; the US master files: the previous close), else the first price seen that
day; the price now is the alert's for the alerted instrument, else the last price seen that day.
With only one of the two known, it stands for both (no change of price is counted); with
neither, the instrument's unrealised change counts as zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from yquant.domain.book import Book, Position, PositionKey
from yquant.domain.model import CURRENCY, Market

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class DayMarks:
    """One instrument's prices for the day: at the session start and now (None: not known)."""

    start: Decimal | None = None
    now: Decimal | None = None


def day_result(
    now: Book,
    start: Book,
    marks: Mapping[tuple[Market, str], DayMarks],
    *,
    account: str,
    currency: str,
    strategy: str | None = None,
) -> Decimal:
    """Today's result (negative: a loss) of ``account``'s positions in ``currency``, or of
    ``strategy``'s positions on it. ``now`` is the book built with ``since`` at the day's
    start; ``start`` the book of the fills before it."""
    total = ZERO
    for key in _keys(now, start, account, currency, strategy):
        market, ticker = key[2], key[3]
        total += now.realised_since.get(key, ZERO)
        mark = marks.get((market, ticker), DayMarks())
        price_now = mark.now if mark.now is not None else mark.start
        price_start = mark.start if mark.start is not None else mark.now
        if price_now is None or price_start is None:
            continue
        total += _unrealised(now.positions.get(key), price_now)
        total -= _unrealised(start.positions.get(key), price_start)
    return total


def _keys(
    now: Book, start: Book, account: str, currency: str, strategy: str | None
) -> list[PositionKey]:
    keys = set(now.positions) | set(start.positions) | set(now.realised_since)
    return sorted(
        k
        for k in keys
        if k[0] == account and CURRENCY[k[2]] == currency and (strategy is None or k[1] == strategy)
    )


def _unrealised(position: Position | None, price: Decimal) -> Decimal:
    if position is None or position.quantity <= 0:
        return ZERO  # a negative quantity is a gap in the book, not a holding to value
    return (price - position.avg_cost) * position.quantity
