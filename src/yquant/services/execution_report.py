"""`yquant report execution` and the dashboard's execution page: the percentiles of each hop of
the order path and of slippage, per strategy, market and broker (`yquant.domain.execution`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from yquant.domain.execution import ExecutionRecord, GroupQuality, quality, quantize_bps


class ExecutionReads(Protocol):
    async def execution_records(
        self, since: datetime, until: datetime, strategy: str | None = None
    ) -> list[ExecutionRecord]: ...


async def execution_quality(
    reads: ExecutionReads, since: datetime, until: datetime, strategy: str | None = None
) -> list[GroupQuality]:
    """The groups of the orders decided in [since, until), the total last."""
    return quality(await reads.execution_records(since, until, strategy))


def quality_json(groups: list[GroupQuality]) -> list[dict[str, Any]]:
    """The groups as plain data: hops in seconds (rounded to the millisecond), slippage in
    basis points (to the hundredth, as text: an exact decimal)."""
    out = []
    for g in groups:
        strategy, market, broker = g.key
        out.append(
            {
                "strategy": strategy,
                "market": market,
                "broker": broker,
                "orders": g.orders,
                "filled": g.filled,
                "hops_s": {
                    hop.value: None
                    if spread is None
                    else {
                        "count": spread.count,
                        "p50": round(spread.p50, 3),
                        "p95": round(spread.p95, 3),
                        "p99": round(spread.p99, 3),
                    }
                    for hop, spread in g.hops.items()
                },
                "slippage_bps": None
                if g.slippage_bps is None
                else {
                    "count": g.slippage_bps.count,
                    "p50": str(quantize_bps(g.slippage_bps.p50)),
                    "p95": str(quantize_bps(g.slippage_bps.p95)),
                    "p99": str(quantize_bps(g.slippage_bps.p99)),
                },
            }
        )
    return out
