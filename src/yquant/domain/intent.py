"""What an alert asks of a strategy's position on a cash account. Pure and table-driven.

A TradingView strategy alert says more than "buy" or "sell": ``{{strategy.market_position}}`` is
the strategy's position after the order (``long``, ``short`` or ``flat``) and
``{{strategy.prev_market_position}}`` the one before it. When they are present they state the
intent, and this table turns (action, market_position, prev_market_position) into a `Move`:

- ``open``: buy, sized by the strategy's policy (open or add to the long);
- ``reverse``: a short→long reversal: buy the new long only (TradingView's order covers the
  short and opens the long, but a cash account never held the short; never 2N);
- ``reduce``: sell the policy's quantity, capped to the position (``capped_by_position``);
- ``close``: sell everything the strategy holds, whatever the quantity.

KRX and US cash accounts cannot be short: a move that would open or add to a short closes what
the strategy holds instead (``capped_by_position`` when the alert asked for more), and is
refused when nothing is held (``short_not_allowed``). ``flat`` closes this strategy's position
and never opens one. The rows are disjoint and cover every combination (a test walks them all);
README.md shows the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from yquant.domain.model import Action, Alert, MarketPosition
from yquant.domain.reasons import ReasonCode

LONG, SHORT, FLAT = MarketPosition.LONG, MarketPosition.SHORT, MarketPosition.FLAT
Stated = MarketPosition | None  # None: the alert does not say


class Move(StrEnum):
    OPEN = "open"
    REVERSE = "reverse"
    REDUCE = "reduce"
    CLOSE = "close"


ANY: frozenset[Stated] = frozenset({LONG, SHORT, FLAT, None})


@dataclass(frozen=True, slots=True)
class Row:
    action: Action
    market_position: frozenset[Stated]
    prev_market_position: frozenset[Stated]
    move: Move
    # The refusal when the strategy holds nothing (a sell or a close); None for buys.
    nothing_held: ReasonCode | None
    meaning: str

    def matches(self, action: Action, position: Stated, previous: Stated) -> bool:
        return (
            action is self.action
            and position in self.market_position
            and previous in self.prev_market_position
        )


NO_POSITION, SHORT_NOT_ALLOWED = ReasonCode.NO_POSITION, ReasonCode.SHORT_NOT_ALLOWED

TABLE: tuple[Row, ...] = (
    Row(Action.EXIT, ANY, ANY, Move.CLOSE, NO_POSITION, "sell all the strategy holds"),
    Row(Action.BUY, frozenset({None}), ANY, Move.OPEN, None, "buy (the policy sizes it)"),
    Row(
        Action.BUY,
        frozenset({LONG}),
        frozenset({LONG, FLAT, None}),
        Move.OPEN,
        None,
        "open or add to the long",
    ),
    Row(
        Action.BUY,
        frozenset({LONG}),
        frozenset({SHORT}),
        Move.REVERSE,
        None,
        "buy the new long only (position_size), never the short's cover too",
    ),
    Row(
        Action.BUY,
        frozenset({FLAT}),
        ANY,
        Move.CLOSE,
        NO_POSITION,
        "a short's cover: the strategy is flat, so it sells what it holds, never buys",
    ),
    Row(
        Action.BUY,
        frozenset({SHORT}),
        ANY,
        Move.CLOSE,
        SHORT_NOT_ALLOWED,
        "a partial cover: still short, and a cash account stays flat",
    ),
    Row(
        Action.SELL,
        frozenset({None}),
        ANY,
        Move.REDUCE,
        NO_POSITION,
        "the quantity, capped to the position",
    ),
    Row(
        Action.SELL,
        frozenset({LONG}),
        ANY,
        Move.REDUCE,
        NO_POSITION,
        "part of the long: the quantity, capped to the position",
    ),
    Row(
        Action.SELL,
        frozenset({FLAT}),
        ANY,
        Move.CLOSE,
        NO_POSITION,
        "the long's exit: all the strategy holds",
    ),
    Row(
        Action.SELL,
        frozenset({SHORT}),
        frozenset({LONG}),
        Move.CLOSE,
        SHORT_NOT_ALLOWED,
        "long to short: the long is closed, the short never opened",
    ),
    Row(
        Action.SELL,
        frozenset({SHORT}),
        frozenset({SHORT, FLAT, None}),
        Move.CLOSE,
        SHORT_NOT_ALLOWED,
        "a short opened or added to: what is held is closed instead",
    ),
)


def row_for(action: Action, position: Stated, previous: Stated) -> Row:
    """The one row matching (action, market_position, prev_market_position)."""
    for row in TABLE:
        if row.matches(action, position, previous):
            return row
    raise AssertionError(f"no row for {action}, {position}, {previous}")  # the test rules it out


def row_of(alert: Alert) -> Row:
    return row_for(alert.action, alert.market_position, alert.prev_market_position)
