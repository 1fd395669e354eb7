"""Whose position a decision acts on, and the orders still working on it. Pure.

A strategy's ``position_scope``:

- ``strategy`` (the default): exit, sell-all, sell capping and ``target_position`` act on the
  strategy's own position, read from the book (`yquant.domain.book`: its fills); a sell is also
  capped by what the broker holds, and shares no strategy's fills explain (``unattributed``) are
  never sold by a strategy;
- ``account``: they act on the broker's holdings of the account (for an account that one
  strategy trades alone). Operator orders (strategy ``manual``) use this scope: an operator
  sells what the account holds.

An exit or a sell while a sell of the same strategy is working in the instrument replaces it
(cancel-replace: `yquant.domain.sizing`); the other working sells of the account hold their
shares at the broker and are netted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from yquant.domain.model import Side


class PositionScope(StrEnum):
    STRATEGY = "strategy"
    ACCOUNT = "account"


@dataclass(frozen=True, slots=True)
class WorkingOrder:
    """An order of the account in the instrument that is not final yet."""

    client_order_id: str
    strategy: str
    side: Side
    remaining: Decimal  # not filled yet
    created_at: datetime


def own(
    working: tuple[WorkingOrder, ...], strategy: str, scope: PositionScope
) -> list[WorkingOrder]:
    """The working orders that count against the position a decision acts on: the strategy's
    own, or in account scope every order of the account."""
    if scope is PositionScope.ACCOUNT:
        return list(working)
    return [w for w in working if w.strategy == strategy]
