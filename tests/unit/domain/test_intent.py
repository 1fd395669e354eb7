"""The table of (action, market_position, prev_market_position) -> move: every combination has
exactly one row, every row does what it says on a cash account, and README shows the same
table."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from yquant.domain import intent, sizing
from yquant.domain.intent import ANY, TABLE, Move, Row, Stated, row_for
from yquant.domain.model import Action, Alert, Market, MarketPosition, Side
from yquant.domain.reasons import ReasonCode
from yquant.domain.sizing import SizingInput, SizingParams
from yquant.errors import SignalRejectedError

NOW = datetime(2026, 11, 27, tzinfo=UTC)
LONG, SHORT, FLAT = MarketPosition.LONG, MarketPosition.SHORT, MarketPosition.FLAT
README = Path(__file__).parents[3] / "README.md"

COMBINATIONS = list(itertools.product(Action, [LONG, SHORT, FLAT, None], [LONG, SHORT, FLAT, None]))


def test_every_combination_has_exactly_one_row() -> None:
    assert len(COMBINATIONS) == 48
    for action, position, previous in COMBINATIONS:
        matching = [r for r in TABLE if r.matches(action, position, previous)]
        assert len(matching) == 1, (action, position, previous, matching)


def test_every_row_is_reached() -> None:
    reached = {row_for(*c) for c in COMBINATIONS}
    assert reached == set(TABLE)


@dataclass(frozen=True)
class Case:
    """What one row does to a strategy holding 10 shares, and to one holding none, for an alert
    of 20 shares (position_size 15 where the row needs one)."""

    row: int
    example: tuple[Action, Stated, Stated]
    holding_ten: tuple[Side, int, tuple[ReasonCode, ...]] | ReasonCode
    holding_none: tuple[Side, int, tuple[ReasonCode, ...]] | ReasonCode


BY_POSITION = (ReasonCode.CAPPED_BY_POSITION,)
CASES = [
    Case(0, (Action.EXIT, LONG, FLAT), (Side.SELL, 10, ()), ReasonCode.NO_POSITION),
    Case(1, (Action.BUY, None, SHORT), (Side.BUY, 20, ()), (Side.BUY, 20, ())),
    Case(2, (Action.BUY, LONG, FLAT), (Side.BUY, 20, ()), (Side.BUY, 20, ())),
    # The new long is position_size (15): 5 more when 10 are held, never 20 (cover + open).
    Case(3, (Action.BUY, LONG, SHORT), (Side.BUY, 5, ()), (Side.BUY, 15, ())),
    Case(4, (Action.BUY, FLAT, SHORT), (Side.SELL, 10, ()), ReasonCode.NO_POSITION),
    Case(5, (Action.BUY, SHORT, SHORT), (Side.SELL, 10, ()), ReasonCode.SHORT_NOT_ALLOWED),
    Case(6, (Action.SELL, None, None), (Side.SELL, 10, BY_POSITION), ReasonCode.NO_POSITION),
    Case(7, (Action.SELL, LONG, LONG), (Side.SELL, 10, BY_POSITION), ReasonCode.NO_POSITION),
    Case(8, (Action.SELL, FLAT, LONG), (Side.SELL, 10, BY_POSITION), ReasonCode.NO_POSITION),
    Case(9, (Action.SELL, SHORT, LONG), (Side.SELL, 10, BY_POSITION), ReasonCode.SHORT_NOT_ALLOWED),
    Case(
        10, (Action.SELL, SHORT, FLAT), (Side.SELL, 10, BY_POSITION), ReasonCode.SHORT_NOT_ALLOWED
    ),
]


def test_the_cases_cover_every_row() -> None:
    assert sorted(c.row for c in CASES) == list(range(len(TABLE)))


def outcome(example: tuple[Action, Stated, Stated], held: int) -> object:
    action, position, previous = example
    alert = Alert(
        key="k",
        strategy="s",
        ticker="005930",
        exchange="KRX",
        market=Market.KR,
        action=action,
        received_at=NOW,
        price=Decimal(70000),
        quantity=Decimal(20),
        position_size=Decimal(15),
        market_position=position,
        prev_market_position=previous,
    )
    inp = SizingInput(
        alert=alert,
        account="a",
        currency="KRW",
        price=Decimal(70000),
        cash=Decimal(10**9),
        equity=Decimal(10**9),
        held=Decimal(held),
        params=SizingParams(),
        broker_held=Decimal(100),  # strategy scope: the broker holds more than the strategy
    )
    try:
        got = sizing.size(sizing.BUILTIN["alert_quantity"], inp)
    except SignalRejectedError as exc:
        return exc.reason
    return (got.side, got.quantity, got.notes)


@pytest.mark.parametrize("case", CASES, ids=lambda c: TABLE[c.row].meaning)
def test_each_row_on_a_cash_account(case: Case) -> None:
    assert row_for(*case.example) is TABLE[case.row]
    assert outcome(case.example, 10) == case.holding_ten
    assert outcome(case.example, 0) == case.holding_none


def test_a_reversal_without_position_size_is_refused_not_bought_twice() -> None:
    alert = Alert(
        key="k",
        strategy="s",
        ticker="005930",
        exchange="KRX",
        market=Market.KR,
        action=Action.BUY,
        received_at=NOW,
        price=Decimal(70000),
        quantity=Decimal(20),
        market_position=LONG,
        prev_market_position=SHORT,
    )
    inp = SizingInput(
        alert=alert,
        account="a",
        currency="KRW",
        price=Decimal(70000),
        cash=Decimal(10**9),
        equity=Decimal(10**9),
        held=Decimal(0),
        params=SizingParams(),
    )
    assert inp.move is Move.REVERSE
    with pytest.raises(SignalRejectedError) as err:
        sizing.size(sizing.BUILTIN["alert_quantity"], inp)
    assert err.value.reason == ReasonCode.NO_TARGET
    # A money-sized policy sizes the new long by money: the reversal is an ordinary buy.
    amount = SizingParams(amount={"KRW": Decimal(700_000)})
    fixed = sizing.size(
        sizing.BUILTIN["fixed_amount"], SizingInput(**{**_fields(inp), "params": amount})
    )
    assert (fixed.side, fixed.quantity) == (Side.BUY, 10)


def _fields(inp: SizingInput) -> dict[str, object]:
    return {name: getattr(inp, name) for name in SizingInput.__dataclass_fields__}


def _cell(stated: frozenset[Stated]) -> str:
    if stated == ANY:
        return "any"
    names = ["none" if s is None else s.value for s in (LONG, SHORT, FLAT, None) if s in stated]
    return ", ".join(names)


def readme_line(row: Row) -> str:
    refused = f"`{row.nothing_held}`" if row.nothing_held else "-"
    return (
        f"| `{row.action}` | {_cell(row.market_position)} | {_cell(row.prev_market_position)}"
        f" | {row.move}: {row.meaning} | {refused} |"
    )


def test_readme_shows_the_table_as_the_engine_applies_it() -> None:
    text = README.read_text(encoding="utf-8")
    for row in intent.TABLE:
        assert readme_line(row) in text, readme_line(row)
