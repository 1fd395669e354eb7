"""The liquidation's filter and the signal keys that name a liquidation."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from yquant.domain.book import UNATTRIBUTED, Position
from yquant.domain.liquidation import (
    LiquidationFilter,
    liquidation_of,
    new_id,
    signal_key,
    source,
)
from yquant.domain.model import Market


def position(strategy: str = "daytrade", quantity: str = "3", **kw: object) -> Position:
    fields: dict[str, object] = {
        "account": "main",
        "strategy": strategy,
        "market": Market.KR,
        "ticker": "005930",
        "quantity": Decimal(quantity),
        **kw,
    }
    return Position(**fields)  # type: ignore[arg-type]


def test_the_filter_reads_text_as_people_type_it() -> None:
    f = LiquidationFilter.of(account=" main ", strategy="", market="us", ticker="nasdaq:aapl")
    assert f == LiquidationFilter("main", None, Market.US, "AAPL")
    assert LiquidationFilter.of() == LiquidationFilter()
    assert LiquidationFilter.of(market=Market.KR).market is Market.KR
    with pytest.raises(ValueError, match="use KR or US"):
        LiquidationFilter.of(market="JP")


def test_the_filter_matches_open_positions_of_a_strategy_never_unattributed_ones() -> None:
    f = LiquidationFilter.of(strategy="daytrade", ticker="005930")
    assert f.matches(position())
    assert not f.matches(position(quantity="0"))
    assert not f.matches(position(strategy="swing"))
    assert not f.matches(position(ticker="000660"))
    everything = LiquidationFilter()
    assert everything.matches(position(strategy="swing"))
    assert not everything.matches(position(strategy=UNATTRIBUTED))
    assert not everything.matches(position(quantity="-2"))  # shares the book cannot explain
    assert not LiquidationFilter.of(account="other").matches(position())
    assert not LiquidationFilter.of(market="US").matches(position())


def test_the_filter_describes_itself() -> None:
    f = LiquidationFilter.of(strategy="daytrade", market="KR")
    assert f.as_dict() == {"account": None, "strategy": "daytrade", "market": "KR", "ticker": None}
    assert f.describe() == "strategy=daytrade market=KR"
    assert LiquidationFilter().describe() == "everything"


def test_a_sells_signal_key_names_its_liquidation_and_no_other_key_does() -> None:
    liquidation_id = new_id(datetime(2026, 12, 6, 1, 0, tzinfo=UTC))
    assert len(liquidation_id) == 12 and int(liquidation_id, 16) >= 0
    key = signal_key(liquidation_id, 3)
    assert key == f"liq-{liquidation_id}-3"
    assert liquidation_of(key) == liquidation_id
    assert source(liquidation_id) == f"liquidation:{liquidation_id}"
    for other in (None, "", "manual-abc", "liq-xyz-1", f"liq-{liquidation_id}", "tv-liq-1"):
        assert liquidation_of(other) is None
