"""Execution quality: percentiles and slippage against hand-computed values."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from yquant.domain.execution import (
    ALL,
    ExecutionRecord,
    Hop,
    Spread,
    average_price,
    percentile,
    quality,
    slippage_bps,
)
from yquant.domain.model import Side

T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def test_percentile_interpolates_between_closest_ranks() -> None:
    # n = 5: rank = p/100 x 4. p50 -> rank 2 -> 0.030; p95 -> rank 3.8 -> 0.040 + 0.8 x 0.960
    # = 0.808; p99 -> rank 3.96 -> 0.040 + 0.96 x 0.960 = 0.9616.
    values = [1.000, 0.020, 0.040, 0.010, 0.030]
    assert percentile(values, 50) == pytest.approx(0.030)
    assert percentile(values, 95) == pytest.approx(0.808)
    assert percentile(values, 99) == pytest.approx(0.9616)
    assert percentile(values, 0) == pytest.approx(0.010)
    assert percentile(values, 100) == pytest.approx(1.000)
    assert percentile([7.0], 99) == 7.0


def test_percentile_refuses_nothing_and_out_of_range() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0], 101)


@pytest.mark.parametrize(
    ("side", "fill", "expected"),
    [
        (Side.BUY, "100.5", "50.00"),  # bought above the alert: worse
        (Side.BUY, "99.8", "-20.00"),  # bought below: better
        (Side.SELL, "99.5", "50.00"),  # sold below the alert: worse
        (Side.SELL, "100.5", "-50.00"),  # sold above: better
        (Side.BUY, "100", "0.00"),
    ],
)
def test_slippage_is_positive_when_worse_for_the_trader(
    side: Side, fill: str, expected: str
) -> None:
    assert slippage_bps(side, Decimal(100), Decimal(fill)) == Decimal(expected)


def test_slippage_in_won_to_the_hundredth_of_a_basis_point() -> None:
    # 71,100 against 71,000: 100 / 71,000 x 10,000 = 14.0845... bps
    assert slippage_bps(Side.BUY, Decimal(71000), Decimal(71100)) == Decimal("14.08")


def test_average_price_is_weighted_by_quantity() -> None:
    assert average_price([(Decimal(1), Decimal(100)), (Decimal(3), Decimal(104))]) == Decimal(103)
    assert average_price([]) is None


def _record(n: int, decided_ms: int, **kw: object) -> ExecutionRecord:
    received = T0 + timedelta(minutes=n)
    base: dict[str, object] = {
        "client_order_id": f"yq{n}",
        "account": "paper",
        "broker": "paper",
        "strategy": "alpha",
        "market": "KR",
        "ticker": "005930",
        "side": Side.BUY,
        "received_at": received,
        "decided_at": received + timedelta(milliseconds=decided_ms),
    }
    base.update(kw)
    return ExecutionRecord(**base)  # type: ignore[arg-type]


def test_quality_per_group_and_in_total_from_recorded_times() -> None:
    records = [
        _record(1, 10, timenow=T0 + timedelta(minutes=1, seconds=-2)),
        _record(2, 20),
        _record(3, 30),
        _record(4, 40),
        _record(5, 1000),
        _record(
            6,
            500,
            strategy="beta",
            side=Side.SELL,
            alert_price=Decimal(100),
            fill_price=Decimal("99.9"),
            filled_quantity=Decimal(2),
        ),
    ]
    s6 = records[5]
    records[5] = dataclasses.replace(
        s6,
        sent_at=s6.decided_at + timedelta(milliseconds=5),
        accepted_at=s6.decided_at + timedelta(milliseconds=105),
        first_fill_at=s6.decided_at + timedelta(seconds=1),
        last_fill_at=s6.decided_at + timedelta(seconds=3),
    )
    groups = {g.key: g for g in quality(records)}
    assert list(groups) == [("alpha", "KR", "paper"), ("beta", "KR", "paper"), (ALL, ALL, ALL)]

    alpha = groups[("alpha", "KR", "paper")]
    assert (alpha.orders, alpha.filled) == (5, 0)
    decided = alpha.hops[Hop.RECEIVED_DECIDED]
    assert decided is not None
    assert decided.count == 5
    assert (decided.p50, decided.p95, decided.p99) == pytest.approx((0.030, 0.808, 0.9616))
    assert alpha.hops[Hop.TIMENOW_RECEIVED] == Spread(1, 2.0, 2.0, 2.0)
    assert alpha.hops[Hop.DECIDED_SENT] is None  # never sent: no value, not a zero
    assert alpha.slippage_bps is None

    beta = groups[("beta", "KR", "paper")]
    assert beta.filled == 1
    assert beta.hops[Hop.DECIDED_SENT] == Spread(1, 0.005, 0.005, 0.005)
    assert beta.hops[Hop.SENT_ACCEPTED] == Spread(1, 0.1, 0.1, 0.1)
    assert beta.hops[Hop.ACCEPTED_FIRST_FILL] == Spread(1, 0.895, 0.895, 0.895)
    assert beta.hops[Hop.FIRST_LAST_FILL] == Spread(1, 2.0, 2.0, 2.0)
    assert beta.hops[Hop.RECEIVED_FIRST_FILL] == Spread(1, 1.5, 1.5, 1.5)
    # sold at 99.9 against 100: 10 bps worse
    assert beta.slippage_bps == Spread(1, 10.0, 10.0, 10.0)

    total = groups[(ALL, ALL, ALL)]
    everything = total.hops[Hop.RECEIVED_DECIDED]
    assert everything is not None
    assert total.orders == 6
    # 0.010 0.020 0.030 0.040 0.500 1.000: p50 rank 2.5 -> 0.035; p95 rank 4.75 -> 0.5 + 0.75 x
    # 0.5 = 0.875; p99 rank 4.95 -> 0.5 + 0.95 x 0.5 = 0.975
    assert (everything.p50, everything.p95, everything.p99) == pytest.approx((0.035, 0.875, 0.975))


def test_a_hop_between_two_clocks_keeps_its_sign() -> None:
    ahead = _record(1, 10, timenow=T0 + timedelta(minutes=1, milliseconds=300))
    assert ahead.hop_seconds(Hop.TIMENOW_RECEIVED) == pytest.approx(-0.3)
