"""Tick rules of a listing, for people: the bands of `yquant.domain.market_rules.tick_size`.

The rules themselves live in the domain (one table for orders and for display): KRX's price
bands (1/5/10/50/100/500/1,000 KRW since 2023-01-25), KRX ETFs and ETNs (1 KRW below 2,000,
then 5), ELWs (5), US equities ($0.01 from $1, $0.0001 below). Here they are only cut into
bands and written out; markets yQuant does not route have none.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from yquant.domain import market_rules

_SMALLEST = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class TickBand:
    low: Decimal | None  # from this price (None: from the smallest price)
    below: Decimal | None  # up to, not including, this one (None: no upper end)
    tick: Decimal


def _edges(market: str) -> list[Decimal] | None:
    if market == "KR":
        edges = {below for below, _ in market_rules.KRX_TICKS} | {market_rules.KRX_FUND_LOW}
        return sorted(edges)
    if market == "US":
        return [Decimal(1)]
    return None


def tick_bands(market: str, security_type: str | None) -> tuple[TickBand, ...]:
    """Consecutive price bands with their tick; empty where yQuant has no table."""
    edges = _edges(market)
    if edges is None:
        return ()
    bands: list[TickBand] = []
    low: Decimal | None = None
    for below in [*edges, None]:
        tick = market_rules.tick_size(market, low or _SMALLEST, security_type)
        if bands and bands[-1].tick == tick:
            bands[-1] = TickBand(bands[-1].low, below, tick)
        else:
            bands.append(TickBand(low, below, tick))
        low = below
    return tuple(bands)


def describe(market: str, security_type: str | None, currency: str) -> str:
    """One line: '< 2,000: 1; < 5,000: 5; ...; >= 500,000: 1,000 KRW', or '-'."""
    bands = tick_bands(market, security_type)
    if not bands:
        return "-"
    parts = []
    for band in bands:
        tick = _number(band.tick)
        if band.below is not None:
            parts.append(f"< {_number(band.below)}: {tick}")
        elif band.low is not None:
            parts.append(f">= {_number(band.low)}: {tick}")
        else:
            parts.append(tick)
    return "; ".join(parts) + f" {currency}"


def _number(value: Decimal) -> str:
    return format(value.normalize(), ",f")
