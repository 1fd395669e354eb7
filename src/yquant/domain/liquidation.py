"""Liquidation: selling what a filter of the book holds, as one operation with its own id. Pure.

A filter names any of an account, a strategy, a market (KR or US) and a ticker; what it selects
is every open position of the book (a strategy's own shares, `yquant.domain.book`) that matches
all of them. The shares no strategy's fills explain (``unattributed``) are never sold.

Each sell is decided as a signal whose key starts with ``liq-<id>-``: the liquidation's id is
read back from the key wherever the order goes (the orders row's ``liquidation_id``, the queue
of the next open), and the engine decides such a signal with the liquidation's rules (exactly
the position's quantity, capped by what is held; never a cancel-replace).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from yquant.domain.book import UNATTRIBUTED, Position
from yquant.domain.model import Market

KEY_PREFIX = "liq-"
_KEY = re.compile(r"^liq-([0-9a-f]{12})-\d+$")


class LiquidationStatus(StrEnum):
    PLANNED = "planned"  # recorded, the cancels and sells under way
    DONE = "done"  # every sell made (sent, or queued for the open)
    PARTIAL = "partial"  # some sells made, some refused
    REFUSED = "refused"  # nothing sold (kill switch, market closed, no positions, ...)


@dataclass(frozen=True, slots=True)
class LiquidationFilter:
    """What to liquidate; None matches everything. At least nothing: an empty filter is the
    whole book (every account, strategy and market)."""

    account: str | None = None
    strategy: str | None = None
    market: Market | None = None
    ticker: str | None = None

    @classmethod
    def of(
        cls,
        *,
        account: str | None = None,
        strategy: str | None = None,
        market: str | Market | None = None,
        ticker: str | None = None,
    ) -> LiquidationFilter:
        """From text as people type it: blanks are None, a market is KR or US, a ticker is
        upper-cased and may carry its exchange (``NASDAQ:AAPL``). ValueError for a market that
        is neither."""

        def clean(value: str | None) -> str | None:
            value = (value or "").strip()
            return value or None

        chosen = None
        if isinstance(market, Market):
            chosen = market
        elif clean(market) is not None:
            text = (market or "").strip().upper()
            if text not in ("KR", "US"):
                raise ValueError(f"market {market!r}: use KR or US")
            chosen = Market(text)
        symbol = clean(ticker)
        if symbol is not None:
            symbol = symbol.upper().rpartition(":")[2]
        return cls(clean(account), clean(strategy), chosen, symbol)

    def matches(self, position: Position) -> bool:
        return (
            position.quantity > 0
            and position.strategy != UNATTRIBUTED
            and (self.account is None or position.account == self.account)
            and (self.strategy is None or position.strategy == self.strategy)
            and (self.market is None or position.market is self.market)
            and (self.ticker is None or position.ticker.upper() == self.ticker)
        )

    def as_dict(self) -> dict[str, str | None]:
        return {
            "account": self.account,
            "strategy": self.strategy,
            "market": None if self.market is None else self.market.value,
            "ticker": self.ticker,
        }

    def describe(self) -> str:
        shown = [f"{k}={v}" for k, v in self.as_dict().items() if v is not None]
        return " ".join(shown) or "everything"


def new_id(now: datetime) -> str:
    """A liquidation's id: 12 hex digits, the first 6 from the time (sortable within a day's
    listing, never relied on) and 6 random."""
    return f"{int(now.timestamp()) & 0xFFFFFF:06x}{secrets.token_hex(3)}"


def signal_key(liquidation_id: str, n: int) -> str:
    """The key of the liquidation's ``n``-th sell."""
    return f"{KEY_PREFIX}{liquidation_id}-{n}"


def liquidation_of(signal_key: str | None) -> str | None:
    """The liquidation id a signal key belongs to, or None for any other signal."""
    if not signal_key:
        return None
    found = _KEY.match(signal_key)
    return found.group(1) if found else None


def source(liquidation_id: str) -> str:
    """What the signal log shows as the sells' source."""
    return f"liquidation:{liquidation_id}"
