"""Tick sizes and the US market-order emulation.

KIS has no market order type for US stocks: a market order is sent as a limit at a band around
the current price (above it for a buy, below it for a sell), on a valid tick and never outside
the band. US ticks are $0.01 at $1 and above, $0.0001 below (a price rounded up to $1 is sent as
1.00: KIS refuses 4 decimals at $1 and above). KRX ticks follow the price table in
force since 2023 (the same for KOSPI and KOSDAQ).
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from yquant.domain.model import Side

_KRX_TICKS = (
    (Decimal(2_000), Decimal(1)),
    (Decimal(5_000), Decimal(5)),
    (Decimal(20_000), Decimal(10)),
    (Decimal(50_000), Decimal(50)),
    (Decimal(200_000), Decimal(100)),
    (Decimal(500_000), Decimal(500)),
)


def krx_tick(price: Decimal) -> Decimal:
    for below, tick in _KRX_TICKS:
        if price < below:
            return tick
    return Decimal(1_000)


def us_tick(price: Decimal) -> Decimal:
    return Decimal("0.01") if price >= 1 else Decimal("0.0001")


def to_tick(price: Decimal, tick: Decimal, *, up: bool) -> Decimal:
    steps = (price / tick).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return (steps * tick).quantize(tick)


def us_on_tick(price: Decimal, *, up: bool) -> Decimal:
    """``price`` on the US tick grid; rounding up from below $1 can reach $1, which is 1.00."""
    rounded = to_tick(price, us_tick(price), up=up)
    return rounded.quantize(us_tick(rounded))


def us_limit_on_tick(price: Decimal, side: Side) -> Decimal:
    """A US limit price on a valid tick, rounded in the order's favour (buy down, sell up)."""
    return us_on_tick(price, up=side is Side.SELL)


def us_market_limit(side: Side, last: Decimal, band_pct: Decimal) -> Decimal:
    """The limit that stands in for a US market order: ``band_pct`` beyond ``last``."""
    if last <= 0:
        raise ValueError("no positive last price")
    band = band_pct / Decimal(100)
    if side is Side.BUY:
        price = us_on_tick(last * (1 + band), up=False)  # inside the band
        return max(price, us_on_tick(last, up=True))
    price = us_on_tick(last * (1 - band), up=True)
    return min(price, us_on_tick(last, up=False))
