"""The price chart's data: samples and fills in time order, the latest price last, times in
whole seconds strictly rising (Lightweight Charts refuses anything else)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from yquant.entrypoints.dashboard.data import chart_points, fill_markers
from yquant.ports import Mark, PriceSource

T0 = datetime(2026, 12, 4, 0, 0, tzinfo=UTC)


def seen(price: int, seconds: float, source: PriceSource = PriceSource.ALERT) -> Mark:
    return Mark(Decimal(price), T0 + timedelta(seconds=seconds), source)


def test_points_rise_strictly_and_the_later_price_of_one_second_stays() -> None:
    history = [seen(100, 0), seen(103, 1800)]
    fills = [seen(101, 900.2, PriceSource.FILL), seen(102, 900.7, PriceSource.FILL)]
    points = chart_points(history, seen(104, 2000), fills)
    start = int(T0.timestamp())
    assert points == [
        {"time": start, "value": "100"},
        {"time": start + 900, "value": "102"},
        {"time": start + 1800, "value": "103"},
        {"time": start + 2000, "value": "104"},
    ]
    # A latest price older than the history adds nothing.
    assert chart_points(history, seen(99, -60)) == points[:1] + points[2:3]


def test_filled_orders_become_prices_and_markers() -> None:
    orders = [
        {
            "side": "sell",
            "avg_fill_price": Decimal("71500"),
            "filled_quantity": Decimal("2.0000"),
            "updated_at": T0 + timedelta(minutes=5),
        },
        {"side": "buy", "avg_fill_price": None, "filled_quantity": 0, "updated_at": T0},
    ]
    marks, markers = fill_markers(orders)
    assert marks == [Mark(Decimal(71500), T0 + timedelta(minutes=5), PriceSource.FILL)]
    assert markers == [
        {"time": int(T0.timestamp()) + 300, "side": "sell", "quantity": "2"},
    ]
